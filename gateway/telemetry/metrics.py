"""The gateway's OpenTelemetry instruments, fed from events, ticks and out-of-band hooks.

Only low-cardinality attributes (kind, endpoint, route rule id, model family, reason, status,
direction); never a session id. Nothing here runs per frame: frame and byte counts arrive as
deltas of the session counters, at most once a second per session, and are summed in process
(:class:`SummedCounter`): the SDK reads the sums when it collects, instead of handling every
session's every delta.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from opentelemetry.metrics import CallbackOptions, Counter, Histogram, Meter, Observation

from gateway.telemetry import names as n

Attrs = Mapping[str, str]

#: seconds; a voice turn's first audio usually lands between 0.2 s and 2 s
LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
#: seconds; the gateway's own added delay should be well under a millisecond
RELAY_DELAY_BUCKETS = (
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
)
_TO_UPSTREAM = {"direction": "client_to_upstream"}
_TO_CLIENT = {"direction": "upstream_to_client"}


@dataclass(slots=True)
class _Sum:
    attributes: dict[str, str]
    total: float


class SummedCounter:
    """A monotonic counter summed here and reported when the SDK collects (an observable counter).

    ``add`` is a dictionary update: no attribute validation, lock or aggregation lookup per call, which is what
    a ``Counter.add`` costs for every session's flush. The exported series are the same as a counter's.
    """

    def __init__(self, meter: Meter, name: str, unit: str, description: str) -> None:
        #: attribute set → its attributes and running total
        self._totals: dict[frozenset[tuple[str, str]], _Sum] = {}
        meter.create_observable_counter(name, callbacks=[self._observe], unit=unit, description=description)

    def add(self, amount: float, attributes: Attrs) -> None:
        """Add a positive ``amount`` (others are ignored, as a counter ignores them)."""
        if amount > 0:
            self._add(amount, attributes)

    def _add(self, amount: float, attributes: Attrs) -> None:
        key = frozenset(attributes.items())
        entry = self._totals.get(key)
        if entry is None:
            self._totals[key] = _Sum(dict(attributes), amount)
        else:
            entry.total += amount

    def _observe(self, _options: CallbackOptions) -> Iterable[Observation]:
        for entry in list(self._totals.values()):  # a collection may run on the exporter's thread
            yield Observation(entry.total, entry.attributes)


class SummedUpDownCounter(SummedCounter):
    """An up-down counter summed here and reported when the SDK collects (an observable up-down counter): the
    same exported series as an ``UpDownCounter``, at a dictionary update per ``add`` (sessions in progress move
    on every set-up and every end)."""

    def __init__(self, meter: Meter, name: str, unit: str, description: str) -> None:
        self._totals = {}
        meter.create_observable_up_down_counter(name, callbacks=[self._observe], unit=unit, description=description)

    def add(self, amount: float, attributes: Attrs) -> None:
        """Add ``amount``, positive or negative."""
        if amount:
            self._add(amount, attributes)


class _Instruments:
    """Creates instruments on one meter: a name, a unit and a description each (and a histogram's buckets)."""

    def __init__(self, meter: Meter) -> None:
        self._meter = meter

    def counter(self, name: str, unit: str, description: str) -> Counter:
        return self._meter.create_counter(name, unit=unit, description=description)

    def histogram(self, name: str, unit: str, description: str, buckets: Sequence[float] | None = None) -> Histogram:
        return self._meter.create_histogram(
            name, unit=unit, description=description, explicit_bucket_boundaries_advisory=buckets
        )


class GatewayMetrics:
    """All instruments, created once per meter provider."""

    def __init__(self, meter: Meter) -> None:
        make = _Instruments(meter)
        counter, histogram = make.counter, make.histogram
        # moved on every set-up and every end: summed here, not by the SDK per session
        self.active = SummedUpDownCounter(meter, n.M_ACTIVE, "{session}", "Sessions in progress")
        self.started = SummedCounter(meter, n.M_STARTED, "{session}", "Sessions started")
        self.ended = SummedCounter(meter, n.M_ENDED, "{session}", "Sessions ended, by reason")
        self.frames = SummedCounter(meter, n.M_FRAMES, "{frame}", "Frames relayed, by direction")
        self.bytes = SummedCounter(meter, n.M_BYTES, "By", "Bytes relayed, by direction")
        self.audio = SummedCounter(meter, n.M_AUDIO, "s", "Audio relayed, by direction")
        self.relay_delay = histogram(
            n.M_RELAY_DELAY,
            "s",
            "Delay the gateway adds between receiving and forwarding a frame (sampled)",
            RELAY_DELAY_BUCKETS,
        )
        self.ttfa = histogram(
            n.M_TTFA, "s", "From end of user input to the first output audio of the response", LATENCY_BUCKETS
        )
        self.turns = counter(n.M_TURNS, "{turn}", "Turns (responses) ended, by status")
        self.interruptions = counter(n.M_INTERRUPTIONS, "{interruption}", "Barge-ins")
        self.barge_in_talk_over = histogram(
            n.M_BARGE_IN_TALK_OVER,
            "s",
            "Barge-in talk-over: from the user's speech start to the end of the agent's audio at the listener (estimated), by who stopped it",
            LATENCY_BUCKETS,
        )
        self.tool_calls = counter(n.M_TOOL_CALLS, "{call}", "Function calls, by outcome")
        self.gateway_tool_calls = counter(
            n.M_GATEWAY_TOOL_CALLS, "{call}", "Gateway-side tool calls, by tool, server, outcome and cache hit"
        )
        self.gateway_tool_latency = histogram(
            n.M_GATEWAY_TOOL_LATENCY, "ms", "Gateway-side tool call duration (cache hits included)"
        )
        self.gateway_tool_fillers = counter(
            n.M_GATEWAY_TOOL_FILLERS, "{response}", "Spoken fillers asked for while a gateway tool was slow"
        )
        self.tokens = counter(n.M_TOKENS, "{token}", "Tokens reported by upstream")
        self.cost = SummedCounter(meter, n.M_COST, "{usd_micro}", "Cost accrued, micro-dollars")
        self.transcription_latency = histogram(
            n.M_TRANSCRIPTION_LATENCY,
            "s",
            "From end of input (speech stop or commit) to the completed transcript",
            LATENCY_BUCKETS,
        )
        self.translation_latency = histogram(
            n.M_TRANSLATION_LATENCY,
            "s",
            "From source audio sent to the first translated output of a segment",
            LATENCY_BUCKETS,
        )
        self.cap_warnings = counter(n.M_CAP_WARNINGS, "{warning}", "Cap warnings sent")
        self.cap_cutoffs = counter(n.M_CAP_CUTOFFS, "{session}", "Sessions cut off by a cap")
        self.policy_reloads = counter(n.M_POLICY_RELOADS, "{reload}", "Policy reloads, by outcome")
        self.upstream_connect_failures = counter(n.M_UPSTREAM_CONNECT_FAILURES, "{failure}", "Failed upstream connects")
        self.admission_refusals = counter(
            n.M_ADMISSION_REFUSALS, "{session}", "Sessions refused at admission, by reason"
        )
        self.errors = counter(n.M_ERRORS, "{error}", "error events, by code and source")
        self._meter = meter
        self._store_checks: list[Callable[[], bool]] = []
        meter.create_observable_gauge(
            n.M_STORE_UP,
            callbacks=[self._observe_store],
            unit="1",
            description="1 when the shared store (Redis) answered its last call, else 0",
        )

    def watch_store(self, healthy: Callable[[], bool]) -> None:
        """Report the store's health on every collection (``voice_gateway_store_up``)."""
        self._store_checks.append(healthy)

    def _observe_store(self, _options: CallbackOptions) -> Iterable[Observation]:
        for check in self._store_checks:
            yield Observation(1 if check() else 0)

    def relayed(
        self,
        d_frames_in: int,
        d_frames_out: int,
        d_bytes_in: int,
        d_bytes_out: int,
        d_audio_in_s: float,
        d_audio_out_s: float,
    ) -> None:
        """Add counter deltas in both directions (zeros are skipped)."""
        if d_frames_in:
            self.frames.add(d_frames_in, _TO_UPSTREAM)
        if d_frames_out:
            self.frames.add(d_frames_out, _TO_CLIENT)
        if d_bytes_in:
            self.bytes.add(d_bytes_in, _TO_UPSTREAM)
        if d_bytes_out:
            self.bytes.add(d_bytes_out, _TO_CLIENT)
        if d_audio_in_s > 0:
            self.audio.add(d_audio_in_s, _TO_UPSTREAM)
        if d_audio_out_s > 0:
            self.audio.add(d_audio_out_s, _TO_CLIENT)
