"""Script knobs from query parameters and headers."""

from __future__ import annotations

import pytest

from gateway.emulator.script import Script, ScriptError, knobs_from_request


def test_query_beats_header_beats_default() -> None:
    """emu_* query parameters override X-Emulator-* headers, which override server defaults."""
    raw = knobs_from_request({"emu_ttfa_ms": "5", "model": "m"}, {"X-Emulator-Ttfa-Ms": "9", "X-Emulator-Pace": "0"})
    script = Script(reply_ms=700).with_overrides(raw)
    assert (script.ttfa_ms, script.pace, script.reply_ms) == (5, False, 700)


@pytest.mark.parametrize("raw", [{"fault": "explode"}, {"ttfa_ms": "soon"}, {"nope": "1"}, {"pace": "maybe"},
                                 {"chunk_ms": "1"}])
def test_bad_knobs_are_rejected(raw: dict[str, str]) -> None:
    """Unknown knobs and unparsable values raise ScriptError (HTTP 400 at the shell)."""
    with pytest.raises(ScriptError):
        Script().with_overrides(raw)
