"""Hot reload: atomic swap, keep-last-good, vanished files, status, listeners and the watcher."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from gateway.core.catalog import Catalog
from gateway.core.routing import SessionRequest
from gateway.core.kinds import EndpointKind
from gateway.policy.holder import PolicyHolder, ReloadEvent
from gateway.policy.loader import PolicyError
from routers import decide

GOOD_A = "version: 1\nrules:\n  - id: a\n    route: {model: gpt-realtime-2}\n"
GOOD_B = "version: 1\nrules:\n  - id: b\n    route: {model: gpt-realtime-2.1-mini}\n"
BAD = "version: 1\nrules:\n  - id: b\n    route: {model: gpt-9}\n"
REQUEST = SessionRequest(endpoint=EndpointKind.REALTIME, path="/v1/realtime")


def write(path: Path, text: str, mtime_ns: int | None = None) -> None:
    path.write_text(text, encoding="utf-8")
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    write(path, GOOD_A, 1_000_000_000)
    return path


def test_initial_load_and_status(policy_file: Path, catalog: Catalog) -> None:
    """A new holder serves the file's policy and reports version, files and load time."""
    holder = PolicyHolder([policy_file], catalog, now=100.0)
    status = holder.status()
    assert decide(holder.current, REQUEST).rule_id == "a"
    assert (status.version, status.loaded_at, status.files) == (holder.current.version, 100.0, (str(policy_file),))
    assert (status.reloads, status.failures, status.last_error, status.last_error_at) == (0, 0, None, None)


def test_bad_policy_at_start_raises(tmp_path: Path, catalog: Catalog) -> None:
    """With no good policy to keep, start-up fails with the problems."""
    path = tmp_path / "p.yaml"
    write(path, BAD)
    with pytest.raises(PolicyError, match=r"p.yaml:4:20: rules\[0\].route.model: unknown model 'gpt-9'"):
        PolicyHolder([path], catalog)


def test_reload_swaps_and_old_routes_stay_valid(policy_file: Path, catalog: Catalog) -> None:
    """A good edit swaps the compiled policy whole; a route handed out before keeps its values."""
    holder = PolicyHolder([policy_file], catalog, now=1.0)
    old_policy = holder.current
    old_route = decide(old_policy, REQUEST).route
    write(policy_file, GOOD_B)
    assert holder.reload(2.0) is True
    assert holder.current is not old_policy and decide(holder.current, REQUEST).rule_id == "b"
    assert old_route is not None and old_route.model == "gpt-realtime-2"
    assert decide(old_policy, REQUEST).rule_id == "a"
    assert holder.status().reloads == 1 and holder.status().loaded_at == 2.0


def test_bad_reload_keeps_last_good(policy_file: Path, catalog: Catalog) -> None:
    """A broken edit is rejected: the old policy stays, the error and its time are kept."""
    holder = PolicyHolder([policy_file], catalog, now=1.0)
    good = holder.current
    write(policy_file, BAD)
    assert holder.reload(5.0) is False
    status = holder.status()
    assert holder.current is good
    assert status.failures == 1 and status.last_error_at == 5.0
    assert status.last_error is not None and "unknown model 'gpt-9'" in status.last_error
    write(policy_file, GOOD_B)
    assert holder.reload(6.0) is True
    assert holder.status().last_error is None and holder.status().last_error_at == 5.0


def test_vanished_file_keeps_old_policy(policy_file: Path, catalog: Catalog) -> None:
    """A file that disappears before a reload is an error naming it; the old policy stays."""
    holder = PolicyHolder([policy_file], catalog)
    good = holder.current
    policy_file.unlink()
    assert holder.reload(3.0) is False
    assert holder.current is good
    assert holder.status().last_error == f"{policy_file}:1:1: cannot read policy file: No such file or directory"


def test_listeners_hear_each_reload_and_cannot_break_it(policy_file: Path, catalog: Catalog) -> None:
    """Listeners get ok/failed events with versions; a raising listener does not stop the reload."""
    holder = PolicyHolder([policy_file], catalog)
    events: list[ReloadEvent] = []

    def broken(event: ReloadEvent) -> None:
        raise RuntimeError("telemetry down")

    holder.add_listener(broken)
    holder.add_listener(events.append)
    first = holder.current.version
    write(policy_file, GOOD_B)
    assert holder.reload(1.0) is True
    write(policy_file, BAD)
    assert holder.reload(2.0) is False
    assert [(e.ok, e.at, e.previous_version) for e in events] == [(True, 1.0, first), (False, 2.0, holder.current.version)]
    assert events[1].error is not None and "gpt-9" in events[1].error


def test_poll_reloads_only_on_change(policy_file: Path, catalog: Catalog) -> None:
    """Polling does nothing while files are unchanged, skips touched-but-identical files, reloads settled edits."""
    holder = PolicyHolder([policy_file], catalog)
    assert holder.poll(1.0) is None
    write(policy_file, GOOD_A, 2_000_000_000)  # touched, same content
    assert holder.poll(2.0) is None and holder.poll(2.5) is None and holder.status().reloads == 0
    write(policy_file, GOOD_B, 3_000_000_000)
    assert holder.poll(3.0) is None  # just changed: not read yet
    assert holder.poll(3.5) is True and decide(holder.current, REQUEST).rule_id == "b"
    assert holder.poll(4.0) is None


def test_poll_never_reads_a_file_caught_half_written(policy_file: Path, catalog: Catalog) -> None:
    """A file seen truncated by one poll and whole by the next is compiled whole: no failure is reported."""
    holder = PolicyHolder([policy_file], catalog)
    write(policy_file, "", 2_000_000_000)  # the writer truncated it ...
    assert holder.poll(1.0) is None
    write(policy_file, GOOD_B, 2_000_000_001)  # ... and filled it before the next poll
    assert holder.poll(2.0) is None
    assert holder.poll(3.0) is True
    assert holder.status().failures == 0 and decide(holder.current, REQUEST).rule_id == "b"


def test_poll_reports_a_bad_edit_once(policy_file: Path, catalog: Catalog) -> None:
    """A broken file fails one reload once it has settled, not one per poll; fixing it reloads."""
    holder = PolicyHolder([policy_file], catalog)
    write(policy_file, BAD, 2_000_000_000)
    assert holder.poll(1.0) is None
    assert holder.poll(1.5) is False
    assert holder.poll(2.0) is None and holder.status().failures == 1
    write(policy_file, GOOD_B, 3_000_000_000)
    assert holder.poll(3.0) is None and holder.poll(3.5) is True


def test_poll_vanished_file_is_an_error(policy_file: Path, catalog: Catalog) -> None:
    """A file deleted between polls fails the reload (once it stays gone) and keeps the policy."""
    holder = PolicyHolder([policy_file], catalog)
    good = holder.current
    policy_file.unlink()
    assert holder.poll(1.0) is None
    assert holder.poll(2.0) is False
    assert holder.current is good and holder.status().failures == 1


async def test_watch_picks_up_an_edit(policy_file: Path, catalog: Catalog) -> None:
    """The watcher task polls on its interval and swaps in an edited policy."""
    holder = PolicyHolder([policy_file], catalog)
    task = asyncio.create_task(holder.watch(0.01))
    try:
        write(policy_file, GOOD_B, 5_000_000_000)
        for _ in range(200):
            if holder.status().reloads:
                break
            await asyncio.sleep(0.01)
        assert decide(holder.current, REQUEST).rule_id == "b"
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
