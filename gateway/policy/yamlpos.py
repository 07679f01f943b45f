"""YAML with positions: parse once into a node tree, then map a validation location back to line and column."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

Loc = Sequence[int | str]


@dataclass(frozen=True, slots=True)
class Position:
    """1-based line and column."""

    line: int
    column: int


@dataclass(frozen=True, slots=True)
class ParsedYaml:
    """The node tree (``None`` for an empty document) and the plain data built from it."""

    root: Node | None
    data: object


class YamlProblem(ValueError):
    """The text is not valid YAML (or repeats a mapping key); carries where."""

    def __init__(self, message: str, position: Position) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


def _position(node: Node) -> Position:
    return Position(node.start_mark.line + 1, node.start_mark.column + 1)


def _check_duplicate_keys(node: Node) -> None:
    """PyYAML silently keeps the last of two equal keys; a policy must not."""
    if isinstance(node, MappingNode):
        seen: dict[str, Node] = {}
        for key, value in node.value:
            if isinstance(key, ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                first = seen.get(key.value)
                if first is not None:
                    line = first.start_mark.line + 1
                    raise YamlProblem(f"duplicate key '{key.value}' (first defined on line {line})", _position(key))
                seen[key.value] = key
            _check_duplicate_keys(value)
    elif isinstance(node, SequenceNode):
        for item in node.value:
            _check_duplicate_keys(item)


def parse_yaml(text: str) -> ParsedYaml:
    """Parse one YAML document keeping node marks; raise ``YamlProblem`` with the position on bad input."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return ParsedYaml(None, None)
        _check_duplicate_keys(root)
        return ParsedYaml(root, loader.construct_document(root))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Position(mark.line + 1, mark.column + 1) if mark is not None else Position(1, 1)
        message = " ".join(part for part in (exc.context, exc.problem) if part) or "invalid YAML"
        raise YamlProblem(f"invalid YAML: {message}", where) from exc
    except yaml.YAMLError as exc:
        raise YamlProblem(f"invalid YAML: {exc}", Position(1, 1)) from exc
    finally:
        loader.dispose()


def _mapping_entry(node: MappingNode, key: str) -> tuple[Node, Node] | None:
    for key_node, value_node in node.value:
        if isinstance(key_node, ScalarNode) and key_node.value == key:
            return key_node, value_node
    return None


def locate(root: Node | None, loc: Loc, *, at_key: bool = False, missing: bool = False) -> tuple[Position, str]:
    """Position and dotted path of a validation location; ``at_key`` points at the key, not its value.

    Location parts that are not in the document (union tags, a missing key) are skipped, so a missing
    key reports the mapping that lacks it; ``missing`` keeps the absent last key in the path.
    """
    if root is None:
        return Position(1, 1), ".".join(str(p) for p in loc)
    node, where = root, root
    path: list[str] = []
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        if isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = where = node.value[part]
            path.append(f"[{part}]")
            continue
        if isinstance(node, MappingNode) and isinstance(part, str):
            entry = _mapping_entry(node, part)
            if entry is not None:
                key_node, node = entry
                where = key_node if (last and at_key) else node
                path.append(f".{part}" if path else part)
                continue
            if last and missing:
                path.append(f".{part}" if path else part)
    return _position(where), "".join(path)
