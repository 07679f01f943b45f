"""The gateway's OpenTelemetry instruments, fed from events, ticks and out-of-band hooks.

Only low-cardinality attributes (kind, endpoint, route rule id, model family, reason, status,
direction); never a session id. Nothing here runs per frame: frame and byte counts arrive as
deltas of the session counters, at most once a second per session.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from opentelemetry.metrics import CallbackOptions, Meter, Observation

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


class GatewayMetrics:
    """All instruments, created once per meter provider."""

    def __init__(self, meter: Meter) -> None:
        self.active = meter.create_up_down_counter(
            n.M_ACTIVE, unit="{session}", description="Sessions in progress"
        )
        self.started = meter.create_counter(
            n.M_STARTED, unit="{session}", description="Sessions started"
        )
        self.ended = meter.create_counter(
            n.M_ENDED, unit="{session}", description="Sessions ended, by reason"
        )
        self.frames = meter.create_counter(
            n.M_FRAMES, unit="{frame}", description="Frames relayed, by direction"
        )
        self.bytes = meter.create_counter(
            n.M_BYTES, unit="By", description="Bytes relayed, by direction"
        )
        self.audio = meter.create_counter(
            n.M_AUDIO, unit="s", description="Audio relayed, by direction"
        )
        self.relay_delay = meter.create_histogram(
            n.M_RELAY_DELAY,
            unit="s",
            description="Delay the gateway adds between receiving and forwarding a frame (sampled)",
            explicit_bucket_boundaries_advisory=RELAY_DELAY_BUCKETS,
        )
        self.ttfa = meter.create_histogram(
            n.M_TTFA,
            unit="s",
            description="From end of user input to the first output audio of the response",
            explicit_bucket_boundaries_advisory=LATENCY_BUCKETS,
        )
        self.turns = meter.create_counter(
            n.M_TURNS, unit="{turn}", description="Turns (responses) ended, by status"
        )
        self.interruptions = meter.create_counter(
            n.M_INTERRUPTIONS, unit="{interruption}", description="Barge-ins"
        )
        self.barge_in_talk_over = meter.create_histogram(
            n.M_BARGE_IN_TALK_OVER,
            unit="s",
            description="Barge-in talk-over: from the user's speech start to the end of the agent's audio at the listener (estimated), by who stopped it",
            explicit_bucket_boundaries_advisory=LATENCY_BUCKETS,
        )
        self.tool_calls = meter.create_counter(
            n.M_TOOL_CALLS, unit="{call}", description="Function calls, by outcome"
        )
        self.gateway_tool_calls = meter.create_counter(
            n.M_GATEWAY_TOOL_CALLS, unit="{call}", description="Gateway-side tool calls, by tool, server, outcome and cache hit"
        )
        self.gateway_tool_latency = meter.create_histogram(
            n.M_GATEWAY_TOOL_LATENCY, unit="ms", description="Gateway-side tool call duration (cache hits included)"
        )
        self.gateway_tool_fillers = meter.create_counter(
            n.M_GATEWAY_TOOL_FILLERS, unit="{response}", description="Spoken fillers asked for while a gateway tool was slow"
        )
        self.tokens = meter.create_counter(
            n.M_TOKENS, unit="{token}", description="Tokens reported by upstream"
        )
        self.cost = meter.create_counter(
            n.M_COST, unit="{usd_micro}", description="Cost accrued, micro-dollars"
        )
        self.transcription_latency = meter.create_histogram(
            n.M_TRANSCRIPTION_LATENCY,
            unit="s",
            description="From end of input (speech stop or commit) to the completed transcript",
            explicit_bucket_boundaries_advisory=LATENCY_BUCKETS,
        )
        self.translation_latency = meter.create_histogram(
            n.M_TRANSLATION_LATENCY,
            unit="s",
            description="From source audio sent to the first translated output of a segment",
            explicit_bucket_boundaries_advisory=LATENCY_BUCKETS,
        )
        self.cap_warnings = meter.create_counter(
            n.M_CAP_WARNINGS, unit="{warning}", description="Cap warnings sent"
        )
        self.cap_cutoffs = meter.create_counter(
            n.M_CAP_CUTOFFS, unit="{session}", description="Sessions cut off by a cap"
        )
        self.policy_reloads = meter.create_counter(
            n.M_POLICY_RELOADS,
            unit="{reload}",
            description="Policy reloads, by outcome",
        )
        self.upstream_connect_failures = meter.create_counter(
            n.M_UPSTREAM_CONNECT_FAILURES,
            unit="{failure}",
            description="Failed upstream connects",
        )
        self.admission_refusals = meter.create_counter(
            n.M_ADMISSION_REFUSALS,
            unit="{session}",
            description="Sessions refused at admission, by reason",
        )
        self.errors = meter.create_counter(
            n.M_ERRORS, unit="{error}", description="error events, by code and source"
        )
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
