"""Barge-in in a real headless Chromium over the gateway's terminating WebRTC bridge (scenario ``barge_in``).

The gateway plays the answer into the call and knows what was heard: the truncation must equal
the audio the page's peer connection received between the bridge's ``output_audio_buffer.started``
and ``.cleared`` (its own getStats counters) within 40 ms, plus that page-side measure's own
uncertainty (getStats samples asynchronously; on a loaded host the two samples lag the events by
different amounts while audio keeps arriving). Talk-over is the gateway's own histogram.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.browser import run_browser_scenarios

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
GRACE_MS = 150
HEARD_TOLERANCE_MS = 40


@pytest.fixture(scope="module")
def barge_in(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The three page behaviours, once, inside a fresh network namespace."""
    observed = run_browser_scenarios(tmp_path_factory.mktemp("webrtc-barge-in"), ["barge_in"], timeout=280)
    runs: dict[str, Any] = observed["barge_in"]
    return runs


def _types(run: dict[str, Any]) -> list[str]:
    return [e["type"] for e in run["seen"]]


def _heard(run: dict[str, Any]) -> tuple[int, float, float]:
    """The truncation, what the page received of the cut answer — the audio packets its peer connection got from the
    network (getStats: RTP packets × 20 ms) between the bridge's output_audio_buffer.started and .cleared —
    and that measure's own uncertainty (getStats samples asynchronously: the difference of its two sampling lags)."""
    seen = run["seen"]
    at = next(i for i, e in enumerate(seen) if e["type"] == "conversation.item.truncated")
    cleared = next(e for e in seen[:at] if e["type"] == "output_audio_buffer.cleared")["received"]
    started = [e for e in seen[:at] if e["type"] == "output_audio_buffer.started"][-1]["received"]
    return int(seen[at]["audio_end_ms"]), cleared["ms"] - started["ms"], abs(cleared["lag"] - started["lag"])


def test_forgetful_page_is_cut_at_what_it_received(barge_in: dict[str, Any]) -> None:
    """The page does nothing: the bridge cuts on speech_started, truncates within 40 ms of what the page received,
    no error; the gateway measured one interruption it stopped, within the grace period."""
    run = barge_in["forgetful"]
    assert run["reached"], run
    end, heard, uncertainty = _heard(run)
    assert abs(end - heard) <= HEARD_TOLERANCE_MS + uncertainty, (end, heard, uncertainty)
    assert _types(run).count("conversation.item.truncated") == 1 and run["errors"] == []
    measured = run["gateway_measured"]
    assert list(measured) == ["gateway"] and measured["gateway"]["n"] == 1, measured
    assert measured["gateway"]["mean_ms"] <= GRACE_MS + 20, measured
    print("browser barge-in:", json.dumps({"truncated_ms": end, "page_received_ms": round(heard),
                                           "getstats_uncertainty_ms": round(uncertainty), "gateway": measured}))


def test_correct_page_is_left_alone(barge_in: dict[str, Any]) -> None:
    """Without interrupt_response, the page cancels and clears on speech_started: no gateway.barge_in, its own cancel
    ends the response, one truncation (the bridge's, at what it played), no error."""
    run = barge_in["correct"]
    assert run["reached"], run
    types = _types(run)
    assert "gateway.barge_in" not in types and run["errors"] == []
    assert types.count("conversation.item.truncated") == 1
    end, heard, uncertainty = _heard(run)
    assert abs(end - heard) <= HEARD_TOLERANCE_MS + uncertainty, (end, heard, uncertainty)
    assert any(e["type"] == "response.done" and e.get("status") == "cancelled" for e in run["seen"])


def test_late_page_gets_no_error(barge_in: dict[str, Any]) -> None:
    """Without interrupt_response, the page cancels and clears 500 ms late: the gateway had cancelled and said so
    (gateway.barge_in once); the late cancel is dropped, no error, one truncation."""
    run = barge_in["late"]
    assert run["reached"], run
    types = _types(run)
    assert run["errors"] == [] and "error" not in types
    assert types.count("gateway.barge_in") == 1 and types.count("conversation.item.truncated") == 1
    [notice] = [e for e in run["seen"] if e["type"] == "gateway.barge_in"]
    assert notice["sent"] == ["response.cancel"]
    end, heard, uncertainty = _heard(run)
    assert abs(end - heard) <= HEARD_TOLERANCE_MS + uncertainty, (end, heard, uncertainty)
