"""The per-session accounting observer: meters, decides caps and budgets locally, never touches Redis."""

from __future__ import annotations

from typing import Callable, Protocol

from gateway.accounting.caps import CapGuard
from gateway.accounting.horizon import Horizon, horizon_from
from gateway.accounting.ledger import Ledger, LiveSession
from gateway.accounting.limits import NO_LIMITS
from gateway.accounting.meter import Meter, PriceBook
from gateway.core.allowance import MAX_OUTPUT_TOKENS
from gateway.core.errors import UnknownModel
from gateway.core.money import Pricing, affordable_output_tokens, audio_ms
from gateway.core.observers import (
    FunctionCallRequested,
    GatewayToolDone,
    HandedOff,
    RetiredUsage,
    ResponseAllowance,
    ResponseDone,
    SessionEnded,
    SessionEvent,
    SessionInfo,
    SessionStats,
    Terminate,
    TickBound,
    TranscriptionCompleted,
    UpstreamReady,
    Verdict,
)
from gateway.core.timeline import TurnLog

ANONYMOUS_TENANT = "_anonymous"
#: how often a tick prices a session no money limit applies to (no cost cap, no budget): its cost then decides
#: nothing (no allowance, no money verdict), it is only reported — checkpoints, the directory, telemetry — so a
#: tick re-prices it at most this often; its events and its end price it at once
REPORT_PERIOD_S = 1.0


def tool_call_entry(event: GatewayToolDone) -> dict[str, object]:
    """One gateway tool call as the session record lists it (no arguments, no result)."""
    return {
        "name": event.name,
        "executor": "gateway",
        "server": event.server,
        "outcome": event.outcome,
        "cache_hit": event.cache_hit,
        "duration_ms": round(max(event.at - event.started_at, 0.0) * 1000, 1),
    }


class Flusher(Protocol):
    """What the observer asks of the service: flush soon (turn end) and finish a session (end)."""

    def request_flush(self) -> None: ...

    async def finish(self, live: LiveSession, ended: SessionEnded) -> None: ...


class AccountingObserver:
    """Keeps one session's meter current and answers Terminate / Notify from the local projection.

    Its hooks never wait (a :class:`~gateway.core.observers.DirectObserver`): ``event_now`` and ``tick_now`` are the
    relay's plain calls, ``on_event`` and ``on_tick`` the same answers as coroutines."""

    #: every tick has something to decide (the time caps, the cost)
    ticks = True

    def __init__(
        self, live: LiveSession, ledger: Ledger, prices: PriceBook, flusher: Flusher, wall: Callable[[], float]
    ) -> None:
        self.live = live
        self._ledger = ledger
        self._prices = prices
        self._flusher = flusher
        self._wall = wall
        #: finished replies whose usage is metered (stamps the allowance, so the core knows it is current)
        self._responses_metered = 0
        #: a cost cap or a budget applies: every tick prices the session and decides on the figure (fixed for the
        #: session's life: its caps and its lease's limits are)
        self._money_limited = live.guard.caps.max_cost_micros is not None or live.limits.has_budget
        #: (no money limit) when a tick prices the session next
        self._reprice_at = float("-inf")
        #: the time the cost was last priced at (a per-minute voice price grows with it: never priced backwards)
        self._priced_at = float("-inf")
        #: the last tick's time (what a checkpoint's pricing takes as now)
        self._ticked_at = float("-inf")
        #: a cost cap and no budget: a tick that decided nothing sets a horizon (:mod:`gateway.accounting.horizon`),
        #: and the ticks inside it only compare the counters against it (a budget follows the tenant's other
        #: sessions and the store, so a budgeted session is priced on every tick)
        self._horizon_ok = live.guard.caps.max_cost_micros is not None and not live.limits.has_budget
        #: where the ticks may skip pricing (``None``: the next tick prices); any event clears it
        self._horizon: Horizon | None = None
        if not self._money_limited or self._horizon_ok:
            live.price_now = self._price_for_checkpoint

    async def on_event(self, event: SessionEvent, stats: SessionStats) -> Verdict:
        return self.event_now(event, stats)

    def event_now(self, event: SessionEvent, stats: SessionStats) -> Verdict:
        self._horizon = None  # an event may move the meter, the allowance's stamp or the timeline: decide afresh
        verdict = self._on_event(event, stats)
        live = self.live
        if live.timeline is not None:
            if not self._money_limited and live.meter is not None:  # the turn summaries get a current figure
                self._price(max(event.at, self._priced_at), stats)
            live.timeline.observe(event, live.cost_micros)
        return verdict

    def _on_event(self, event: SessionEvent, stats: SessionStats) -> Verdict:
        meter = self.live.meter
        self.live.stats = stats
        if meter is None:
            return Terminate(UnknownModel("The served model has no known price on this gateway."))
        if isinstance(event, UpstreamReady) and event.served_model:
            self.live.served_model = event.served_model
            served = self._prices.model(event.served_model)
            if served is not None:  # unknown and no fallback: keep the routed model's price, never zero
                meter.reprice(served)
        elif isinstance(event, ResponseDone):
            meter.on_response_usage(event.usage)
            self._responses_metered += 1
            return self._decide(event.at, stats, flush=True)
        elif isinstance(event, TranscriptionCompleted):
            meter.on_transcription_usage(event.usage)
            return self._decide(event.at, stats, flush=True)
        elif isinstance(event, GatewayToolDone):
            self.live.tool_calls.append(tool_call_entry(event))
        elif isinstance(event, FunctionCallRequested):
            self.live.tool_calls.append({"name": event.name, "executor": "client"})
        elif isinstance(event, HandedOff):
            return self._handed_off(event, stats)
        elif isinstance(event, RetiredUsage):  # the old model's reply, reported after a handoff: at its price
            meter.retired_usage(event.model, self._prices.model(event.model), event.usage)
            return self._decide(event.at, stats, flush=True)
        return None

    def _handed_off(self, event: HandedOff, stats: SessionStats) -> Verdict:
        """Seal the old model's cost at its price; bill the new one at its own; caps keep counting the whole session."""
        live = self.live
        entry: dict[str, object] = {
            "from_route": event.from_route, "to_route": event.to_route, "trigger": event.trigger, "ok": event.ok,
        }
        live.handoffs.append(entry)
        if stats.switch_pricing is not None and stats.switch_pricing[0] == event.to_model:
            stats.switch_pricing = None  # metered (or failed): the meter's own price is the served model's from here
        if not event.ok or live.meter is None:
            return None
        from_model = live.served_model or event.from_model
        entry["from_model"], entry["to_model"] = from_model, event.to_model
        in_ms = audio_ms(event.audio_in_bytes, stats.input_format)
        out_ms = audio_ms(event.audio_out_bytes, stats.output_format)
        live.meter.hand_off(event.at, from_model, in_ms, out_ms, self._prices.model(event.to_model), event.to_kind)
        live.served_model = event.to_model
        return self._decide(event.at, stats, flush=True)

    async def on_tick(self, now: float, stats: SessionStats) -> Verdict:
        return self.tick_now(now, stats)

    def tick_now(self, now: float, stats: SessionStats) -> Verdict:
        live = self.live
        live.stats = stats
        self._ticked_at = now
        horizon = self._horizon
        if horizon is not None and horizon.holds(now, stats) and stats.switch_pricing is None:
            return None  # no cap, warning or time limit within reach (no segment open, no event since it was set)
        if live.meter is None:
            return Terminate(UnknownModel("The served model has no known price on this gateway."))
        timeline = live.timeline
        if self._money_limited:
            verdict = self._decide(now, stats, flush=False)
            if verdict is None and self._horizon_ok:
                self._set_horizon(now, stats)
        else:
            price = self._ledger.budgeted(live.tenant) or (timeline is not None and timeline.segment_open)
            verdict = self._decide_unpriced(now, stats, price)
        if timeline is not None:
            timeline.tick(now, stats, live.cost_micros)
        return verdict

    def next_tick(self, now: float, stats: SessionStats) -> TickBound | None:
        """(After a tick) when :meth:`tick_now` next has anything to decide or price: with a horizon, its time and
        counters (inside it a tick only compares); without a money limit, the next report pricing while the time caps
        stay calm until then (:meth:`CapGuard.calm`: no cap, warning or idle timeout before it). ``None`` (every tick)
        whenever a tick prices or decides each time: near a limit, a budget (its own or the tenant's), a switch, an open
        translation segment, a per-minute price (a checkpoint prices at the last tick's time)."""
        live = self.live
        meter = live.meter
        if meter is None or meter.timed or stats.switch_pricing is not None:
            return None
        timeline = live.timeline
        if timeline is not None and timeline.segment_open:
            return None
        if self._money_limited:
            horizon = self._horizon
            if horizon is None:
                return None
            return TickBound(
                horizon.until,
                horizon.audio_in_bytes,
                horizon.audio_out_bytes,
                horizon.audio_in_bytes_since_usage,
                horizon.audio_out_bytes_since_usage,
            )
        if self._ledger.budgeted(live.tenant):  # Ledger.add clears the bound when a budget arrives for the tenant
            return None
        at = self._reprice_at
        if not live.guard.calm(0, at, stats.last_activity_at):
            return None
        return TickBound(at)

    def _decide_unpriced(self, now: float, stats: SessionStats, price: bool) -> Verdict:
        """No money limit: the verdict is the time caps' (duration, idle), which do not read the cost; the cost is
        priced every ``REPORT_PERIOD_S``, and when ``price``: another session of the tenant has a budget (this cost
        counts against it), or an open translation segment may end on this tick. The money figures stay what
        ``_decide`` sets them to without a limit: ``None``."""
        live = self.live
        if price or now >= self._reprice_at:
            self._price(now, stats)
        return live.guard.check(now, live.cost_micros, stats.last_activity_at, None)

    def _set_horizon(self, now: float, stats: SessionStats) -> None:
        """(A cost cap, no budget; this tick decided nothing) let the next ticks skip pricing while the session stays
        inside a horizon whose corner's cost (what it can cost at most inside) reaches no cap, warning or time limit,
        and leaves an allowance no reply can exceed (``MAX_OUTPUT_TOKENS``). The money figures then stand at the
        corner's cost: never more generous than the exact ones anywhere inside. Near a limit there is none, and
        every tick prices and decides as before."""
        live = self.live
        meter = live.meter
        cap = live.guard.caps.max_cost_micros
        assert meter is not None and cap is not None
        if stats.switch_pricing is not None or (live.timeline is not None and live.timeline.segment_open):
            return
        horizon = horizon_from(now, stats)
        bound = meter.bound_micros(horizon.until, horizon.corner(stats))
        if not live.guard.calm(bound, horizon.until, stats.last_activity_at):
            return
        remaining = live.guard.remaining(bound, None)
        allowance = self._allowance(remaining, None)
        if allowance is not None and allowance.max_output_tokens < MAX_OUTPUT_TOKENS:
            return
        stats.money_left, stats.response_allowance, stats.cost_share = remaining, allowance, bound / cap
        self._horizon = horizon

    def _price_for_checkpoint(self) -> None:
        """(No money limit, or a horizon: ticks do not price every time) the flush loop is about to checkpoint: price
        from the live counters (the core updates the session's stats in place) at the last tick's time."""
        stats = self.live.stats
        if self.live.meter is not None and stats is not None and not self.live.ended:
            self._price(max(self._ticked_at, self._priced_at), stats)

    def _price(self, now: float, stats: SessionStats) -> None:
        live = self.live
        assert live.meter is not None
        self._ledger.set_cost(live, live.meter.cost_micros(now, stats))
        self._priced_at, self._reprice_at = now, now + REPORT_PERIOD_S

    def _decide(self, now: float, stats: SessionStats, *, flush: bool) -> Verdict:
        live = self.live
        assert live.meter is not None
        self._price(now, stats)
        if flush:
            self._flusher.request_flush()
        budget = self._ledger.projection(live.tenant, live.limits, self._wall())
        remaining = live.guard.remaining(live.cost_micros, budget)
        stats.money_left = remaining
        stats.response_allowance = self._allowance(remaining, stats.switch_pricing)
        cap = live.guard.caps.max_cost_micros
        stats.cost_share = live.cost_micros / cap if cap else None
        worst = budget.worst() if budget is not None else None
        stats.budget_share = worst[0] / worst[1] if worst is not None and worst[1] > 0 else None
        return live.guard.check(now, live.cost_micros, stats.last_activity_at, budget)

    def _allowance(
        self, remaining: tuple[int, bool] | None, switching: tuple[str, Pricing] | None
    ) -> ResponseAllowance | None:
        """What the next response may cost: the nearest money limit at the served model's output price (during a
        switch not yet metered: at the dearer of it and the target's; a translation model, priced by the minute,
        pays for no tokens)."""
        meter = self.live.meter
        if remaining is None or meter is None:
            return None
        micros, by_budget = remaining
        tokens = affordable_output_tokens(micros, meter.pricing)
        if switching is not None:
            target = affordable_output_tokens(micros, switching[1])
            if tokens is None or (target is not None and target < tokens):
                tokens = target
        if tokens is None:
            return None
        return ResponseAllowance(
            max_output_tokens=tokens,
            remaining_micros=micros,
            by_budget=by_budget,
            responses_metered=self._responses_metered,
        )

    async def on_end(self, ended: SessionEnded, stats: SessionStats) -> None:
        live = self.live
        live.stats = stats
        if live.meter is not None:
            self._ledger.set_cost(live, live.meter.cost_micros(ended.at, stats))
        if live.timeline is not None:
            live.timeline.close(live.cost_micros)
        await self._flusher.finish(live, ended)


class AccountingObserverFactory:
    """Registered once at start-up; creates one observer per session."""

    name = "accounting"

    def __init__(
        self, ledger: Ledger, prices: PriceBook, flusher: Flusher, wall: Callable[[], float]
    ) -> None:
        self._ledger = ledger
        self._prices = prices
        self._flusher = flusher
        self._wall = wall

    def create(self, info: SessionInfo, now: float) -> AccountingObserver:
        """Meter at the routed model's price (or the fallback); the admission lease supplies the limits."""
        lease = self._ledger.leases.get(info.session_id)
        pricing = self._prices.model(info.route.model)
        meter = Meter(info.kind, pricing, self._prices.asr(pricing), now) if pricing is not None else None
        live = LiveSession(
            info=info,
            tenant=lease.tenant if lease else (info.tenant or info.key_id or ANONYMOUS_TENANT),
            limits=lease.limits if lease else NO_LIMITS,
            meter=meter,
            guard=CapGuard(info.caps, now),
            started_wall=self._wall(),
            lease=lease,
            timeline=TurnLog(now, info.kind),
        )
        self._ledger.add(live)
        return AccountingObserver(live, self._ledger, self._prices, self._flusher, self._wall)
