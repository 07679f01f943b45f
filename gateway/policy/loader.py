"""Policy files → one validated, compiled, cross-checked policy; every problem reported as ``file:line:col: message``."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Sequence

from pydantic import ValidationError

from gateway.core.catalog import Catalog
from gateway.policy.compile import CompiledFile, FileCompiler, Loc, is_catch_all
from gateway.policy.handoff import NamedRoute, check_targets, routes_by_name
from gateway.policy.models import PolicyFile
from gateway.policy.yamlpos import ParsedYaml, Position, YamlProblem, locate, parse_yaml
from routers.compiled import DEFAULT_DENY_REASON, CompiledPolicy, CompiledRule, Denial, Outcome, index_models


class PolicyError(ValueError):
    """The policy cannot be used; ``problems`` lists each as ``file:line:col: message``."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True, slots=True)
class PolicySource:
    """One policy file's name and text, as read at one moment."""

    name: str
    text: str


def _format(name: str, position: Position, path: str, message: str) -> str:
    where = f"{name}:{position.line}:{position.column}"
    return f"{where}: {path}: {message}" if path else f"{where}: {message}"


def _pydantic_problems(name: str, parsed: ParsedYaml, error: ValidationError) -> list[tuple[Position, str]]:
    found: list[tuple[Position, str]] = []
    for item in error.errors(include_url=False):
        loc = tuple(item["loc"])
        kind = item["type"]
        position, path = locate(parsed.root, loc, at_key=kind == "extra_forbidden", missing=kind == "missing")
        if kind == "extra_forbidden":
            message = f"unknown field '{loc[-1]}'"
        elif kind == "missing":
            message = f"missing required field '{loc[-1]}'"
        else:
            message = str(item["msg"]).removeprefix("Value error, ")
        found.append((position, _format(name, position, path, message)))
    return found


class _Builder:
    """Validates and compiles each source, then merges them; problems accumulate across files."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.problems: list[tuple[str, Position, str]] = []
        self.roots: dict[str, ParsedYaml] = {}
        #: every route written, with the file that writes it
        self.route_files: list[tuple[NamedRoute, str]] = []

    def problem(self, name: str, loc: Loc, message: str, *, at_key: bool = False) -> None:
        position, path = locate(self.roots[name].root, loc, at_key=at_key)
        self.problems.append((name, position, _format(name, position, path, message)))

    def compile_source(self, source: PolicySource) -> CompiledFile | None:
        name = source.name
        try:
            parsed = parse_yaml(source.text)
        except YamlProblem as exc:
            self.problems.append((name, exc.position, _format(name, exc.position, "", exc.message)))
            return None
        self.roots[name] = parsed
        if parsed.root is None:
            self.problems.append((name, Position(1, 1), _format(name, Position(1, 1), "", "the policy file is empty")))
            return None
        try:
            model = PolicyFile.model_validate(parsed.data)
        except ValidationError as exc:
            self.problems.extend((name, pos, text) for pos, text in _pydantic_problems(name, parsed, exc))
            return None
        compiler = FileCompiler(self.catalog, name)
        lines: dict[Loc, int] = {("rules", i): locate(parsed.root, ("rules", i))[0].line for i in range(len(model.rules))}
        compiled = compiler.compile(model, lines)
        for problem in compiler.problems:
            self.problem(name, problem.loc, problem.message)
        return compiled

    def merge(self, files: list[tuple[str, CompiledFile]]) -> tuple[list[CompiledRule], CompiledFile]:
        """Concatenate rules in file order; check ids, reachability and that defaults are set once."""
        rules: list[CompiledRule] = []
        seen: dict[str, str] = {}
        catch_all: CompiledRule | None = None
        merged = CompiledFile()
        for name, part in files:
            for rule, loc in part.rules:
                if rule.id in seen:
                    self.problem(name, (*loc, "id"), f"duplicate rule id '{rule.id}' (first defined at {seen[rule.id]})")
                elif catch_all is not None:
                    self.problem(name, loc, f"rule '{rule.id}' is unreachable: rule '{catch_all.id}' ({catch_all.source}) matches every session")
                seen.setdefault(rule.id, rule.source)
                rules.append(rule)
                if catch_all is None and is_catch_all(rule.condition):
                    catch_all = rule
            self._merge_defaults(name, part, merged)
            self.route_files.extend((route, name) for route in part.routes)
            for asked, (served, loc) in part.model_map.items():
                if asked in merged.model_map:
                    self.problem(name, loc, f"model_map entry '{asked}' is already set by another file", at_key=True)
                merged.model_map.setdefault(asked, (served, loc))
        return rules, merged

    def _merge_defaults(self, name: str, part: CompiledFile, merged: CompiledFile) -> None:
        for kind, (target, loc) in part.by_kind.items():
            if kind in merged.by_kind:
                self.problem(name, loc, f"default route for kind '{kind.value}' is already set by another file", at_key=True)
            merged.by_kind.setdefault(kind, (target, loc))
        for endpoint, (target, loc) in part.by_endpoint.items():
            if endpoint in merged.by_endpoint:
                self.problem(name, loc, f"default route for endpoint '{endpoint.value}' is already set by another file", at_key=True)
            merged.by_endpoint.setdefault(endpoint, (target, loc))
        if part.otherwise is not None:
            if merged.otherwise is not None:
                self.problem(name, part.otherwise[1], "defaults.otherwise is already set by another file", at_key=True)
            else:
                merged.otherwise = part.otherwise


def policy_version(sources: Sequence[PolicySource]) -> str:
    """Content hash of the policy files (names and texts, in order)."""
    digest = hashlib.sha256()
    for source in sources:
        digest.update(source.name.encode())
        digest.update(b"\0")
        digest.update(source.text.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def compile_sources(sources: Sequence[PolicySource], catalog: Catalog) -> CompiledPolicy:
    """Validate, compile and cross-check policy texts; raise ``PolicyError`` listing every problem."""
    if not sources:
        raise PolicyError(["<policy>:1:1: no policy files given"])
    builder = _Builder(catalog)
    files = [(s.name, part) for s in sources if (part := builder.compile_source(s)) is not None]
    rules, merged = builder.merge(files)
    named = [route for route, _ in builder.route_files]
    for route, file_name in builder.route_files:

        def problem(loc: Loc, message: str, file_name: str = file_name) -> None:
            builder.problem(file_name, loc, message)

        check_targets([route], problem, known=named)
    if builder.problems:
        order = {s.name: i for i, s in enumerate(sources)}
        ordered = sorted(builder.problems, key=lambda p: (order.get(p[0], 0), p[1].line, p[1].column))
        raise PolicyError([text for _, _, text in ordered])
    otherwise: Outcome = merged.otherwise[0] if merged.otherwise is not None else Denial(DEFAULT_DENY_REASON)
    return CompiledPolicy(
        version=policy_version(sources),
        rules=tuple(rules),
        catalog=catalog,
        by_kind=MappingProxyType({k: t for k, (t, _) in merged.by_kind.items()}),
        by_endpoint=MappingProxyType({k: t for k, (t, _) in merged.by_endpoint.items()}),
        otherwise=otherwise,
        model_index=MappingProxyType(index_models(catalog)),
        model_map=MappingProxyType({asked: served for asked, (served, _) in merged.model_map.items()}),
        files=tuple(s.name for s in sources),
        routes=MappingProxyType(routes_by_name(named)),
    )


def read_sources(paths: Sequence[Path | str]) -> list[PolicySource]:
    """Read every file now; an unreadable or vanished file is a ``PolicyError`` naming it."""
    sources: list[PolicySource] = []
    problems: list[str] = []
    for path in paths:
        try:
            sources.append(PolicySource(str(path), Path(path).read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            problems.append(f"{path}:1:1: cannot read policy file: {reason}")
    if problems:
        raise PolicyError(problems)
    return sources


def load_policy_files(paths: Sequence[Path | str], catalog: Catalog) -> CompiledPolicy:
    """Read, validate and compile policy files (rules in file order) against the model catalog."""
    return compile_sources(read_sources(paths), catalog)
