"""The package layering of ARCHITECTURE.md holds: imports go downward, each I/O library has one home."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

#: package → our packages it may import (besides itself)
ALLOWED: dict[str, set[str]] = {
    "gateway.core": set(),
    "routers": {"gateway.core"},
    "gateway.policy": {"gateway.core", "routers", "gateway.tools"},
    "gateway.tools": {"gateway.core"},
    "gateway.relay": {"gateway.core"},
    "gateway.upstream": {"gateway.core"},
    "gateway.accounting": {"gateway.core"},
    "gateway.keys": {"gateway.core"},
    "gateway.directory": {"gateway.core"},
    "gateway.store": {"gateway.core", "gateway.accounting", "gateway.keys", "gateway.directory"},
    "gateway.telemetry": {"gateway.core"},
    "gateway.webrtc": {"gateway.core"},
    "gateway.emulator": {"gateway.core", "gateway.webrtc"},
    "gateway.inbound": {"gateway.core", "gateway.relay", "routers", "gateway.policy", "gateway.upstream", "gateway.webrtc", "gateway.keys", "gateway.tools"},
    "gateway.transports": {"gateway.core", "gateway.inbound"},
}

#: entry points that belong to the composition root although they sit in a package
ENTRY_POINTS = {"gateway.keys.cli", "gateway.keys.wiring"}

#: third-party I/O library → the only packages that may import it
HOMES: dict[str, set[str]] = {
    "redis": {"gateway.store"},
    "fakeredis": {"gateway.store"},
    "opentelemetry": {"gateway.telemetry"},
    "prometheus_client": {"gateway.telemetry"},
    "aiortc": {"gateway.webrtc"},
    "mcp": {"gateway.tools"},
    "httpx2": {"gateway.tools"},
    "picows": {"gateway.upstream", "gateway.transports.picows"},
}

#: the WebSocket client library: upstream connectors; the emulator is its own server
WEBSOCKETS_HOMES = {"gateway.upstream", "gateway.emulator"}


def _modules() -> list[tuple[str, Path]]:
    found = []
    for top in ("gateway", "routers"):
        for path in (ROOT / top).rglob("*.py"):
            rel = path.relative_to(ROOT).with_suffix("")
            found.append((".".join(rel.parts).removesuffix(".__init__"), path))
    return found


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _package_of(module: str) -> str | None:
    if module in ENTRY_POINTS:
        return None
    for package in sorted(ALLOWED, key=len, reverse=True):
        if module == package or module.startswith(package + "."):
            return package
    return None


def _ours(name: str) -> str | None:
    return _package_of(name) if name.startswith(("gateway.", "routers")) else None


MODULES = _modules()


@pytest.mark.parametrize("module,path", MODULES, ids=[m for m, _ in MODULES])
def test_imports_follow_the_layering(module: str, path: Path) -> None:
    """A package imports only the packages below it (the composition root may import anything)."""
    package = _package_of(module)
    if package is None:
        return  # gateway.app, settings, cli, server, adapters: the composition root
    allowed = ALLOWED[package] | {package}
    bad = sorted(
        name for name in _imports(path)
        if (target := _ours(name)) is not None and target not in allowed
        or name.startswith("gateway.") and _ours(name) is None and name.split(".")[1] in {"app", "settings", "cli", "server", "adapters"}
    )
    assert not bad, f"{module} imports {bad}, outside its layer {sorted(allowed)}"


@pytest.mark.parametrize("module,path", MODULES, ids=[m for m, _ in MODULES])
def test_each_io_library_has_one_home(module: str, path: Path) -> None:
    """redis, opentelemetry, aiortc and the WebSocket client are imported only in their home package."""
    if _package_of(module) is None:
        return
    for name in _imports(path):
        top = name.split(".")[0]
        homes = HOMES.get(top)
        if homes is not None:
            assert any(module == h or module.startswith(h + ".") for h in homes), f"{module} imports {top}"
        if top == "websockets":
            assert any(module.startswith(h) for h in WEBSOCKETS_HOMES), f"{module} imports websockets"
