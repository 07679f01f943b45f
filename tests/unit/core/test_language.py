"""The language detector answers for clear text in its candidate languages and stays silent when unsure."""

from __future__ import annotations

import pytest

from gateway.core.language import DEFAULT_LANGUAGES, MIN_LETTERS, detect_language, warm


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
