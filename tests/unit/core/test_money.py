"""Money is integer micro-dollars, priced exactly as the catalog says."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.core.money import (
    PricedUsage,
    Pricing,
    PricingUnit,
    TokenRates,
    TokenUsage,
    audio_ms,
    duration_cost_micros,
    estimated_audio_tokens,
    micros_to_usd,
    token_cost_micros,
    token_usage_from_response,
    usd_to_micros,
)

REALTIME_2 = Pricing(
    unit=PricingUnit.TOKENS,
    text=TokenRates(input=4_000_000, cached_input=400_000, output=24_000_000),
    audio=TokenRates(input=32_000_000, cached_input=400_000, output=64_000_000),
    image=TokenRates(input=5_000_000, cached_input=500_000, output=0),
)


def test_usd_strings_convert_exactly() -> None:
    """Decimal strings convert without float error; sub-micro amounts are refused."""
    assert usd_to_micros("0.017") == 17_000
    assert usd_to_micros("4.00") == 4_000_000
    with pytest.raises(ValueError):
        usd_to_micros("0.0000001")
    assert micros_to_usd(1_234_567) == "1.234567"


def test_response_usage_prices_each_modality_and_cache_separately() -> None:
    """The protocol's example usage block costs exactly what the price table says."""
    usage = token_usage_from_response(
        {"total_tokens": 1500, "input_tokens": 1100, "output_tokens": 400,
         "input_token_details": {"text_tokens": 700, "audio_tokens": 380, "image_tokens": 20, "cached_tokens": 900,
                                 "cached_tokens_details": {"text_tokens": 650, "audio_tokens": 250, "image_tokens": 0}},
         "output_token_details": {"text_tokens": 80, "audio_tokens": 320}}
    )
    # text: 50 fresh × 4 + 650 cached × 0.4 + 80 out × 24; audio: 130 × 32 + 250 × 0.4 + 320 × 64; image 20 × 5 (µ$ per token = $/M)
    expected_pico = 50 * 4_000_000 + 650 * 400_000 + 80 * 24_000_000 + 130 * 32_000_000 + 250 * 400_000 + 320 * 64_000_000 + 20 * 5_000_000
    assert token_cost_micros(REALTIME_2, usage) == -(-expected_pico // 1_000_000)


def test_a_single_token_is_never_free() -> None:
    """Rounding is a ceiling: one cached token still costs one micro-dollar."""
    assert token_cost_micros(REALTIME_2, TokenUsage(text_in=1, cached_text_in=1)) == 1


def test_duration_pricing_rounds_up() -> None:
    """A minute of whisper costs $0.017; one millisecond is not free."""
    whisper = Pricing(unit=PricingUnit.MINUTES, per_minute=17_000)
    assert duration_cost_micros(whisper, 60_000) == 17_000
    assert duration_cost_micros(whisper, 1) == 1


def test_audio_bytes_to_milliseconds_by_format() -> None:
    """PCM16 24 kHz is 48 bytes per ms; G.711 is 8."""
    assert audio_ms(48_000, "audio/pcm") == 1000
    assert audio_ms(8_000, "audio/pcmu") == 1000


def test_estimated_audio_tokens_follow_published_rates() -> None:
    """1 token per 100 ms in, 1 per 50 ms out."""
    est = estimated_audio_tokens(1000, 1000)
    assert (est.audio_in, est.audio_out) == (10, 20)


def test_bare_totals_are_charged_not_dropped() -> None:
    """A usage block with only totals is priced as text rather than as zero."""
    usage = token_usage_from_response({"input_tokens": 10, "output_tokens": 5})
    assert token_cost_micros(REALTIME_2, usage) > 0


def test_duration_model_requires_positive_price() -> None:
    """A duration-priced model with no price is rejected at construction."""
    with pytest.raises(ValueError):
        Pricing(unit=PricingUnit.MINUTES, per_minute=0)


def test_extra_audio_tokens_price_as_if_added_to_the_usage() -> None:
    """token_cost_micros(usage, audio_in, audio_out) equals pricing the summed usage (cached audio included)."""
    usage = TokenUsage(text_in=700, audio_in=380, image_in=20, cached_text_in=650, cached_audio_in=250,
                       text_out=80, audio_out=320)
    for audio_in, audio_out in ((0, 0), (1, 0), (0, 1), (17, 53), (10_000, 3)):
        summed = TokenUsage()
        summed.add(usage)
        summed.add(estimated_audio_tokens(audio_in * 100, audio_out * 50))
        assert token_cost_micros(REALTIME_2, usage, audio_in, audio_out) == token_cost_micros(REALTIME_2, summed)


_COUNTS = st.integers(0, 10**7)


@settings(max_examples=500, deadline=None)
@given(st.builds(TokenUsage, _COUNTS, _COUNTS, _COUNTS, _COUNTS, _COUNTS, _COUNTS, _COUNTS, _COUNTS), _COUNTS, _COUNTS)
def test_priced_usage_adds_audio_tokens_at_exactly_the_summed_price(usage: TokenUsage, audio_in: int, audio_out: int) -> None:
    """Usage priced once plus more audio tokens costs what the whole sum costs, priced modality by modality with
    one ceiling (cached input a subset of input, image at text rates when the model has none)."""
    total = TokenUsage()
    total.add(usage)
    total.audio_in += audio_in
    total.audio_out += audio_out

    def pico(rates: TokenRates, fresh: int, cached: int, out: int) -> int:
        return max(fresh - cached, 0) * rates.input + cached * rates.cached_input + out * rates.output

    for pricing in (REALTIME_2, Pricing(unit=PricingUnit.TOKENS, text=REALTIME_2.text, audio=REALTIME_2.audio)):
        image = pricing.image or pricing.text
        assert pricing.text is not None and pricing.audio is not None and image is not None
        exact = (pico(pricing.text, total.text_in, total.cached_text_in, total.text_out)
                 + pico(pricing.audio, total.audio_in, total.cached_audio_in, total.audio_out)
                 + pico(image, total.image_in, total.cached_image_in, 0))
        assert PricedUsage.of(pricing, usage).micros(audio_in, audio_out) == -(-exact // 1_000_000)
