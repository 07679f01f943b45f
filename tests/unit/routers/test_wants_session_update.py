"""When routing must wait for the client's first session.update."""

from __future__ import annotations

from typing import Callable

from routers import decide, wants_session_update
from routers.compiled import CompiledPolicy
from tests.unit.routers.conftest import request

Compile = Callable[[str], CompiledPolicy]

LANGUAGE_POLICY = """
version: 1
rules:
  - id: suspended
    match: {tenant: evil}
    deny: {reason: suspended}
  - id: korean-captions
    match: {intent: transcription, transcription_language: ko}
    route: {model: gpt-live-transcribe}
  - id: captions
    match: {intent: transcription}
    route: {model: gpt-realtime-whisper}
  - id: agent
    match: {intent: realtime}
    route: {model: gpt-realtime-2}
"""


def test_unknown_kind_wants_session_update(compile_policy: Compile) -> None:
    """No intent and no model in the handshake: hold for the session.update."""
    assert wants_session_update(compile_policy(LANGUAGE_POLICY), request())


def test_known_kind_with_no_session_dependent_rule_does_not_hold(compile_policy: Compile) -> None:
    """A realtime model and only handshake rules ahead: decide now."""
    assert not wants_session_update(compile_policy(LANGUAGE_POLICY), request(requested_model="gpt-realtime-2"))


def test_rule_on_languages_that_could_still_match_holds(compile_policy: Compile) -> None:
    """Captions with a language rule still possible: hold."""
    assert wants_session_update(compile_policy(LANGUAGE_POLICY), request(declared_intent="captions"))


def test_earlier_definite_match_does_not_hold(compile_policy: Compile) -> None:
    """A handshake-only rule that already matches ends the question."""
    assert not wants_session_update(compile_policy(LANGUAGE_POLICY), request(declared_intent="captions", tenant="evil"))


def test_session_dependent_rule_ruled_out_by_handshake_does_not_hold(compile_policy: Compile) -> None:
    """A language rule whose other condition already fails cannot match: no hold."""
    policy = compile_policy(
        "version: 1\nrules: [{id: a, match: {tenant: acme, declares_tools: true}, route: {model: gpt-realtime-2}}]\n"
    )
    assert not wants_session_update(policy, request(requested_model="gpt-realtime-2", tenant="other"))
    assert wants_session_update(policy, request(requested_model="gpt-realtime-2", tenant="acme"))


def test_not_of_unknown_is_unknown(compile_policy: Compile) -> None:
    """`not` over a session attribute is still undecided before the session.update."""
    policy = compile_policy(
        "version: 1\nrules: [{id: a, match: {not: {translation_language: es}}, deny: {reason: denied}}]\n"
    )
    assert wants_session_update(policy, request(requested_model="gpt-realtime-2"))


def test_already_held_request_does_not_hold_again(compile_policy: Compile) -> None:
    """Once first_session_update is filled, the answer is no."""
    req = request(declared_intent="captions", first_session_update={"type": "transcription"})
    assert not wants_session_update(compile_policy(LANGUAGE_POLICY), req)


def test_decision_after_hold_uses_the_session_update(compile_policy: Compile) -> None:
    """After the hold, the language decides between the two caption routes."""
    policy = compile_policy(LANGUAGE_POLICY)
    session = {"type": "transcription", "audio": {"input": {"transcription": {"model": "x", "language": "ko"}}}}
    held = decide(policy, request(first_session_update=session))
    plain = decide(policy, request(first_session_update={"type": "transcription"}))
    assert held.rule_id == "korean-captions" and plain.rule_id == "captions"


def test_unknown_intent_does_not_hold(compile_policy: Compile) -> None:
    """A refused declaration is final: nothing to wait for."""
    assert not wants_session_update(compile_policy(LANGUAGE_POLICY), request(declared_intent="nonsense"))


def test_decide_without_session_update_falls_back_to_realtime(compile_policy: Compile) -> None:
    """If the hold produced no session.update, an unclassified /v1/realtime session is a voice agent."""
    decision = decide(compile_policy(LANGUAGE_POLICY), request())
    assert decision.rule_id == "agent" and "default for endpoint realtime" in decision.reason
