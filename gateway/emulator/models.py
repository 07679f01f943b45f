"""Which model names each endpoint accepts, and the dated snapshot names reported on request.

The snapshot dates are invented for realism (``emu_snapshot=1``); only gpt-realtime-2's date
matches its published release day. Nothing should parse them.
"""

from __future__ import annotations

from typing import Final

_SNAPSHOTS: Final = {
    "gpt-realtime-2": "gpt-realtime-2-2026-05-07",
    "gpt-realtime-2.1": "gpt-realtime-2.1-2026-07-16",
    "gpt-realtime-2.1-mini": "gpt-realtime-2.1-mini-2026-07-16",
    "gpt-realtime-1.5": "gpt-realtime-1.5-2026-02-23",
    "gpt-realtime-translate": "gpt-realtime-translate-2026-05-07",
}


#: name prefixes of the conversation models in the SDK's realtime model literal (older ones included)
_REALTIME_PREFIXES: Final = ("gpt-realtime", "gpt-4o-realtime-preview", "gpt-4o-mini-realtime-preview", "gpt-audio-")


def realtime_model_ok(model: str) -> bool:
    """``/v1/realtime?model=``: a realtime conversation model, older or newer (not whisper/translate)."""
    return model.startswith(_REALTIME_PREFIXES) and "whisper" not in model and "translate" not in model


def translation_model_ok(model: str) -> bool:
    """``/v1/realtime/translations?model=``: the translate family only."""
    return model.startswith("gpt-realtime-translate")


def reported_name(model: str, snapshot: bool) -> str:
    """The name ``session.created`` reports: the request's, or a dated snapshot when scripted."""
    return _SNAPSHOTS.get(model, model) if snapshot else model
