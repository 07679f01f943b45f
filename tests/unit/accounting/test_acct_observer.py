"""The accounting observer driven by scripted event sequences (embedded store, no sockets)."""

from __future__ import annotations

import orjson
import pytest
from tests.support.accounting import SPEC_USAGE, catalog, info, stats

from gateway.accounting.caps import CapGuard, default_caps
from gateway.accounting.limits import TenantLimits
from gateway.accounting.meter import Meter, PriceBook
from gateway.accounting.service import AccountingService
from gateway.core.errors import BudgetCapReached, CostCapReached, DurationCapReached, IdleTimeout, UnknownModel
from gateway.core.kinds import SessionKind
from gateway.core.money import OUTPUT_AUDIO_MS_PER_TOKEN
from gateway.core.observers import (
    HandedOff,
    Notify,
    ResponseDone,
    SessionEnded,
    Terminate,
    TranscriptionCompleted,
    UpstreamReady,
)
from gateway.core.routing import Caps

#: the gateway-wide caps the memory service's settings describe ($0.05, warn at 80%), as set-up applies them
GATEWAY_CAPS = default_caps("0.05", None, None, 0.8)


async def test_scripted_voice_session_is_metered_checkpointed_and_recorded(
    memory_service: AccountingService, wall: object
) -> None:
    """Ready → audio → response.done → transcription → end: spend checkpointed, slot released, record written."""
    svc = memory_service
    limits = TenantLimits(daily_budget_micros=10_000_000, max_concurrent_sessions=2)
    lease = await svc.admission.admit("sess_1", "acme", "key_1", limits, wall())  # type: ignore[operator]
    obs = svc.observer_factory.create(info(), now=0.0)
    assert svc.observer_factory.name == "accounting"
    assert await obs.on_event(UpstreamReady(at=0.1, served_model="gpt-realtime-2-2026-05-07"), stats()) is None
    assert await obs.on_tick(1.0, stats(at=1.0, in_s=1, out_s=1)) is None
    assert svc.live_spend("sess_1") == 1_600
    assert await obs.on_event(
        ResponseDone(at=1.5, response_id="resp_1", status="completed", usage=SPEC_USAGE),
        stats(at=1.5, in_s=1, out_s=1, since_in_s=0, since_out_s=0),
    ) is None
    assert svc.live_spend("sess_1") == 27_220
    await obs.on_event(
        TranscriptionCompleted(at=1.6, item_id="item_1", usage={"type": "duration", "seconds": 3.1}), stats()
    )
    assert svc.live_spend("sess_1") == 27_220 + 879
    await svc.sync()
    assert await svc.store.spend("acme", wall()) == (28_099, 28_099)  # type: ignore[operator]
    end_stats = stats(at=2.0, in_s=1, out_s=1, since_in_s=0.5, since_out_s=0)
    await obs.on_end(SessionEnded(at=2.0, reason="client_closed", client_close_code=1000), end_stats)
    assert await svc.store.spend("acme", wall()) == (28_099 + 160, 28_099 + 160)  # type: ignore[operator]
    assert await svc.store.active_leases("acme", wall()) == 0  # type: ignore[operator]
    assert "sess_1" not in svc.ledger.sessions and lease.session_id not in svc.ledger.leases
    (record,) = await svc.recent_records(5)
    assert record["session_id"] == "sess_1" and record["tenant"] == "acme" and record["key_id"] == "key_1"
    assert record["model_served"] == "gpt-realtime-2-2026-05-07" and record["model_routed"] == "gpt-realtime-2"
    assert record["cost_micros"] == str(28_099 + 160) and record["cost_usd"] == "0.028259"
    assert record["audio_in_s"] == "1.000" and record["end_reason"] == "client_closed"
    assert record["rule_id"] == "rule-voice" and record["audio_out_tokens"] == "320"


async def test_cost_cap_warns_then_terminates_during_a_long_response(memory_service: AccountingService) -> None:
    """Output audio streaming with no response.done still hits the cost cap ($0.05 default) on a tick."""
    obs = memory_service.observer_factory.create(info(gateway_caps=GATEWAY_CAPS), now=0.0)
    verdicts = []
    t = 0.0
    while t < 120:
        t = round(t + 0.1, 1)
        verdict = await obs.on_tick(t, stats(at=t, out_s=t))
        if verdict is not None:
            verdicts.append((t, verdict))
        if isinstance(verdict, Terminate):
            break
    (warn_t, warning), (end_t, end) = verdicts
    assert isinstance(warning, Notify) and warning.event["cap"] == "cost"
    assert isinstance(end, Terminate) and isinstance(end.error, CostCapReached)
    # 1,280 µ$ per second of output audio: 80% of 50,000 at 31.25 s, the cap at 39.1 s
    assert (warn_t, end_t) == (31.3, 39.1)


async def test_route_cap_tighter_than_gateway_default_wins(memory_service: AccountingService) -> None:
    """A route cap of 1,000 µ$ ends the session long before the $0.05 default."""
    obs = memory_service.observer_factory.create(info(caps=Caps(max_cost_micros=1_000), gateway_caps=GATEWAY_CAPS), now=0.0)
    assert isinstance(await obs.on_tick(0.65, stats(at=0.65, out_s=0.65)), Notify)  # 832 µ$
    verdict = await obs.on_tick(0.8, stats(at=0.8, out_s=0.8))
    assert isinstance(verdict, Terminate) and isinstance(verdict.error, CostCapReached)


async def test_budget_crossed_mid_session_cuts_off(memory_service: AccountingService, wall: object) -> None:
    """A tenant at 99% of its daily budget is cut off once local accrual crosses it, before any flush."""
    svc = memory_service
    limits = TenantLimits(daily_budget_micros=100_000)
    await svc.store.charge("old", "acme", 99_000, limits, wall())  # type: ignore[operator]
    await svc.admission.admit("sess_1", "acme", "key_1", limits, wall())  # type: ignore[operator]
    obs = svc.observer_factory.create(info(), now=0.0)
    assert isinstance(await obs.on_tick(0.1, stats(at=0.1)), Notify)  # 99% ≥ warn ratio
    assert await obs.on_tick(0.5, stats(at=0.5, out_s=0.5)) is None  # 99,640
    verdict = await obs.on_tick(0.9, stats(at=0.9, out_s=0.9))  # 100,152
    assert isinstance(verdict, Terminate) and isinstance(verdict.error, BudgetCapReached)


async def test_unknown_model_is_refused_at_admission_and_terminated_if_created(
    memory_service: AccountingService, wall: object
) -> None:
    """No price and no fallback: admission raises UnknownModel; an observer anyway ends the session."""
    from gateway.accounting.limits import NO_LIMITS

    with pytest.raises(UnknownModel):
        await memory_service.admission.admit("s", "acme", None, NO_LIMITS, wall(), model="gpt-nope")  # type: ignore[operator]
    obs = memory_service.observer_factory.create(info(model="gpt-nope"), now=0.0)
    verdict = await obs.on_tick(0.1, stats())
    assert isinstance(verdict, Terminate) and isinstance(verdict.error, UnknownModel)


async def test_unknown_served_model_keeps_the_routed_price(memory_service: AccountingService) -> None:
    """Upstream reporting a model the catalog does not know never makes the session free."""
    obs = memory_service.observer_factory.create(info(), now=0.0)
    await obs.on_event(UpstreamReady(at=0.0, served_model="mystery-model"), stats())
    await obs.on_tick(1.0, stats(at=1.0, in_s=1, out_s=1))
    assert memory_service.live_spend("sess_1") == 1_600


async def test_translation_session_metered_by_input_seconds(memory_service: AccountingService) -> None:
    """A translation observer bills source audio seconds: 30 s → 17,000 µ$."""
    obs = memory_service.observer_factory.create(
        info(kind=SessionKind.TRANSLATION, model="gpt-realtime-translate"), now=0.0
    )
    await obs.on_tick(30.0, stats(at=30.0, in_s=30, out_s=30))
    assert memory_service.live_spend("sess_1") == 17_000


def test_cap_overshoot_is_at_most_one_tick_of_audio() -> None:
    """Full-duplex audio on gpt-realtime-2 with 100 ms ticks: the cap is passed by ≤ 100 ms of audio."""
    prices = PriceBook(catalog())
    pricing = prices.model("gpt-realtime-2")
    assert pricing is not None
    tick_s, frame_s = 0.1, 0.02
    per_second = 10 * 32 + 20 * 64  # µ$ per second of audio both ways
    worst_ms = 0.0
    for cap in range(10_000, 10_161, 4):  # caps at every phase against the 160 µ$ a tick adds
        meter = Meter(SessionKind.REALTIME, pricing, pricing, 0.0)
        guard = CapGuard(Caps(max_cost_micros=cap), 0.0)
        audio_s, next_tick = 0.0, tick_s
        while True:
            audio_s = round(audio_s + frame_s, 6)
            if audio_s + 1e-9 < next_tick:
                continue
            cost = meter.cost_micros(next_tick, stats(in_s=audio_s, out_s=audio_s))
            if isinstance(guard.check(next_tick, cost, next_tick), Terminate):
                break
            next_tick += tick_s
        worst_ms = max(worst_ms, (cost - cap) / per_second * 1000)
    print(f"\nMEASURED cap overshoot: {worst_ms:.1f} ms of full-duplex audio with {tick_s * 1000:.0f} ms ticks")
    assert 50 <= worst_ms <= tick_s * 1000 + OUTPUT_AUDIO_MS_PER_TOKEN


async def test_session_record_lists_tool_calls(memory_service: AccountingService, wall: object) -> None:
    """Gateway calls (server, outcome, cache hit, duration) and client calls are listed in order; no arguments."""
    import json

    from gateway.core.observers import FunctionCallRequested, GatewayToolDone

    svc = memory_service
    limits = TenantLimits(daily_budget_micros=10_000_000, max_concurrent_sessions=2)
    await svc.admission.admit("sess_1", "acme", "key_1", limits, wall())  # type: ignore[operator]
    obs = svc.observer_factory.create(info(), now=0.0)
    done = GatewayToolDone(at=1.25, call_id="c1", name="lookup_order", server="http", started_at=1.0, outcome="ok",
                           cache_hit=True, arguments='{"order_id": "secret-ish"}')
    await obs.on_event(done, stats())
    await obs.on_event(FunctionCallRequested(at=2.0, call_id="c2", name="get_weather"), stats())
    await obs.on_end(SessionEnded(at=3.0, reason="client_closed", client_close_code=1000), stats(at=3.0))
    (record,) = await svc.recent_records(5)
    assert json.loads(record["tool_calls"]) == [
        {"name": "lookup_order", "executor": "gateway", "server": "http", "outcome": "ok", "cache_hit": True, "duration_ms": 250.0},
        {"name": "get_weather", "executor": "client"},
    ]
    assert "secret-ish" not in json.dumps(record)


async def test_allowance_follows_the_nearest_money_limit(memory_service: AccountingService, wall: object) -> None:
    """Each tick leaves the next response an allowance: the nearer of cap and budget, at the dearest output rate."""
    svc = memory_service
    limits = TenantLimits(daily_budget_micros=100_000)
    await svc.store.charge("old", "acme", 99_000, limits, wall())  # type: ignore[operator]
    await svc.admission.admit("sess_1", "acme", "key_1", limits, wall())  # type: ignore[operator]
    obs = svc.observer_factory.create(info(caps=Caps(max_cost_micros=5_000)), now=0.0)
    s = stats(at=0.1)
    await obs.on_tick(0.1, s)
    allowance = s.response_allowance
    assert allowance is not None and allowance.by_budget and allowance.remaining_micros == 1_000
    assert allowance.max_output_tokens == 1_000 * 1_000_000 // 64_000_000  # gpt-realtime-2 audio output: $64 / 1M
    unlimited = svc.observer_factory.create(info(session_id="sess_2"), now=0.0)
    s2 = stats(at=0.1)
    await unlimited.on_tick(0.1, s2)
    assert s2.response_allowance is None  # no cost cap and no budget: nothing to clamp to


async def test_session_record_counts_interruptions(memory_service: AccountingService, wall: object) -> None:
    """The record's interruptions field is the session's count of barge-ins."""
    svc = memory_service
    limits = TenantLimits(daily_budget_micros=10_000_000, max_concurrent_sessions=2)
    await svc.admission.admit("sess_1", "acme", "key_1", limits, wall())  # type: ignore[operator]
    obs = svc.observer_factory.create(info(), now=0.0)
    end_stats = stats(at=3.0)
    end_stats.interruptions = 2
    await obs.on_end(SessionEnded(at=3.0, reason="client_closed", client_close_code=1000), end_stats)
    (record,) = await svc.recent_records(5)
    assert record["interruptions"] == "2"


async def test_allowance_says_how_many_finished_replies_it_counts(memory_service: AccountingService) -> None:
    """The allowance is stamped with the replies metered so far, so the core can tell a stale one from a current one."""
    obs = memory_service.observer_factory.create(info(caps=Caps(max_cost_micros=500_000)), now=0.0)
    s = stats(at=0.1)
    await obs.on_tick(0.1, s)
    assert s.response_allowance is not None and s.response_allowance.responses_metered == 0
    for n in (1, 2):
        done = ResponseDone(at=n, response_id=f"resp_{n}", status="completed", usage=SPEC_USAGE)
        await obs.on_event(done, s)
        assert s.response_allowance is not None and s.response_allowance.responses_metered == n


async def test_a_switch_to_an_agent_keeps_replies_bounded_until_it_is_metered(memory_service: AccountingService) -> None:
    """A translation session switching to a voice agent gets a token allowance at the agent's price on every tick
    until the switch is metered (a translation model pays for no tokens: the allowance was none, so a reply held
    for the agent went out unbounded); once metered, the agent's own price rules."""
    obs = memory_service.observer_factory.create(
        info(kind=SessionKind.TRANSLATION, model="gpt-realtime-translate", caps=Caps(max_cost_micros=500_000)), now=0.0
    )
    s = stats(at=1.0, in_s=1)
    await obs.on_tick(1.0, s)
    assert s.response_allowance is None  # translation: priced by the minute, no reply to bound
    agent = catalog().resolve("gpt-realtime-2")
    assert agent is not None
    s.switch_pricing = ("gpt-realtime-2", agent.pricing)
    await obs.on_tick(1.1, s)
    during = s.response_allowance
    assert during is not None and during.max_output_tokens == during.remaining_micros * 1_000_000 // 64_000_000
    switched = HandedOff(at=1.2, from_route="tr", from_model="gpt-realtime-translate", to_route="agent",
                         to_model="gpt-realtime-2", reason="operator", trigger="admin", ok=True,
                         to_kind=SessionKind.REALTIME)
    await obs.on_event(switched, s)
    assert s.switch_pricing is None
    after = s.response_allowance
    assert after is not None and after.max_output_tokens == after.remaining_micros * 1_000_000 // 64_000_000
async def test_a_reply_in_flight_across_a_handoff_is_billed_at_the_old_models_price(memory_service: AccountingService) -> None:
    """A real core switches gpt-realtime-2 → gpt-realtime-2.1-mini while the old model speaks; its cancelled reply's
    usage arrives on the old upstream after the switch: every part is billed at its own model's price exactly
    (100 audio-out tokens × 64 µ$ for the old model, in place of the estimate of its relayed second; nothing at the new
    model's 20 µ$), and the target's own reply at its price."""
    from gateway.core.handoff import Handoff, HandoffRequest, HandoffRules, Trigger
    from gateway.core.kinds import Dialect
    from gateway.core.routing import SessionOverrides
    from gateway.core.session import HandoffTarget, SessionCore

    svc = memory_service
    obs = svc.observer_factory.create(info(), now=0.0)
    core = SessionCore(kind=SessionKind.REALTIME, dialect=Dialect.GA, now=0.0, requested_model="gpt-realtime-2",
                       served_model="gpt-realtime-2", handoff=Handoff(HandoffRules(targets=("mini",)), "voice", "gpt-realtime-2"))

    def audio_out(usage_tokens: int) -> dict[str, object]:
        return {"input_tokens": 0, "output_tokens": usage_tokens, "output_token_details": {"audio_tokens": usage_tokens, "text_tokens": 0}}

    core.from_upstream('{"type":"response.created","response":{"id":"resp_old"}}', 0.5)
    delta = '{"type":"response.output_audio.delta","event_id":"e","response_id":"resp_old","item_id":"i","output_index":0,"content_index":0,"delta":"%s"}'
    core.from_upstream(delta % ("AAAA" * 16_000), 0.6)  # 48,000 bytes: one second at PCM16 24 kHz
    assert core.handoff is not None and core.handoff.request(HandoffRequest("mini", "cheaper", Trigger.ADMIN)) is None
    core.handoff.begin()
    core.switch_to(HandoffTarget(model="gpt-realtime-2.1-mini", overrides=SessionOverrides()), 3.6)
    core.release_held(3.6)
    core.handoff_completed(3.7)
    core.from_retired_upstream('{"type":"response.done","response":{"id":"resp_old","status":"cancelled","usage":%s}}'
                               % orjson.dumps(audio_out(100)).decode(), 3.8)
    core.from_upstream('{"type":"response.created","response":{"id":"resp_new"}}', 4.0)
    core.from_upstream('{"type":"response.done","response":{"id":"resp_new","status":"completed","usage":%s}}'
                       % orjson.dumps(audio_out(10)).decode(), 4.5)
    for event in core.take_events():
        await obs.on_event(event, core.stats)
    meter = svc.ledger.sessions["sess_1"].meter
    assert meter is not None and meter.by_model == {"gpt-realtime-2": 100 * 64}
    assert meter.cost_micros(4.5, core.stats) == 100 * 64 + 10 * 20


# --- what a tick skips, and what it still enforces on time -------------------------------------------------------


async def test_a_session_without_a_money_limit_is_priced_once_a_report_period(memory_service: AccountingService) -> None:
    """No cost cap, no budget: ticks re-price every REPORT_PERIOD_S (the figure is only reported); a metered reply is
    priced at once."""
    from gateway.accounting.observer import REPORT_PERIOD_S

    obs = memory_service.observer_factory.create(info(), now=0.0)
    await obs.on_tick(0.1, stats(at=0.1, out_s=1))
    assert memory_service.live_spend("sess_1") == 1_280
    await obs.on_tick(0.1 + REPORT_PERIOD_S / 2, stats(at=0.6, out_s=2))
    assert memory_service.live_spend("sess_1") == 1_280  # not re-priced within the period
    await obs.on_tick(0.1 + REPORT_PERIOD_S, stats(at=1.1, out_s=3))
    assert memory_service.live_spend("sess_1") == 3 * 1_280
    done = ResponseDone(at=1.2, response_id="resp_1", status="completed", usage=SPEC_USAGE)
    await obs.on_event(done, stats(at=1.2, out_s=3, since_out_s=0))
    assert memory_service.live_spend("sess_1") == 27_220  # SPEC_USAGE alone: the estimate it replaces is gone


async def test_without_a_money_limit_time_caps_still_cut_on_the_tick_they_are_reached(
    memory_service: AccountingService,
) -> None:
    """Duration cap and idle timeout (no money limit): the warning and the cut come on the first tick at or past
    them, though the cost is not priced on those ticks."""
    caps = Caps(max_duration_s=10.0, idle_timeout_s=3.0, warn_ratio=0.5)
    obs = memory_service.observer_factory.create(info(caps=caps), now=0.0)
    assert await obs.on_tick(4.9, stats(at=4.9)) is None
    warning = await obs.on_tick(5.0, stats(at=5.0))
    assert isinstance(warning, Notify) and warning.event["cap"] == "duration"
    assert await obs.on_tick(7.9, stats(at=5.0)) is None  # idle for 2.9 s
    idle = await obs.on_tick(8.0, stats(at=5.0))
    assert isinstance(idle, Terminate) and isinstance(idle.error, IdleTimeout)
    other = memory_service.observer_factory.create(info(caps=caps, session_id="sess_2"), now=0.0)
    assert await other.on_tick(9.9, stats(at=9.9)) is not None  # the duration warning
    cut = await other.on_tick(10.0, stats(at=10.0))
    assert isinstance(cut, Terminate) and isinstance(cut.error, DurationCapReached)


async def test_a_cost_cap_is_priced_on_every_tick_even_for_audio_faster_than_real_time(
    memory_service: AccountingService,
) -> None:
    """A client (or upstream) relaying a minute of audio within 100 ms: the very next tick prices it and cuts."""
    obs = memory_service.observer_factory.create(info(caps=Caps(max_cost_micros=50_000)), now=0.0)
    assert await obs.on_tick(0.1, stats(at=0.1, in_s=0.1, out_s=0.1)) is None
    verdict = await obs.on_tick(0.2, stats(at=0.2, in_s=60, out_s=60))
    assert isinstance(verdict, Terminate) and isinstance(verdict.error, CostCapReached)


async def test_a_budget_sees_another_sessions_spend_on_the_next_tick(
    memory_service: AccountingService, wall: object
) -> None:
    """Two sessions of one tenant: what one accrues counts against the other's budget at once (no flush between)."""
    svc = memory_service
    limits = TenantLimits(daily_budget_micros=100_000)
    for sid in ("sess_1", "sess_2"):
        await svc.admission.admit(sid, "acme", "key_1", limits, wall())  # type: ignore[operator]
    quiet = svc.observer_factory.create(info(session_id="sess_1"), now=0.0)
    loud = svc.observer_factory.create(info(session_id="sess_2"), now=0.0)
    assert await quiet.on_tick(0.1, stats(at=0.1)) is None
    await loud.on_tick(0.1, stats(at=0.1, out_s=75))  # 96,000 µ$: past the warning ratio
    assert svc.ledger.unflushed("acme") == 96_000
    warning = await quiet.on_tick(0.2, stats(at=0.2))
    assert isinstance(warning, Notify) and warning.event["cap"] == "budget"
    await loud.on_tick(0.2, stats(at=0.2, out_s=80))  # 102,400 µ$
    verdict = await quiet.on_tick(0.3, stats(at=0.3))
    assert isinstance(verdict, Terminate) and isinstance(verdict.error, BudgetCapReached)


async def test_a_translation_segment_ending_on_a_tick_records_the_current_cost(memory_service: AccountingService) -> None:
    """No money limit, a segment open: the tick that ends it prices the session first, though the last pricing was
    less than a report period ago (the summary is not stale)."""
    from gateway.core.observers import SpeechStarted, TranslationOutput
    from gateway.core.timeline import SEGMENT_QUIET_S

    obs = memory_service.observer_factory.create(
        info(kind=SessionKind.TRANSLATION, model="gpt-realtime-translate"), now=0.0
    )
    await obs.on_event(TranslationOutput(at=0.2, elapsed_ms=None), stats(at=0.2))
    await obs.on_event(SpeechStarted(at=0.2 + SEGMENT_QUIET_S - 0.1, item_id=None, audio_start_ms=None), stats())
    await obs.on_tick(0.2 + SEGMENT_QUIET_S, stats(at=0.2 + SEGMENT_QUIET_S, in_s=30))  # quiet: the segment ends
    (segment,) = memory_service.turns_of("sess_1") or []
    assert segment["kind"] == "segment" and segment["cost_micros"] == 17_000


async def test_an_unlimited_sessions_spend_counts_against_its_tenants_budget_on_every_tick(
    memory_service: AccountingService, wall: object
) -> None:
    """A session without limits of a tenant another session here budgets: it is priced on every tick, so the
    budgeted session is cut on the next tick, not a report period later."""
    svc = memory_service
    await svc.admission.admit("sess_1", "acme", "key_1", TenantLimits(daily_budget_micros=100_000), wall())  # type: ignore[operator]
    budgeted = svc.observer_factory.create(info(session_id="sess_1"), now=0.0)
    unlimited = svc.observer_factory.create(info(session_id="sess_2"), now=0.0)  # no lease: no limits of its own
    await unlimited.on_tick(0.1, stats(at=0.1, out_s=1))
    assert await budgeted.on_tick(0.1, stats(at=0.1)) is None
    await unlimited.on_tick(0.2, stats(at=0.2, out_s=80))  # 102,400 µ$, within a report period of the last price
    verdict = await budgeted.on_tick(0.2, stats(at=0.2))
    assert isinstance(verdict, Terminate) and isinstance(verdict.error, BudgetCapReached)


async def test_a_checkpoint_holds_an_unlimited_sessions_spend_up_to_its_live_counters(
    memory_service: AccountingService, wall: object
) -> None:
    """No money limit, priced by its ticks once a second: the flush loop prices it from the live counters before each
    checkpoint, so the store is as current as with every tick priced (what a replica that dies loses)."""
    svc = memory_service
    obs = svc.observer_factory.create(info(), now=0.0)
    live_stats = stats(at=0.1, out_s=1)
    await obs.on_tick(0.1, live_stats)
    await svc.sync()
    assert await svc.store.spend("acme", wall()) == (1_280, 1_280)  # type: ignore[operator]
    live_stats.audio_out_bytes = live_stats.audio_out_bytes_since_usage = 3 * 48_000  # relayed since, no tick yet
    await svc.sync()
    assert await svc.store.spend("acme", wall()) == (3 * 1_280, 3 * 1_280)  # type: ignore[operator]
