"""Handoff between session kinds, Sans-I/O: which core serves the session after a switch, and what the target gets first.

A session keeps its client's protocol for life: the kind and dialect of its **home** core (the
:class:`~gateway.core.session.SessionCore` the session started with). A switch to a route of the
client's kind is served by the home core itself (:meth:`SessionCore.switch_to`: the client's
settings and the earlier turns replayed). A switch to a route of another kind is served by a new
``SessionCore`` **of the target's kind** (GA dialect, the target's model, price and overrides) behind
a kind bridge (:class:`~gateway.core.bridged.BridgedCore`, docs/handoff.md "Where the bridge sits"),
sharing what is the session's, not the model's: the counters (:class:`SessionStats`: caps, allowance
and spend shares keep counting the whole session), the handoff lifecycle and its held frames, and
the gateway's event-id counter. Such a target gets one ``session.update`` configuring it from the
client's session (through the bridge's mapping) and no conversation replay: a translation model
keeps none; a voice agent serving a translation client is an interpreter with no earlier turns.

The switch itself is the handoff's (:mod:`gateway.core.handoff`); this module only says whether a
kind can serve the session at all (:func:`check_servable`, asked before a target is opened), decides
the driver (:func:`prepare_switch`), hands over at completion (:func:`complete_switch`) and undoes a
prepared switch that failed (:meth:`PreparedSwitch.abandon`). The relay shell does the I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.core.allowance import clamp_session
from gateway.core.bridged import BridgedCore
from gateway.core.errors import NotServedByKind
from gateway.core.jsontypes import JsonObject
from gateway.core.kind_bridge import TranslationOverAgent, bridge_for, translation_opening
from gateway.core.kind_bridges.translation_over_agent import agent_opening
from gateway.core.kinds import Dialect, SessionKind
from gateway.core import session_schema as schema
from gateway.core.frames import encode
from gateway.core.money import affordable_output_tokens
from gateway.core.observers import ResponseAllowance, SessionStats
from gateway.core.overrides import apply_to_session
from gateway.core.ports import Frame
from gateway.core.session import HandoffTarget, SessionCore

#: what the relay drives: a core of the client's kind, or a core of another kind behind a bridge
Driver = SessionCore | BridgedCore
#: the id of the client's view of its session when a bridge takes it over (the gateway's, not an upstream's)
_VIEW_ID = "sess_gw_handoff"


def serving_core(driver: Driver) -> SessionCore:
    """The session core behind a driver (the relay reads stats, events, notices and the allowance from it)."""
    return driver.core if isinstance(driver, BridgedCore) else driver


@dataclass(slots=True)
class PreparedSwitch:
    """A target, open and about to serve: the driver that will serve it and what it gets first."""

    driver: Driver
    #: what the target gets before the held client frames (text)
    frames: list[str]
    #: the home core, when it is the driver (its switch_to replaced its route settings)
    home: SessionCore | None = None
    #: for the client at once: what the old bridge had open, closed (its transcripts are then part of the replay)
    to_client: list[Frame] = field(default_factory=list)

    def abandon(self) -> None:
        """The switch failed after it was prepared: the home core serves with its old route's settings again."""
        serving_core(self.driver).stats.switch_pricing = None  # the stats are the session's, shared by every core
        if self.home is not None:
            self.home.undo_switch()


def prepare_switch(home: SessionCore, old: Driver, target: HandoffTarget, now: float) -> PreparedSwitch:
    """The target is open: the driver that serves it once the held frames are in, and its opening frames.

    ``old`` is the driver serving now: when it is a bridge, what it has open for the client is closed
    first, so the turn in progress is part of what a voice-agent target is told. Raises
    :class:`NotServedByKind` (before anything changes) for a pair no bridge serves: a transcription
    session either side, a voice-agent session in G.711 moving to translation.
    """
    handoff = home.handoff
    assert handoff is not None and handoff.current is not None
    check_servable(home, target.kind)
    if target.pricing is not None:
        home.stats.switch_pricing = (target.model, target.pricing)
    _price_allowance(home.stats, target)
    if target.kind is home.kind:
        closed = old.close_bridge(now) if isinstance(old, BridgedCore) else []
        return PreparedSwitch(home, home.switch_to(target, now), home, closed)
    stats = home.stats
    language = target.language or handoff.conversation.language
    client_session = _client_view(home)
    bridge = bridge_for(home.kind, target.kind, dialect=home.dialect, client_session=client_session, language=language)
    assert bridge is not None  # the kinds differ
    core = SessionCore(
        kind=target.kind, dialect=Dialect.GA, now=now, served_model=target.model, overrides=target.overrides,
        max_message_bytes=home.max_message_bytes, max_frames_per_second=home.max_frames_per_second,
        handoff=handoff, gateway_events=home.gateway_events, stats=stats, ids=home.event_ids, bridge_ids=home.bridge_ids,
    )
    if isinstance(bridge, TranslationOverAgent):
        session = agent_opening(bridge.language)
        apply_to_session(session, target.overrides, SessionKind.REALTIME)
        if stats.response_allowance is not None:  # the interpreter's replies are bounded by what the cap leaves
            session.setdefault("max_output_tokens", "inf")
            clamp_session(session, stats.response_allowance)
    else:
        own = translation_opening(language, handoff.conversation.session)  # what the client set, not the API's defaults
        session = apply_to_session(own, target.overrides, SessionKind.TRANSLATION)
    closed = old.close_bridge(now) if isinstance(old, BridgedCore) else []
    handoff.opened(stats.audio_in_bytes_since_usage)
    core.take_over(target.rules)
    return PreparedSwitch(BridgedCore(core, bridge), [encode(handoff.configuration(session))], to_client=closed)


def check_servable(home: SessionCore, kind: SessionKind) -> None:
    """Raise :class:`NotServedByKind` when the session cannot be served by a model of ``kind`` (checked again by
    :func:`prepare_switch`; the opener asks first, so no upstream is opened for nothing)."""
    stats = home.stats
    if kind is home.kind:
        return
    if SessionKind.TRANSCRIPTION in (kind, home.kind):
        raise NotServedByKind(f"A {home.kind.value} session cannot be served by a {kind.value} model.")
    if home.kind is SessionKind.REALTIME and (stats.input_format != "audio/pcm" or stats.output_format != "audio/pcm"):
        raise NotServedByKind(
            "A translation model takes and gives PCM16 at 24 kHz only; this session's audio is in G.711.",
            param="session.audio.input.format",
        )


def _price_allowance(stats: SessionStats, target: HandoffTarget) -> None:
    """A voice-agent target after a model priced otherwise (translation, by the minute, has no token allowance):
    what the money left pays for at the target's output price, so its configuration and the held replies are
    bounded from the first frame (the observer prices it again once the handoff is metered)."""
    if target.kind is not SessionKind.REALTIME or stats.response_allowance is not None:
        return
    if stats.money_left is None or target.pricing is None:
        return
    micros, by_budget = stats.money_left
    tokens = affordable_output_tokens(micros, target.pricing)
    if tokens is not None:
        stats.response_allowance = ResponseAllowance(tokens, micros, by_budget, responses_metered=stats.responses)


def _client_view(home: SessionCore) -> JsonObject:
    """The session a voice-agent client knows: the API's defaults under the settings it sent (a bridge keeps
    echoing it in ``session.updated``)."""
    handoff = home.handoff
    assert handoff is not None
    model = home.requested_model or home.served_model or ""
    return schema.merged(schema.realtime_session(_VIEW_ID, model, 0), handoff.conversation.session)


def complete_switch(old: Driver, new: Driver, now: float) -> list[Frame]:
    """The target serves the session (its held frames are in): what the client gets now — what the old bridge
    opened since :func:`prepare_switch`, closed, then the ``gateway.handoff`` notice. The old core's pending observer events go first
    to the new core, so the old model's usage is metered before the handoff seals it."""
    out: list[Frame] = []
    old_core, new_core = serving_core(old), serving_core(new)
    if isinstance(old, BridgedCore) and old is not new:
        out += old.close_bridge(now)
    if old_core is not new_core:
        old_core.retire_tools(old_core.tools, now)
        new_core.events[:0] = old_core.take_events()
    notice = new_core.handoff_completed(now)
    if notice is not None:
        out.append(notice)
    return out
