"""A cost-capped session's decision horizon: ticks inside it decide exactly what full pricing would, never later."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.support.accounting import SPEC_USAGE, catalog, info

from gateway.accounting.caps import default_caps
from gateway.accounting.horizon import HORIZON_S, horizon_from
from gateway.accounting.ledger import Ledger, LiveSession
from gateway.accounting.meter import PriceBook
from gateway.accounting.observer import AccountingObserver, AccountingObserverFactory
from gateway.core.kinds import SessionKind
from gateway.core.observers import Notify, ResponseDone, SessionEnded, SessionStats, Terminate, Verdict
from gateway.core.routing import Caps


class Flusher:
    """Takes flush requests and ends (nothing to store here)."""

    def request_flush(self) -> None:
        pass

    async def finish(self, live: LiveSession, ended: SessionEnded) -> None:
        pass


def _observer(caps: Caps, kind: SessionKind = SessionKind.REALTIME, model: str = "gpt-realtime-2") -> AccountingObserver:
    factory = AccountingObserverFactory(Ledger(), PriceBook(catalog()), Flusher(), lambda: 1_700_000_000.0)
    return factory.create(info(kind=kind, model=model, caps=caps), now=0.0)


def _full(caps: Caps, kind: SessionKind = SessionKind.REALTIME, model: str = "gpt-realtime-2") -> AccountingObserver:
    """The same observer pricing and deciding on every tick (no horizon): the reference."""
    obs = _observer(caps, kind, model)
    obs._horizon_ok = False  # noqa: SLF001 - the reference computation the horizon is checked against
    return obs


def _what(verdict: Verdict) -> object:
    if isinstance(verdict, Terminate):
        return type(verdict.error)
    if isinstance(verdict, Notify):
        return verdict.event["cap"]
    return None


#: one step: seconds passed, client and upstream audio bytes relayed meanwhile (bursts far above real time
#: included), and whether a reply ended with usage (its since-usage counters reset)
AUDIO = st.one_of(st.just(0), st.integers(0, 10_000), st.integers(0, 200_000))
STEP = st.tuples(st.floats(min_value=0.01, max_value=0.6), AUDIO, AUDIO, st.booleans())


@settings(max_examples=300, deadline=None)
@given(
    cap=st.integers(1, 400_000) | st.integers(400_000, 4_000_000),  # below and above where horizons are set
    duration=st.none() | st.floats(min_value=1.0, max_value=30.0),
    idle=st.none() | st.floats(min_value=0.5, max_value=10.0),
    warn=st.sampled_from([0.5, 0.8, 1.0]),
    pcmu=st.booleans(),
    steps=st.lists(STEP, min_size=1, max_size=80),
)
def test_ticks_inside_a_horizon_decide_what_full_pricing_decides_and_are_never_more_generous(
    cap: int, duration: float | None, idle: float | None, warn: float, pcmu: bool,
    steps: list[tuple[float, int, int, bool]],
) -> None:
    """Random audio (bursts, silence, usage resets) and time under a cost cap and time caps: every tick's verdict is
    the full computation's, what is left, the allowance and the cap's share are never more generous, and the cost a
    checkpoint prices is exact."""
    caps = default_caps(None, duration, idle, warn)
    caps = Caps(max_cost_micros=cap, max_duration_s=caps.max_duration_s, idle_timeout_s=caps.idle_timeout_s,
                warn_ratio=warn)
    cheap, full = _observer(caps), _full(caps)
    fmt = "audio/pcmu" if pcmu else "audio/pcm"
    a, b = (SessionStats(started_at=0.0, last_activity_at=0.0, input_format=fmt, output_format=fmt) for _ in "ab")
    now, replies = 0.0, 0
    for dt, audio_in, audio_out, reply in steps:
        now += dt
        for s in (a, b):
            s.audio_in_bytes += audio_in
            s.audio_out_bytes += audio_out
            s.audio_in_bytes_since_usage += audio_in
            s.audio_out_bytes_since_usage += audio_out
            if audio_in:
                s.last_activity_at = now
        if reply:
            replies += 1
            done = ResponseDone(at=now, response_id=f"resp_{replies}", status="completed", usage=SPEC_USAGE)
            for s in (a, b):
                s.responses += 1
                s.audio_in_bytes_since_usage = s.audio_out_bytes_since_usage = 0
            assert _what(cheap.event_now(done, a)) == _what(full.event_now(done, b))
        verdict = cheap.tick_now(now, a)
        assert _what(verdict) == _what(full.tick_now(now, b))
        if a.money_left is not None and b.money_left is not None:
            assert a.money_left[0] <= b.money_left[0]
        if b.response_allowance is not None:
            assert a.response_allowance is not None
            assert a.response_allowance.max_output_tokens <= b.response_allowance.max_output_tokens
            assert a.response_allowance.responses_metered == b.response_allowance.responses_metered
        assert (a.cost_share or 0.0) >= (b.cost_share or 0.0)
        if isinstance(verdict, Terminate):
            break
    price_now = cheap.live.price_now
    assert price_now is not None
    price_now()
    assert cheap.live.cost_micros == full.live.cost_micros


def test_a_tick_inside_the_horizon_prices_nothing_and_one_past_it_prices_again() -> None:
    """Real-time audio under a roomy cap: the first tick prices and sets a horizon; the ticks inside it compare
    counters only; the tick whose counters pass the corner prices again."""
    obs = _observer(Caps(max_cost_micros=10_000_000))
    meter = obs.live.meter
    assert meter is not None
    priced: list[float] = []
    price = meter.cost_micros

    def counted(now: float, stats: SessionStats) -> int:
        priced.append(now)
        return price(now, stats)

    meter.cost_micros = counted  # type: ignore[method-assign]
    s = SessionStats(started_at=0.0, last_activity_at=0.0)
    per_tick = 4_800  # 100 ms of PCM16 24 kHz each way
    ticks = [round(0.1 * n, 1) for n in range(1, 31)]
    for now in ticks:
        s.audio_in_bytes += per_tick
        s.audio_out_bytes += per_tick
        s.audio_in_bytes_since_usage += per_tick
        s.audio_out_bytes_since_usage += per_tick
        s.last_activity_at = now
        assert obs.tick_now(now, s) is None
    span = int(HORIZON_S * 10)  # ticks a horizon spans at real time: its time bound ends it as its counters reach it
    assert priced == [ticks[0], ticks[span]]


def test_no_horizon_near_the_cap_every_tick_prices_as_before() -> None:
    """What is left pays for fewer output tokens than a reply may ask for: every tick prices and decides."""
    obs = _observer(Caps(max_cost_micros=200_000))  # ~3,100 output tokens at $64 / 1M: below MAX_OUTPUT_TOKENS
    s = SessionStats(started_at=0.0, last_activity_at=0.0)
    for n in range(1, 6):
        s.audio_out_bytes += 4_800
        s.audio_out_bytes_since_usage += 4_800
        obs.tick_now(0.1 * n, s)
        assert obs._horizon is None  # noqa: SLF001
        assert s.money_left == (200_000 - obs.live.cost_micros, False)


def test_the_horizon_spans_its_seconds_of_audio_at_the_sessions_formats() -> None:
    """The corner is HORIZON_S of audio past each counter at its own format's byte rate, and HORIZON_S later."""
    s = SessionStats(started_at=0.0, last_activity_at=0.0, input_format="audio/pcmu", output_format="audio/pcm")
    s.audio_in_bytes, s.audio_out_bytes = 100, 200
    horizon = horizon_from(5.0, s)
    assert horizon.audio_in_bytes == 100 + int(8_000 * HORIZON_S)
    assert horizon.audio_out_bytes == 200 + int(48_000 * HORIZON_S)
    assert horizon.until == 5.0 + HORIZON_S
    assert horizon.holds(5.0, s) and not horizon.holds(5.0 + HORIZON_S, s)
    s.output_format = "audio/pcmu"
    assert not horizon.holds(5.0, s)


@settings(max_examples=200, deadline=None)
@given(
    cap=st.none() | st.integers(1, 400_000) | st.integers(400_000, 4_000_000),
    duration=st.none() | st.floats(min_value=1.0, max_value=30.0),
    idle=st.none() | st.floats(min_value=0.5, max_value=10.0),
    warn=st.sampled_from([0.5, 0.8, 1.0]),
    steps=st.lists(STEP, min_size=1, max_size=40),
    probe=st.floats(min_value=0.0, max_value=1.0),
)
def test_a_tick_inside_the_published_bound_decides_prices_and_changes_nothing(
    cap: int | None, duration: float | None, idle: float | None, warn: float,
    steps: list[tuple[float, int, int, bool]], probe: float,
) -> None:
    """After any tick the observer's ``next_tick`` bound is never later than its real due time: a tick at a random
    time before the bound, with counters anywhere within it, answers nothing and leaves the cost and every money
    figure as they were (a cap, warning, idle timeout or pricing due there would show)."""
    caps = Caps(max_cost_micros=cap, max_duration_s=duration, idle_timeout_s=idle, warn_ratio=warn)
    obs = _observer(caps)
    stats = SessionStats(started_at=0.0, last_activity_at=0.0)
    now = 0.0
    for dt, client, upstream, usage in steps:
        now += dt
        stats.audio_in_bytes += client
        stats.audio_in_bytes_since_usage += client
        stats.audio_out_bytes += upstream
        stats.audio_out_bytes_since_usage += upstream
        if client or upstream:
            stats.last_activity_at = now
        if usage:
            obs.event_now(ResponseDone(at=now, response_id="r", status="completed", usage=SPEC_USAGE), stats)
            stats.audio_in_bytes_since_usage = stats.audio_out_bytes_since_usage = 0
        if obs.tick_now(now, stats) is not None:
            return
        bound = obs.next_tick(now, stats)
        if bound is None or bound.at == float("inf"):
            continue
        later = now + (min(bound.at, now + 5.0) - now) * probe
        if later >= bound.at:
            continue
        inside = SessionStats(started_at=0.0, last_activity_at=stats.last_activity_at)
        for name, top in (("audio_in_bytes", bound.audio_in_bytes), ("audio_out_bytes", bound.audio_out_bytes),
                          ("audio_in_bytes_since_usage", bound.audio_in_bytes_since_usage),
                          ("audio_out_bytes_since_usage", bound.audio_out_bytes_since_usage)):
            here = getattr(stats, name)
            setattr(inside, name, here + int((min(top, here + 10**6) - here) * probe))
        inside.input_format, inside.output_format = stats.input_format, stats.output_format
        inside.money_left, inside.response_allowance, inside.cost_share = stats.money_left, stats.response_allowance, stats.cost_share
        assert bound.holds(later, inside)
        cost = obs.live.cost_micros
        assert obs.tick_now(later, inside) is None
        assert obs.live.cost_micros == cost
        assert (inside.money_left, inside.response_allowance, inside.cost_share) == (
            stats.money_left, stats.response_allowance, stats.cost_share)
        obs.tick_now(now, stats)  # back on the script's own counters (a tick that changes nothing more)
