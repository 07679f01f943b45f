"""The Dockerfile builds what compose and the chart expect: lint it, since no container engine runs here."""

from __future__ import annotations

import fnmatch
import http.server
import json
import os
import re
import shlex
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

from gateway.settings import Settings

Instruction = dict[str, str]
COMPILERS = re.compile(r"\b(build-essential|gcc|g\+\+|clang|make|cmake|cc|rustc|cargo|python3-dev|libc6-dev)\b")


@pytest.fixture(scope="module")
def stages(repo_root: Path) -> list[list[Instruction]]:
    """The Dockerfile's instructions split into build stages (each starting at its FROM)."""
    parsed = DockerfileParser(str(repo_root / "Dockerfile")).structure
    result: list[list[Instruction]] = []
    for item in parsed:
        if item["instruction"] == "FROM":
            result.append([])
        if result and item["instruction"] != "COMMENT":
            result[-1].append(item)
    return result


@pytest.fixture(scope="module")
def final(stages: list[list[Instruction]]) -> list[Instruction]:
    """The stage that becomes the image."""
    return stages[-1]


def _values(stage: list[Instruction], instruction: str) -> list[str]:
    return [item["value"] for item in stage if item["instruction"] == instruction]


def _env(stage: list[Instruction]) -> dict[str, str]:
    env: dict[str, str] = {}
    for value in _values(stage, "ENV"):
        for pair in shlex.split(value):
            key, _, val = pair.partition("=")
            env[key] = val
    return env


def _copies(stages: list[list[Instruction]]) -> list[tuple[list[str], str]]:
    """(sources, destination) of every COPY/ADD from the build context (not --from another stage)."""
    found = []
    for stage in stages:
        for item in stage:
            if item["instruction"] in {"COPY", "ADD"}:
                words = [w for w in shlex.split(item["value"]) if not w.startswith("--")]
                if not any(w.startswith("--from") for w in shlex.split(item["value"])):
                    found.append((words[:-1], words[-1]))
    return found


def _dockerignore(repo_root: Path) -> list[str]:
    lines = (repo_root / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: a path is left out when it or any parent directory matches a pattern."""
    parts = path.strip("/").split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        bare = pattern.rstrip("/")
        for prefix in prefixes:
            if fnmatch.fnmatchcase(prefix, bare):
                return True
            if bare.startswith("**/") and fnmatch.fnmatchcase(prefix.split("/")[-1], bare[3:]):
                return True
    return False


def test_multi_stage_on_slim_python_311(stages: list[list[Instruction]], repo_root: Path) -> None:
    """A builder stage compiles wheels; the image stage starts again from slim Python 3.11."""
    assert len(stages) >= 2
    text = (repo_root / "Dockerfile").read_text()
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, flags=re.MULTILINE)
    assert base and re.fullmatch(r"python:3\.11-slim(-\w+)?", base.group(1))
    for stage in stages:
        assert stage[0]["value"].split()[0] == "${PYTHON_IMAGE}"
    assert "pip wheel" in " ".join(_values(stages[0], "RUN"))


def test_final_stage_has_no_build_tools(final: list[Instruction]) -> None:
    """Nothing in the image stage installs a compiler or toolchain; wheels arrive prebuilt."""
    for command in _values(final, "RUN"):
        assert not COMPILERS.search(command), command
    assert "--no-index" in " ".join(_values(final, "RUN"))


def test_runs_as_a_numeric_non_root_user(final: list[Instruction]) -> None:
    """USER is a numeric UID (so Kubernetes runAsNonRoot can verify it) and not 0; it matches the chart."""
    (user,) = _values(final, "USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0 and (not gid or gid.isdigit())
    assert int(uid) == 10001  # helm values podSecurityContext.runAsUser


def test_exposes_the_default_port(final: list[Instruction]) -> None:
    """EXPOSE, the CMD's --port and the gateway's default port agree."""
    assert _values(final, "EXPOSE") == [str(Settings.model_fields["port"].default)]
    cmd = json.loads(_values(final, "CMD")[0])
    assert cmd == ["serve", "--host", "0.0.0.0", "--port", _values(final, "EXPOSE")[0]]


def test_entrypoint_is_the_console_script(final: list[Instruction], repo_root: Path) -> None:
    """ENTRYPOINT runs the `voice-gateway` script that `pip install .` puts on PATH."""
    scripts = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]["scripts"]
    assert json.loads(_values(final, "ENTRYPOINT")[0]) == ["voice-gateway"]
    assert "voice-gateway" in scripts


def test_environment_points_at_the_mounted_data(final: list[Instruction], repo_root: Path) -> None:
    """Config and policies live at /app (compose and the chart mount there); every variable is a setting."""
    env = _env(final)
    assert env["VOICE_GATEWAY_CONFIG_DIR"] == "/app/config"
    assert env["VOICE_GATEWAY_POLICY_FILES"] == "/app/policies/default.yaml"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert _values(final, "WORKDIR") == ["/app"]
    fields = {f"VOICE_GATEWAY_{name.upper()}" for name in Settings.model_fields}
    assert {k for k in env if k.startswith("VOICE_GATEWAY_")} <= fields
    assert (repo_root / "policies" / "default.yaml").is_file()


def test_data_directories_are_copied_to_app(stages: list[list[Instruction]]) -> None:
    """config/ and policies/ land at /app/config and /app/policies, so the image runs without mounts."""
    copies = {tuple(src): dest for src, dest in _copies(stages[-1:])}
    assert copies[("config/",)].rstrip("/") == "/app/config"
    assert copies[("policies/",)].rstrip("/") == "/app/policies"


def test_every_copy_source_exists_and_is_in_the_context(stages: list[list[Instruction]], repo_root: Path) -> None:
    """Each COPY source exists in the repo and none of its files is excluded by .dockerignore."""
    patterns = _dockerignore(repo_root)
    for sources, _dest in _copies(stages):
        for source in sources:
            path = repo_root / source
            assert path.exists(), f"COPY source {source} missing from the repository"
            assert not _ignored(source, patterns), f"{source} is excluded by .dockerignore"
            data = {".py", ".lua", ".yaml", ".json", ".toml"}
            files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file() and p.suffix in data]
            wanted = files
            assert wanted, f"COPY source {source} has no files"
            for file in wanted:
                rel = file.relative_to(repo_root).as_posix()
                assert not _ignored(rel, patterns), f"{rel} would be missing from the build context"


def test_dockerignore_keeps_secrets_and_local_state_out(repo_root: Path) -> None:
    """.env files, virtualenvs, VCS data and caches never reach the build context."""
    patterns = _dockerignore(repo_root)
    for path in (".env", ".env.production", ".venv/bin/python", ".git/config", "gateway/__pycache__/x.pyc", "tests/x.py"):
        assert _ignored(path, patterns), path
    assert not _ignored("gateway/store/lua/admit.lua", patterns)


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        """Keep test output quiet."""


@pytest.fixture()
def health_server() -> Iterator[tuple[int, type[_Health]]]:
    """A loopback HTTP server whose /healthz status the test sets."""
    handler = type("Handler", (_Health,), {"status": 200})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], handler
    server.shutdown()
    server.server_close()


def _run_healthcheck(final: list[Instruction], port: int) -> int:
    (value,) = _values(final, "HEALTHCHECK")
    command = value.split(" CMD ", 1)[1].strip()
    env = {**os.environ, "VOICE_GATEWAY_PORT": str(port), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    return subprocess.run(["sh", "-c", command], env=env, capture_output=True, timeout=20).returncode


def test_healthcheck_passes_only_when_healthz_answers_ok(final: list[Instruction], health_server) -> None:
    """The HEALTHCHECK one-liner exits 0 on a 200 from /healthz and non-zero on 503 or no listener."""
    port, handler = health_server
    assert _run_healthcheck(final, port) == 0
    handler.status = 503
    assert _run_healthcheck(final, port) != 0
    with __import__("socket").socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    assert _run_healthcheck(final, closed_port) != 0
