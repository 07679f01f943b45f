"""Which language a piece of text is in: the "language differs" handoff trigger (issue #18).

Built on py3langid (a maintained fork of langid.py: naive Bayes over byte n-grams, ~100 languages,
deterministic, a 4.6 MB model shipped in the wheel; numpy). Short utterances are unreliable, so
:func:`detect_language` answers ``None`` below :data:`MIN_LETTERS` letters or when the best
candidate's probability (renormalised over the candidate languages) is below
:data:`MIN_CONFIDENCE`; a trigger should still want the same answer on more than one utterance.

Restricting the candidates (:data:`DEFAULT_LANGUAGES`, or the caller's own set) matters: over every
language the model knows, close relatives (es/gl, fr/oc, id/ms) split the probability. Pure (text
in, code out), but the model loads once, about a second: call :func:`warm` at start-up, off the
event loop, so the first detection on a live session does not pay for it.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from py3langid.langid import LanguageIdentifier

#: fewer letters than this (after ignoring digits, spaces and punctuation) → no answer
MIN_LETTERS: Final = 10
#: a best-candidate probability below this → no answer
MIN_CONFIDENCE: Final = 0.8
#: the candidates unless the caller names others: the translation models' output languages and
#: other widely spoken ones (ISO 639-1 codes, as the transcription ``language`` field uses)
DEFAULT_LANGUAGES: Final = frozenset({
    "en", "es", "pt", "fr", "ja", "ru", "zh", "de", "ko", "hi", "id", "vi", "it",
    "nl", "pl", "tr", "ar", "uk", "sv", "th",
})

_lock = threading.Lock()
_model: list["LanguageIdentifier"] = []


def warm() -> None:
    """Load the model now (idempotent, thread-safe)."""
    _identifier()


def _identifier() -> LanguageIdentifier:
    with _lock:
        if not _model:
            # imported here: numpy and the model cost nothing to a process that never detects a language
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            _model.append(LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True))
        return _model[0]


def detect_language(
    text: str,
    *,
    languages: Collection[str] | None = DEFAULT_LANGUAGES,
    min_letters: int = MIN_LETTERS,
    min_confidence: float = MIN_CONFIDENCE,
) -> str | None:
    """The ISO 639-1 code of the language ``text`` is in, or ``None`` when too short or not sure enough.

    ``languages`` limits the candidates (``None``: every language the model knows).
    """
    if sum(ch.isalpha() for ch in text) < min_letters:
        return None
    ranked = _identifier().rank(text)
    if languages is not None:
        wanted = set(languages)
        ranked = [(code, p) for code, p in ranked if code in wanted]
    total = sum(p for _, p in ranked)
    if not ranked or total <= 0:
        return None
    code, best = ranked[0]
    return str(code) if best / total >= min_confidence else None


def transcription_language(event: Mapping[str, object], *, detect: Collection[str] | None = None) -> str | None:
    """The language of a completed input transcription, lower-cased: the one the upstream reports (``language``,
    or the first of the ``languages`` gpt-transcribe sends), else, when ``detect`` names the languages that
    matter, detected from the transcript among those and :data:`DEFAULT_LANGUAGES`; ``None`` when unknown."""
    reported = event.get("language")
    if not isinstance(reported, str) or not reported:
        languages = event.get("languages")
        first = languages[0] if isinstance(languages, list) and languages else None
        reported = first.get("code") if isinstance(first, dict) else None
    if isinstance(reported, str) and reported:
        return reported.lower()
    transcript = event.get("transcript")
    if not detect or not isinstance(transcript, str):
        return None
    return detect_language(transcript, languages=DEFAULT_LANGUAGES | set(detect))
