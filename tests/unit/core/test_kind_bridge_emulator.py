"""Real emulator sessions replayed through a kind bridge and the session core of the upstream's kind: what the
client gets validates against the official SDK's event models, and the core meters what the upstream really sent."""

from __future__ import annotations

import orjson
from openai.types.beta.realtime import RealtimeServerEvent as BetaServerEvent
from openai.types.realtime import RealtimeServerEvent, RealtimeTranslationServerEvent
from pydantic import TypeAdapter

from gateway.core.jsontypes import JsonObject
from gateway.core.kind_bridge import KindBridge, bridge_for, translation_opening
from gateway.core.kind_bridges.translation_over_agent import agent_opening
from gateway.core.kinds import Dialect, SessionKind
from gateway.core.bridged import BridgedCore
from gateway.core.session import FORWARD, Action, Emit, SessionCore
from gateway.emulator.audio import PCM
from gateway.emulator.machine import Outgoing
from gateway.emulator.realtime import RealtimeSession
from gateway.emulator.script import Script
from gateway.emulator.translation import TranslationSession
from tests.unit.emulator.machine_helpers import quiet, realtime, speech, translation

GA_SERVER = TypeAdapter(RealtimeServerEvent)
BETA_SERVER = TypeAdapter(BetaServerEvent)
TRANSLATION_SERVER = TypeAdapter(RealtimeTranslationServerEvent)


class Chain:
    """client ⇄ BridgedCore (bridge + SessionCore of the upstream's kind, GA) ⇄ emulator machine, frames on a fake clock."""

    def __init__(self, bridge: KindBridge, machine: RealtimeSession | TranslationSession, kind: SessionKind) -> None:
        self.bridge, self.machine = bridge, machine
        self.core = SessionCore(kind=kind, dialect=Dialect.GA, now=0.0)
        self.bridged = BridgedCore(self.core, bridge)
        self.to_client: list[JsonObject] = []
        self.upstream_sent: list[JsonObject] = []
        self.now = 0.0
        self._from_upstream(machine.start(0.0))

    def client(self, event: JsonObject) -> None:
        """One client frame through the bridged core to the emulator."""
        self._apply(self.bridged.from_client(orjson.dumps(event).decode(), self.now))

    def advance(self, seconds: float) -> None:
        """Let time pass: the emulator's due events, then the bridged core's tick."""
        self.now += seconds
        self._from_upstream(self.machine.poll(self.now))
        self._apply(self.bridged.tick(self.now))

    def _apply(self, action: Action) -> None:
        assert action is not FORWARD and action.close is None  # type: ignore[union-attr]
        assert isinstance(action, Emit)
        self.to_client += [orjson.loads(f) for f in action.to_client]
        for frame in action.to_upstream:
            self.upstream_sent.append(orjson.loads(frame))
            self._from_upstream(self.machine.receive(frame, self.now))

    def _from_upstream(self, outgoing: list[Outgoing]) -> None:
        for item in outgoing:
            frame = item if isinstance(item, str) else orjson.dumps(item).decode()
            self._apply(self.bridged.from_upstream(frame, self.now))


def _speak(chain: Chain, ms: int, voiced: bool, step_ms: int = 200) -> None:
    append = "input_audio_buffer.append" if chain.bridge.client_kind is SessionKind.REALTIME else "session.input_audio_buffer.append"
    for offset in range(0, ms, step_ms):
        audio = speech(step_ms, offset) if voiced else quiet(step_ms)
        chain.client({"type": append, "audio": audio})
        chain.advance(step_ms / 1000)


def _agent_on_translation(dialect: Dialect = Dialect.GA) -> Chain:
    # the beta SDK's session model only knows the older transcription model names
    model = "whisper-1" if dialect is Dialect.BETA else "gpt-realtime-whisper"
    session = {"type": "realtime", "audio": {"input": {"transcription": {"model": model}}}}
    bridge = bridge_for(SessionKind.REALTIME, SessionKind.TRANSLATION, dialect=dialect, client_session=session,
                        language="es", seed=11)
    assert bridge is not None
    chain = Chain(bridge, translation(Script(ttfa_ms=400, pace=False)), SessionKind.TRANSLATION)
    # the handoff opens the translation upstream with the client's settings carried over
    chain._from_upstream(chain.machine.receive(orjson.dumps(
        {"type": "session.update", "session": translation_opening("es", session)}), 0.0))
    return chain


def test_translation_replay_validates_as_realtime_events() -> None:
    """Two phrases with a pause, through the bridge: every event is a valid GA realtime server event, two whole responses."""
    chain = _agent_on_translation()
    chain.client({"type": "session.update", "session": {"type": "realtime", "instructions": "ignored by translation"}})
    _speak(chain, 2000, voiced=True)
    _speak(chain, 2000, voiced=False)
    _speak(chain, 1200, voiced=True)
    _speak(chain, 2000, voiced=False)
    chain.advance(2.0)
    for event in chain.to_client:
        GA_SERVER.validate_python(event)
    names = [e["type"] for e in chain.to_client]
    assert names.count("response.created") == names.count("response.done") == 2
    transcripts = [e["transcript"] for e in chain.to_client if e["type"] == "response.output_audio_transcript.done"]
    assert all(transcripts) and all(isinstance(t, str) and not t.startswith(" ") for t in transcripts)
    assert names.count("conversation.item.input_audio_transcription.completed") == 2
    # the responses never overlap: created … done, created … done
    opened = 0
    for name in names:
        opened += name == "response.created"
        opened -= name == "response.done"
        assert opened in (0, 1)
    event_ids = [e["event_id"] for e in chain.to_client]
    assert len(event_ids) == len(set(event_ids))


def test_translation_replay_validates_as_beta_events() -> None:
    """The same replay for a beta client validates against the SDK's beta event models."""
    chain = _agent_on_translation(Dialect.BETA)
    _speak(chain, 1600, voiced=True)
    _speak(chain, 2000, voiced=False)
    chain.advance(2.0)
    assert chain.to_client
    for event in chain.to_client:
        if event["type"] == "session.updated":  # the beta SDK's model literals predate every current model name
            event = {**event, "session": {k: v for k, v in dict(event["session"]).items() if k != "model"}}  # type: ignore[call-overload]
        BETA_SERVER.validate_python(event)
    assert "response.audio.delta" in {e["type"] for e in chain.to_client}


def test_the_core_meters_what_the_upstream_sent_not_what_the_client_saw() -> None:
    """Input audio is metered as appended upstream; output audio as the model sent it, silence the bridge dropped included."""
    chain = _agent_on_translation()
    _speak(chain, 1000, voiced=True)
    _speak(chain, 2000, voiced=False)
    chain.client({"type": "input_audio_buffer.commit"})  # answered by the bridge: nothing reaches the core
    chain.advance(2.0)
    stats = chain.core.stats
    assert stats.audio_in_bytes == 3000 * PCM.bytes_per_ms
    model_out = chain.machine.record.audio_out_bytes
    client_out = sum(len(str(e["delta"])) * 3 // 4 for e in chain.to_client if e["type"] == "response.output_audio.delta")
    assert stats.audio_out_bytes == model_out > client_out > 0
    assert [e["type"] for e in chain.upstream_sent].count("input_audio_buffer.commit") == 0
    assert {e["type"] for e in chain.upstream_sent} <= {"session.input_audio_buffer.append", "session.update"}


def test_agent_replay_validates_as_translation_events() -> None:
    """A translation client on a voice-agent emulator: every event it gets is a valid translation server event."""
    bridge = bridge_for(SessionKind.TRANSLATION, SessionKind.REALTIME, language="fr", seed=5)
    assert bridge is not None
    chain = Chain(bridge, realtime(Script(ttfa_ms=0, pace=False, reply_ms=600, asr_ms=0)), SessionKind.REALTIME)
    opening = {"type": "session.update", "session": agent_opening("fr")}
    chain._from_upstream(chain.machine.receive(orjson.dumps(opening), 0.0))
    chain.client({"type": "session.update", "session": {"audio": {"input": {"transcription": {"model": "gpt-realtime-whisper"}},
                                                                  "output": {"language": "fr"}}}})
    _speak(chain, 1000, voiced=True)
    _speak(chain, 1400, voiced=False)
    chain.advance(3.0)
    chain.client({"type": "session.close"})
    chain.advance(1.0)
    for event in chain.to_client:
        TRANSLATION_SERVER.validate_python(event)
    names = [e["type"] for e in chain.to_client]
    assert "session.output_audio.delta" in names and "session.output_transcript.delta" in names
    assert "session.input_transcript.delta" in names
    assert names[-1] == "session.closed" and "session.created" not in names
    assert chain.core.stats.responses >= 1  # the realtime core saw (and metered) the agent's response.done
