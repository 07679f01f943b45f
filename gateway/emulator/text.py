"""Deterministic words: assistant replies, input transcripts, translations, and token counts.

Everything the emulator "says" is a pure function of a turn number and a duration, so tests
can predict it and benchmarks are repeatable. Speaking rate is 2.5 words per second.
"""

from __future__ import annotations

import math
from typing import Final

WORDS_PER_SECOND: Final = 2.5
_REPLY_WORDS: Final = (
    "sure", "here", "is", "what", "I", "found", "about", "that", "the", "answer", "depends", "on",
    "a", "few", "details", "so", "let", "me", "walk", "you", "through", "it", "step", "by",
)
_USER_WORDS: Final = (
    "could", "you", "please", "tell", "me", "more", "about", "my", "order", "and", "when", "it",
    "will", "arrive", "because", "I", "need", "it", "soon",
)
TRANSLATION_WORDS: Final[dict[str, tuple[str, ...]]] = {
    "en": ("the", "meeting", "starts", "at", "nine", "and", "we", "will", "review", "the", "plan"),
    "es": ("la", "reunión", "empieza", "a", "las", "nueve", "y", "revisaremos", "el", "plan"),
    "pt": ("a", "reunião", "começa", "às", "nove", "e", "vamos", "rever", "o", "plano"),
    "fr": ("la", "réunion", "commence", "à", "neuf", "heures", "et", "nous", "verrons", "le", "plan"),
    "de": ("das", "Treffen", "beginnt", "um", "neun", "und", "wir", "prüfen", "den", "Plan"),
    "it": ("la", "riunione", "inizia", "alle", "nove", "e", "rivedremo", "il", "piano"),
    "ja": ("会議は", "九時に", "始まり", "計画を", "確認します"),
    "zh": ("会议", "九点", "开始", "我们", "会", "审查", "计划"),
    "ko": ("회의는", "아홉", "시에", "시작하고", "계획을", "검토합니다"),
    "ru": ("встреча", "начнётся", "в", "девять", "и", "мы", "обсудим", "план"),
    "hi": ("बैठक", "नौ", "बजे", "शुरू", "होगी", "और", "हम", "योजना", "देखेंगे"),
    "id": ("rapat", "dimulai", "jam", "sembilan", "dan", "kita", "akan", "meninjau", "rencana"),
    "vi": ("cuộc", "họp", "bắt", "đầu", "lúc", "chín", "giờ", "và", "chúng", "ta", "xem", "kế", "hoạch"),
}
#: languages whose words are not separated by spaces
_NO_SPACE: Final = frozenset({"ja", "zh"})


def words_for(duration_ms: int) -> int:
    """How many words fit in ``duration_ms`` of speech (at least one)."""
    return max(1, round(duration_ms / 1000 * WORDS_PER_SECOND))


def _cycle(vocabulary: tuple[str, ...], start: int, count: int) -> list[str]:
    """``count`` words from the vocabulary, cycling from ``start``."""
    return [vocabulary[(start + i) % len(vocabulary)] for i in range(count)]


def reply_text(turn: int, duration_ms: int) -> str:
    """The assistant's reply for response number ``turn`` (1-based) lasting ``duration_ms``."""
    words = _cycle(_REPLY_WORDS, turn * 7, words_for(duration_ms) - 3)
    return " ".join(["Reply", "number", f"{turn}", *words]).strip() + "."


def tool_reply_text(name: str, output: str, duration_ms: int) -> str:
    """What the assistant says after a function result came back."""
    head = f"The {name} tool returned {output[:60]}"
    filler = _cycle(_REPLY_WORDS, len(name), max(0, words_for(duration_ms) - len(head.split())))
    return " ".join([head, *filler]) + "."


def transcript_text(turn: int, duration_ms: int) -> str:
    """What the emulated ASR 'heard' in the ``turn``-th user utterance."""
    words = _cycle(_USER_WORDS, turn * 5, words_for(duration_ms))
    return (" ".join(words).capitalize()) + "."


def translation_word(language: str, index: int) -> str:
    """The ``index``-th word of the endless emulated translation into ``language``, with spacing."""
    vocabulary = TRANSLATION_WORDS.get(language, TRANSLATION_WORDS["en"])
    word = vocabulary[index % len(vocabulary)]
    return word if language in _NO_SPACE or index == 0 else " " + word


def split_deltas(text: str, parts: int) -> list[str]:
    """Split ``text`` at word boundaries into ``parts`` append-only deltas (some may be empty)."""
    tokens = [w if i == 0 else " " + w for i, w in enumerate(text.split(" "))]
    parts = max(1, parts)
    out = ["" for _ in range(parts)]
    for i, token in enumerate(tokens):
        out[i * parts // len(tokens)] += token
    return out


def text_tokens(text: str) -> int:
    """Deterministic token estimate for text: one token per four characters, rounded up."""
    return math.ceil(len(text) / 4)


def input_audio_tokens(duration_ms: int) -> int:
    """User audio tokens: one per 100 ms (OpenAI's published rate)."""
    return math.ceil(duration_ms / 100)


def output_audio_tokens(duration_ms: int) -> int:
    """Assistant audio tokens: one per 50 ms (OpenAI's published rate)."""
    return math.ceil(duration_ms / 50)
