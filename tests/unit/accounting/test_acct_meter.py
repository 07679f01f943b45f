"""The live cost meter: every pricing path, exact integer micro-dollars."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.support.accounting import SPEC_USAGE, catalog, stats

from gateway.accounting.meter import Meter, PriceBook, parse_tokens
from gateway.core.kinds import SessionKind
from gateway.core.money import Pricing, PricingUnit


@pytest.fixture
def prices() -> PriceBook:
    return PriceBook(catalog())


def voice_meter(prices: PriceBook, model: str = "gpt-realtime-2") -> Meter:
    pricing = prices.model(model)
    assert pricing is not None
    return Meter(SessionKind.REALTIME, pricing, prices.asr(pricing), started_at=0.0)


def test_response_usage_priced_exactly_by_modality_and_cache(prices: PriceBook) -> None:
    """The spec's usage block costs exactly 27,220 µ$ on gpt-realtime-2 (text, audio, image, cached split)."""
    meter = voice_meter(prices)
    meter.on_response_usage(SPEC_USAGE)
    # text 50×4 + 650×0.4 + 80×24 = 2380; audio 130×32 + 250×0.4 + 320×64 = 24740; image 20×5 = 100
    assert meter.cost_micros(1.0, stats()) == 27_220


def test_running_estimate_between_responses_from_relayed_audio(prices: PriceBook) -> None:
    """One second each way since the last response.done adds 10 input + 20 output audio tokens."""
    meter = voice_meter(prices)
    meter.on_response_usage(SPEC_USAGE)
    assert meter.cost_micros(2.0, stats(in_s=5, out_s=5, since_in_s=1, since_out_s=1)) == 27_220 + 320 + 1_280


def test_estimate_uses_the_wire_format_rate(prices: PriceBook) -> None:
    """G.711 is 8,000 bytes a second: the same second of audio costs the same as PCM16."""
    meter = voice_meter(prices)
    assert meter.cost_micros(1.0, stats(in_s=1, out_s=1, fmt="audio/pcmu", rate=8_000)) == 1_600


def test_estimate_is_replaced_by_exact_usage_when_counters_reset(prices: PriceBook) -> None:
    """After response.done the relay zeroes the since-usage counters: only the exact usage remains."""
    meter = voice_meter(prices)
    assert meter.cost_micros(1.0, stats(in_s=1, out_s=1)) == 1_600
    meter.on_response_usage(SPEC_USAGE)
    assert meter.cost_micros(1.1, stats(in_s=1, out_s=1, since_in_s=0, since_out_s=0)) == 27_220


def test_fractional_cost_rounds_up_never_to_zero(prices: PriceBook) -> None:
    """One mini text token is 0.6 µ$: billed as 1 µ$, not 0."""
    meter = voice_meter(prices, "gpt-realtime-2.1-mini")
    meter.on_response_usage({"input_tokens": 1, "output_tokens": 0})
    assert meter.cost_micros(0.0, stats()) == 1


def test_cumulative_ceiling_does_not_drift(prices: PriceBook) -> None:
    """Ten 1-token responses on mini cost ceil(6.0) = 6 µ$, not 10 × ceil(0.6)."""
    meter = voice_meter(prices, "gpt-realtime-2.1-mini")
    for _ in range(10):
        meter.on_response_usage({"input_tokens": 1, "output_tokens": 0})
    assert meter.cost_micros(0.0, stats()) == 6


def test_input_transcription_in_voice_session_priced_at_asr_model(prices: PriceBook) -> None:
    """3.1 s of whisper duration usage inside a voice session: ceil(3100 × 17000 / 60000) = 879 µ$."""
    meter = voice_meter(prices)
    meter.on_transcription_usage({"type": "duration", "seconds": 3.1})
    assert meter.cost_micros(0.0, stats()) == 879


def test_token_shaped_asr_usage_on_duration_priced_asr_converts_audio_tokens(prices: PriceBook) -> None:
    """50 audio tokens = 5 s of audio at $0.017/min: 1,417 µ$."""
    meter = voice_meter(prices)
    meter.on_transcription_usage(
        {"type": "tokens", "input_tokens": 50, "output_tokens": 10, "input_token_details": {"audio_tokens": 50}}
    )
    assert meter.cost_micros(0.0, stats()) == 1_417


def test_transcription_session_bills_max_of_reported_and_relayed_seconds(prices: PriceBook) -> None:
    """Whisper: 60 s relayed = 17,000 µ$; reported 90 s overrides; reported 30 s does not lower it."""
    pricing = prices.model("gpt-realtime-whisper")
    assert pricing is not None
    meter = Meter(SessionKind.TRANSCRIPTION, pricing, pricing, 0.0)
    assert meter.cost_micros(60.0, stats(in_s=60)) == 17_000
    meter.on_transcription_usage({"type": "duration", "seconds": 30})
    assert meter.cost_micros(60.0, stats(in_s=60)) == 17_000
    meter.on_transcription_usage({"type": "duration", "seconds": 60})
    assert meter.cost_micros(60.0, stats(in_s=60)) == 25_500


def test_transcription_session_on_token_model_keeps_unsplit_output_tokens(prices: PriceBook) -> None:
    """Token usage without an output split still charges output tokens (as text), never free."""
    pricing = prices.model("gpt-realtime-2")
    assert pricing is not None
    meter = Meter(SessionKind.TRANSCRIPTION, pricing, pricing, 0.0)
    meter.on_transcription_usage(
        {"type": "tokens", "input_tokens": 50, "output_tokens": 10, "input_token_details": {"audio_tokens": 50}}
    )
    assert meter.cost_micros(0.0, stats()) == 50 * 32 + 10 * 24


def test_transcription_without_usage_bills_relayed_audio(prices: PriceBook) -> None:
    """No completion usage at all: relayed seconds are billed (here 1 s on whisper = 284 µ$)."""
    pricing = prices.model("gpt-realtime-whisper")
    assert pricing is not None
    meter = Meter(SessionKind.TRANSCRIPTION, pricing, pricing, 0.0)
    meter.on_transcription_usage(None)
    assert meter.cost_micros(1.0, stats(in_s=1)) == 284


def test_translation_bills_relayed_input_seconds(prices: PriceBook) -> None:
    """Translation reports no usage: 60 s of source audio at $0.034/min = 34,000 µ$; output is not billed."""
    pricing = prices.model("gpt-realtime-translate")
    assert pricing is not None
    meter = Meter(SessionKind.TRANSLATION, pricing, pricing, 0.0)
    assert meter.cost_micros(60.0, stats(in_s=60, out_s=60)) == 34_000


def test_dated_snapshot_bills_as_its_family(prices: PriceBook) -> None:
    """A served mini snapshot name resolves to the mini family's prices."""
    snapshot = prices.model("gpt-realtime-2.1-mini-2026-07-01")
    assert snapshot == prices.model("gpt-realtime-2.1-mini")
    meter = voice_meter(prices)
    assert snapshot is not None
    meter.reprice(snapshot)
    assert meter.cost_micros(1.0, stats(in_s=1, out_s=1)) == 10 * 10 + 20 * 20


def test_unknown_model_without_fallback_has_no_price(prices: PriceBook) -> None:
    """An unknown model name is refused (None), never priced at zero."""
    assert prices.model("gpt-unknown-9") is None
    assert prices.model(None) is None


def test_unknown_voice_model_on_per_minute_fallback_bills_wall_clock() -> None:
    """With a $0.05/min fallback an unknown voice model costs 50,000 µ$ per minute of session."""
    fallback = Pricing(unit=PricingUnit.MINUTES, per_minute=50_000)
    prices = PriceBook(catalog(), fallback)
    pricing = prices.model("gpt-unknown-9")
    assert pricing == fallback
    meter = Meter(SessionKind.REALTIME, pricing, prices.asr(pricing), started_at=10.0)
    assert meter.cost_micros(70.0, stats()) == 50_000
    assert meter.cost_micros(10.001, stats()) == 1


def test_parse_tokens_charges_bare_totals_as_text() -> None:
    """Bare totals with no details are text tokens, not zero."""
    tokens = parse_tokens({"input_tokens": 100, "output_tokens": 50})
    assert (tokens.text_in, tokens.text_out, tokens.audio_in) == (100, 50, 0)


def test_meter_reports_summed_tokens_for_the_record(prices: PriceBook) -> None:
    """The record's token counts add session and transcription usage."""
    meter = voice_meter(prices)
    meter.on_response_usage(SPEC_USAGE)
    meter.on_response_usage(SPEC_USAGE)
    tokens = meter.tokens()
    assert (tokens.text_in, tokens.audio_out, tokens.cached_audio_in) == (1400, 640, 500)


def test_a_handoff_to_translation_and_back_bills_each_part_as_its_kind(prices: PriceBook) -> None:
    """Agent (token-priced) → translation (per input minute) → agent: the translation part costs its input audio
    seconds at $0.034/min from the handoff on (not the whole session's audio), sealed when the agent takes over."""
    meter = voice_meter(prices)
    agent_part = meter.cost_micros(1.0, stats(in_s=1, out_s=1))
    assert agent_part == 1_600
    translate = prices.model("gpt-realtime-translate")
    meter.hand_off(1.0, "gpt-realtime-2", 1000, 1000, translate, SessionKind.TRANSLATION)
    assert meter.kind is SessionKind.TRANSLATION and meter.by_model == {"gpt-realtime-2": 1_600}
    # 30 s of input since the switch (the since-usage counters were reset by it); 31 s in the session
    assert meter.cost_micros(31.0, stats(in_s=31, out_s=31, since_in_s=30, since_out_s=30)) == 1_600 + 17_000
    meter.hand_off(31.0, "gpt-realtime-translate", 30_000, 30_000, prices.model("gpt-realtime-2"), SessionKind.REALTIME)
    assert meter.by_model == {"gpt-realtime-2": 1_600, "gpt-realtime-translate": 17_000}
    assert meter.cost_micros(32.0, stats(in_s=32, out_s=32, since_in_s=0, since_out_s=0)) == 18_600
def test_usage_reported_after_a_handoff_is_billed_at_the_old_models_price(prices: PriceBook) -> None:
    """The old model's sealed part keeps its price: late usage for it replaces the estimate of its relayed audio and is
    priced as the old model (gpt-realtime-2, $64/M audio out), not the model serving now (mini, $20/M)."""
    meter = voice_meter(prices)
    mini = prices.model("gpt-realtime-mini")
    assert mini is not None
    meter.hand_off(2.0, "gpt-realtime-2", 0, 1000, mini)  # 1 s of the old reply's audio: 20 tokens estimated at $64/M
    assert meter.sealed_micros == 20 * 64 and meter.by_model == {"gpt-realtime-2": 1280}
    late = {"input_tokens": 0, "output_tokens": 100, "output_token_details": {"audio_tokens": 100, "text_tokens": 0}}
    meter.retired_usage("gpt-realtime-2", prices.model("gpt-realtime-2"), late)  # type: ignore[arg-type]
    assert meter.sealed_micros == 100 * 64 and meter.by_model == {"gpt-realtime-2": 6400}
    assert meter.cost_micros(3.0, stats()) == 6400  # the new model has spent nothing
    assert meter.tokens().audio_out == 100


def test_late_usage_for_a_model_without_a_sealed_part_is_priced_at_its_own_price(prices: PriceBook) -> None:
    """Usage naming a model other than the one just handed off from is still billed at that model's price, not dropped."""
    meter = voice_meter(prices)
    late = {"input_tokens": 0, "output_tokens": 10, "output_token_details": {"audio_tokens": 10, "text_tokens": 0}}
    meter.retired_usage("gpt-realtime-2", prices.model("gpt-realtime-2"), late)  # type: ignore[arg-type]
    assert meter.sealed_micros == 640 and meter.by_model == {"gpt-realtime-2": 640}


# --- pricing again only when the inputs moved ---------------------------------------------------------------------


def test_a_usage_report_with_unchanged_counters_is_priced(prices: PriceBook) -> None:
    """The same counters after a usage report, a transcription or a reprice: the next figure includes it (the
    meter's own changes are inputs of the price too)."""
    meter = voice_meter(prices)
    quiet = stats(in_s=1, out_s=1, since_in_s=0, since_out_s=0)
    assert meter.cost_micros(1.0, quiet) == 0
    meter.on_response_usage(SPEC_USAGE)
    assert meter.cost_micros(1.0, quiet) == 27_220
    meter.on_transcription_usage({"type": "duration", "seconds": 3.1})
    assert meter.cost_micros(1.0, quiet) == 27_220 + 879
    cheaper = prices.model("gpt-realtime-mini")
    assert cheaper is not None
    meter.reprice(cheaper)
    assert meter.cost_micros(1.0, quiet) < 27_220


def test_relayed_audio_is_priced_on_the_next_call(prices: PriceBook) -> None:
    """Counters that moved, in either direction or in total only, give a new figure; unmoved ones the same."""
    meter = voice_meter(prices)
    first = meter.cost_micros(1.0, stats(in_s=1, out_s=1))
    assert meter.cost_micros(1.1, stats(in_s=1, out_s=1)) == first == 320 + 1_280
    assert meter.cost_micros(1.2, stats(in_s=1, out_s=2)) == 320 + 2 * 1_280


def test_a_per_minute_voice_price_grows_with_time_alone(prices: PriceBook) -> None:
    """An unknown model on a per-minute fallback is billed by elapsed time: no relayed audio, still a new figure."""
    per_minute = Pricing(unit=PricingUnit.MINUTES, per_minute=60_000)
    meter = Meter(SessionKind.REALTIME, per_minute, per_minute, started_at=0.0)
    assert meter.cost_micros(1.0, stats()) == 1_000
    assert meter.cost_micros(2.0, stats()) == 2_000


_OPS = st.lists(st.one_of(
    st.tuples(st.just("usage"), st.integers(0, 5_000), st.integers(0, 5_000)),
    st.tuples(st.just("asr"), st.integers(0, 5_000), st.integers(0, 5_000)),
    st.tuples(st.just("reprice"), st.sampled_from(["gpt-realtime-2", "gpt-realtime-2.1-mini"]), st.just(0)),
    st.tuples(st.just("hand_off"), st.sampled_from(["gpt-realtime-2", "gpt-realtime-2.1-mini"]), st.integers(0, 9_000)),
    st.tuples(st.just("retired"), st.integers(0, 5_000), st.integers(0, 5_000)),
    st.tuples(st.just("audio"), st.integers(0, 3), st.integers(0, 3)),
), max_size=25)


@settings(max_examples=300, deadline=None)
@given(_OPS)
def test_a_tick_after_any_change_prices_what_a_fresh_look_prices(ops: list[tuple[str, object, int]]) -> None:
    """Whatever changes the meter (usage, input transcription, a new price, a handoff, a late report), the cost a
    tick reads afterwards is the cost priced from scratch: no cached part of the price outlives a change."""
    prices = PriceBook(catalog())
    meter = voice_meter(prices)
    in_s = out_s = since_in = since_out = 0.0
    now = 0.0
    for op, a, b in ops:
        now += 0.1
        if op == "usage":
            meter.on_response_usage({"input_tokens": a, "output_tokens": b})
            since_in = since_out = 0.0
        elif op == "asr":
            meter.on_transcription_usage({"type": "tokens", "input_tokens": a, "output_tokens": b})
        elif op == "reprice":
            pricing = prices.model(str(a))
            assert pricing is not None
            meter.reprice(pricing)
        elif op == "hand_off":
            meter.hand_off(now, "gpt-realtime-2", int(since_in * 1000), int(since_out * 1000), prices.model(str(a)))
            since_in = since_out = 0.0
        elif op == "retired":
            meter.retired_usage("gpt-realtime-2", prices.model("gpt-realtime-2"), {"input_tokens": a, "output_tokens": b})
        else:
            in_s, out_s, since_in, since_out = in_s + int(str(a)), out_s + b, since_in + int(str(a)), since_out + b
        seen = stats(in_s=in_s, out_s=out_s, since_in_s=since_in, since_out_s=since_out)
        ticked = meter.cost_micros(now, seen)
        meter._moved()  # what a meter priced from nothing cached reads
        assert ticked == meter.cost_micros(now, seen)
