"""The layering of docs/architecture.md holds: every package has its place, imports go downward, each I/O library
has one home, no module imports another's private names, and no import circles."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

#: package → our packages it may import (besides itself and its own subpackages); docs/architecture.md, "Packages"
ALLOWED: dict[str, set[str]] = {
    "gateway.core": set(),
    # bounded waits for every I/O package (asyncio; the core has no event loop)
    "gateway.waiting": set(),
    "routers": {"gateway.core"},
    "gateway.policy": {"gateway.core", "routers", "gateway.tools"},
    "gateway.tools": {"gateway.waiting", "gateway.core"},
    "gateway.relay": {"gateway.waiting", "gateway.core"},
    "gateway.upstream": {"gateway.waiting", "gateway.core"},
    "gateway.accounting": {"gateway.waiting", "gateway.core"},
    "gateway.keys": {"gateway.core"},
    "gateway.directory": {"gateway.waiting", "gateway.core"},
    "gateway.telemetry": {"gateway.core"},
    "gateway.webrtc": {"gateway.waiting", "gateway.core"},
    "gateway.emulator": {"gateway.waiting", "gateway.core", "gateway.webrtc"},
    "gateway.store": {"gateway.waiting", "gateway.core", "gateway.accounting", "gateway.keys", "gateway.directory"},
    "gateway.inbound": {"gateway.waiting", "gateway.core", "gateway.relay", "routers", "gateway.tools", "gateway.webrtc"},
    # the client-facing picows socket shares the upstream one's base (gateway.upstream.picows_socket)
    "gateway.transports": {"gateway.waiting", "gateway.core", "gateway.inbound", "gateway.upstream"},
}

#: the composition root and the command-line entry points: may import anything, imported by no package
COMPOSITION_ROOT = {
    "gateway.app", "gateway.settings", "gateway.cli", "gateway.server", "gateway.adapters", "gateway.startup",
    "gateway.keys.cli", "gateway.policy.cli", "gateway.reports",
}

#: third-party I/O library → the only packages that may import it
HOMES: dict[str, set[str]] = {
    "redis": {"gateway.store"},
    "fakeredis": {"gateway.store"},
    "opentelemetry": {"gateway.telemetry"},
    "prometheus_client": {"gateway.telemetry"},
    "aiortc": {"gateway.webrtc"},
    "mcp": {"gateway.tools"},
    "httpx2": {"gateway.tools"},
    "picows": {"gateway.upstream", "gateway.transports"},
    "uvicorn": {"gateway.transports", "gateway.server", "gateway.emulator"},
}

#: the WebSocket client library: upstream connectors; the emulator is its own server
WEBSOCKETS_HOMES = {"gateway.upstream", "gateway.emulator"}


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _modules() -> list[tuple[str, Path]]:
    return sorted((_module_name(p), p) for top in ("gateway", "routers") for p in (ROOT / top).rglob("*.py"))


MODULES = _modules()
NAMES = {name for name, _ in MODULES}


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _package_of(module: str) -> str | None:
    """The layer a module belongs to; ``None`` for the composition root."""
    if module == "gateway" or any(_within(module, root) for root in COMPOSITION_ROOT):
        return None
    for package in sorted(ALLOWED, key=len, reverse=True):
        if _within(module, package):
            return package
    raise AssertionError(f"{module} is in no layer: add its package to ALLOWED and to docs/architecture.md")


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return isinstance(test, ast.Name) and test.id == "TYPE_CHECKING" or isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _imports(path: Path, *, runtime_top_level: bool = False) -> list[tuple[str, list[str]]]:
    """(module, imported names) per import; with ``runtime_top_level`` only imports run when the module loads."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[str, list[str]]] = []

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.Import):
                found.extend((alias.name, []) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.append((node.module, [alias.name for alias in node.names]))
            elif isinstance(node, ast.If) and runtime_top_level and _is_type_checking(node):
                visit(node.orelse)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) and runtime_top_level:
                continue
            else:
                visit([child for child in ast.iter_child_nodes(node) if isinstance(child, ast.stmt)])

    visit(tree.body)
    return found


def _ours(name: str) -> bool:
    return name.split(".")[0] in ("gateway", "routers")


def test_every_package_has_a_layer() -> None:
    """Each package and top-level module under gateway/ is in a layer or in the composition root (and the doc)."""
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    for child in sorted((ROOT / "gateway").iterdir()):
        if child.name.startswith(("_", ".")) or child.is_dir() and not (child / "__init__.py").exists():
            continue
        module = f"gateway.{child.stem}"
        if child.suffix == ".py" or child.is_dir():
            _package_of(module)
            assert f"`gateway/{child.name}" in doc, f"docs/architecture.md does not place gateway/{child.name}"
    for package in ALLOWED:
        assert package.replace(".", "/") in doc or package == "routers", package


@pytest.mark.parametrize("module,path", MODULES, ids=[m for m, _ in MODULES])
def test_imports_follow_the_layering(module: str, path: Path) -> None:
    """A package imports only the packages below it; nothing but the composition root imports the root."""
    package = _package_of(module)
    if package is None:
        return
    allowed = ALLOWED[package] | {package}
    bad = []
    for name, _ in _imports(path):
        if not _ours(name):
            continue
        if any(_within(name, root) for root in COMPOSITION_ROOT):
            bad.append(name)
        elif not any(_within(name, target) for target in allowed):
            bad.append(name)
    assert not bad, f"{module} imports {sorted(bad)}, outside its layer {sorted(allowed)}"


@pytest.mark.parametrize("module,path", MODULES, ids=[m for m, _ in MODULES])
def test_each_io_library_has_one_home(module: str, path: Path) -> None:
    """redis, opentelemetry, aiortc, picows, uvicorn and the WebSocket client are imported only in their home."""
    for name, _ in _imports(path):
        top = name.split(".")[0]
        homes = HOMES.get(top)
        if homes is not None:
            assert any(_within(module, h) for h in homes), f"{module} imports {top}"
        if top == "websockets":
            assert any(_within(module, h) for h in WEBSOCKETS_HOMES), f"{module} imports websockets"


@pytest.mark.parametrize("module,path", MODULES, ids=[m for m, _ in MODULES])
def test_no_module_imports_another_modules_private_names(module: str, path: Path) -> None:
    """``from gateway.x import _name`` (or a ``_private`` module of another package) is not allowed."""
    bad = []
    for name, names in _imports(path):
        if not _ours(name):
            continue
        if any(part.startswith("_") and not part.startswith("__") for part in name.split(".")):
            bad.append(name)
        bad.extend(f"{name}.{n}" for n in names if n.startswith("_") and not n.startswith("__") and name != module)
    assert not bad, f"{module} imports private names {bad}"


def _target(name: str, imported: str) -> str:
    """``from a.b import c``: the module ``a.b.c`` when it is one, else ``a.b``."""
    candidate = f"{name}.{imported}"
    return candidate if candidate in NAMES else name


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in NAMES}
    for module, path in MODULES:
        for name, names in _imports(path, runtime_top_level=True):
            if not _ours(name):
                continue
            targets = {_target(name, n) for n in names} if names else {name}
            graph[module].update(t for t in targets if t in NAMES and t != module)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def test_no_import_circles() -> None:
    """No set of modules imports itself in a circle when they load (``if TYPE_CHECKING`` imports excepted)."""
    assert _cycles(_graph()) == []


def test_the_circle_finder_finds_a_circle() -> None:
    """The check above can fail: a two-module circle and a three-module circle are reported."""
    graph = {"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"e"}, "e": {"c"}, "f": {"a"}}
    assert _cycles(graph) == [["a", "b"], ["c", "d", "e"]]
