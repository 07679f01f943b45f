"""The language detector answers for clear text in its candidate languages and stays silent when unsure."""

from __future__ import annotations

import pytest

from gateway.core.language import DEFAULT_LANGUAGES, MIN_LETTERS, detect_language, transcription_language, warm


@pytest.mark.parametrize("text,code", [
    ("What time does the store open tomorrow", "en"),
    ("My account number is four five six", "en"),
    ("¿Puedes ayudarme con mi pedido?", "es"),
    ("Ich möchte meine Bestellung stornieren", "de"),
    ("Posso parlare con un operatore?", "it"),
    ("Preciso de ajuda com a minha conta", "pt"),
    ("我需要帮助处理我的订单", "zh"),
    ("주문을 취소하고 싶어요", "ko"),
    ("Tôi cần giúp đỡ với đơn hàng", "vi"),
])
def test_clear_sentences_are_detected(text: str, code: str) -> None:
    """An ordinary spoken sentence is attributed to its language."""
    assert detect_language(text) == code


@pytest.mark.parametrize("text", ["ok", "yes", "Hola", "12345 67890 !!!", "", "   "])
def test_too_short_text_gets_no_answer(text: str) -> None:
    """Below the minimum number of letters there is no answer (digits and punctuation do not count)."""
    assert detect_language(text) is None


def test_confidence_threshold_and_candidates() -> None:
    """Over every language close relatives split the vote (no answer); candidates and a lower bar decide it."""
    text = "Necesito cambiar mi vuelo para mañana"
    assert detect_language(text, languages=None) is None
    assert detect_language(text) == "es"
    assert detect_language(text, languages=None, min_confidence=0.5) == "es"
    assert detect_language("What time does the store open tomorrow", languages={"fr", "de"}, min_confidence=0.99) is None


def test_thresholds_are_parameters() -> None:
    """The letter minimum is adjustable, and the defaults are what the module documents."""
    assert MIN_LETTERS == 10 and {"en", "es", "ja"} <= DEFAULT_LANGUAGES
    assert detect_language("Thank you") is None
    assert detect_language("Thank you", min_letters=3) == "en"
    assert detect_language("Thank you so much for your help", min_letters=100) is None


def test_warm_is_idempotent() -> None:
    """Loading the model twice is harmless."""
    warm()
    warm()
    assert detect_language("Thank you so much for your help") == "en"


def test_reported_language_wins_and_is_lower_cased() -> None:
    """The upstream's own language (``language``, or the first of gpt-transcribe's ``languages``) is taken as reported."""
    assert transcription_language({"language": "ES", "transcript": "hello there my friend"}) == "es"
    assert transcription_language({"languages": [{"code": "ja"}, {"code": "en"}], "transcript": "x"}) == "ja"
    assert transcription_language({"languages": [], "transcript": "¿Puedes ayudarme con mi pedido?"}) is None


def test_detection_only_when_asked() -> None:
    """Without a reported language the transcript is detected only when the caller names the languages that matter."""
    event = {"transcript": "¿Puedes ayudarme con mi pedido?"}
    assert transcription_language(event) is None
    assert transcription_language(event, detect={"es"}) == "es"
    assert transcription_language({"transcript": "ok"}, detect={"es"}) is None
    assert transcription_language({"transcript": 5}, detect={"es"}) is None
