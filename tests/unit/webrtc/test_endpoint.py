"""The call endpoints: raw and multipart SDP offers, refusal bodies, answers with a Location."""

from __future__ import annotations

import json

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from gateway.core.errors import GatewayError
from gateway.core.kinds import EndpointKind
from gateway.core.ratelimit import LocalFailureLimiter
from gateway.inbound.webrtc import webrtc_router
from gateway.webrtc.call import INPUT_PREFETCH_FRAMES, answer_offer, shorten_input_jitter_buffer
from gateway.inbound.webrtc.endpoint import Offer, handshake_for, read_offer
from tests.support.services import KEY, StubInbound, gateway_services
from tests.unit.telemetry.conftest import make_traced

SDP = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"


def _parser_app() -> TestClient:
    app = FastAPI()

    @app.post("/parse")
    async def parse(request: Request) -> dict[str, object]:
        offer = await read_offer(request)
        handshake, session = handshake_for(request, EndpointKind.REALTIME, offer)
        return {"sdp": offer.sdp, "session": session, "query": dict(handshake.query)}

    return TestClient(app)


def test_raw_sdp_body_is_the_offer() -> None:
    """``application/sdp``: the body is the offer; no session config."""
    reply = _parser_app().post("/parse?model=gpt-realtime", content=SDP, headers={"content-type": "application/sdp"})
    assert reply.status_code == 200
    assert reply.json() == {"sdp": SDP, "session": None, "query": {"model": "gpt-realtime"}}


def test_multipart_offer_carries_the_session_and_its_model_moves_to_the_query() -> None:
    """multipart ``sdp`` + ``session``: the session is kept (minus model, which routes the call)."""
    session = {"type": "realtime", "model": "gpt-realtime-2", "instructions": "Be brief."}
    reply = _parser_app().post("/parse", files={"sdp": (None, SDP), "session": (None, json.dumps(session))})
    assert reply.status_code == 200
    body = reply.json()
    assert body["sdp"] == SDP
    assert body["session"] == {"type": "realtime", "instructions": "Be brief."}
    assert body["query"] == {"model": "gpt-realtime-2"}


def test_multipart_transcription_session_declares_its_intent() -> None:
    """A ``type: transcription`` session config declares the transcription intent for routing."""
    session = {"type": "transcription"}
    reply = _parser_app().post("/parse", files={"sdp": ("offer.sdp", SDP.encode()), "session": (None, json.dumps(session))})
    assert reply.json()["query"] == {"intent": "transcription"}


def test_direct_offer_object_round_trip() -> None:
    """Offer is a plain value object (no session unless given)."""
    assert Offer(SDP) == Offer(SDP, None)


def _gateway(svc: StubInbound, **parts: object) -> TestClient:
    app = FastAPI()
    app.include_router(webrtc_router())
    app.state.services = gateway_services(svc, **parts)  # type: ignore[arg-type]
    return TestClient(app)


@pytest.mark.parametrize(
    "headers,body,status,code,param",
    [
        ({"content-type": "application/json"}, b"{}", 400, "invalid_request_error", None),
        ({"content-type": "application/sdp"}, b"hello", 400, "invalid_request_error", "sdp"),
        ({"content-type": "application/sdp"}, SDP.encode(), 401, "invalid_api_key", None),
        ({"content-type": "application/sdp", "authorization": "Bearer wrong"}, SDP.encode(), 401, "invalid_api_key", None),
    ],
)
def test_refusals_are_openai_shaped_json(headers: dict[str, str], body: bytes, status: int, code: str, param: str | None) -> None:
    """Bad bodies → 400, missing or wrong key → 401, each with an OpenAI ``error`` object."""
    reply = _gateway(StubInbound()).post("/v1/realtime/calls", content=body, headers=headers)
    assert reply.status_code == status
    error = reply.json()["error"]
    assert error["code"] == code and error["param"] == param and error["message"]
    assert KEY not in reply.text


def test_invalid_session_part_is_refused_with_param_session() -> None:
    """A ``session`` part that is not a JSON object → 400 naming ``session``."""
    reply = _gateway(StubInbound()).post(
        "/v1/realtime/calls", files={"sdp": (None, SDP), "session": (None, "[1,2]")}, headers={"authorization": f"Bearer {KEY}"}
    )
    assert reply.status_code == 400 and reply.json()["error"]["param"] == "session"


def test_draining_gateway_refuses_with_503() -> None:
    """A draining gateway answers 503 ``server_shutting_down``."""
    reply = _gateway(StubInbound(draining=True)).post(
        "/v1/realtime/calls", content=SDP, headers={"content-type": "application/sdp", "authorization": f"Bearer {KEY}"}
    )
    assert reply.status_code == 503 and reply.json()["error"]["code"] == "server_shutting_down"


def test_policy_denial_is_403_with_the_rule_reason() -> None:
    """A route denied by policy answers 403 with the policy's client-facing reason."""
    reply = _gateway(StubInbound(deny=True)).post(
        "/v1/realtime/translations/calls", content=SDP, headers={"content-type": "application/sdp", "authorization": f"Bearer {KEY}"}
    )
    assert reply.status_code == 403
    error = reply.json()["error"]
    assert (error["code"], error["message"]) == ("policy_denied", "Not here.")


async def test_answer_is_complete_sendrecv_audio_with_the_events_channel() -> None:
    """A browser-like offer (audio sendrecv + data channel) gets a complete answer: candidates gathered."""
    offerer = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    offerer.addTransceiver("audio", direction="sendrecv")
    offerer.createDataChannel("oai-events")
    await offerer.setLocalDescription(await offerer.createOffer())
    call = await answer_offer(offerer.localDescription.sdp, translation=False)
    try:
        sdp = call.answer_sdp
        assert "m=audio" in sdp and "a=sendrecv" in sdp and "m=application" in sdp
        assert "a=candidate:" in sdp and "opus/48000" in sdp.lower()
        assert "stun" not in sdp.lower()
    finally:
        await call.socket.close(1000, "")
        await offerer.close()


async def test_unusable_offer_raises_value_error() -> None:
    """An SDP that aiortc cannot answer is a ValueError (the endpoint turns it into a 400)."""
    with pytest.raises(ValueError):
        await answer_offer(SDP, translation=False)


def test_microphone_jitter_buffer_is_shortened() -> None:
    """aiortc's receiver still has the jitter buffer we shorten (fails loudly if an upgrade moves it)."""
    from aiortc import RTCRtpReceiver
    from aiortc.rtcdtlstransport import RTCCertificate, RTCDtlsTransport
    from aiortc.rtcicetransport import RTCIceGatherer, RTCIceTransport

    transport = RTCDtlsTransport(RTCIceTransport(RTCIceGatherer()), [RTCCertificate.generateCertificate()])
    receiver = RTCRtpReceiver("audio", transport)
    assert shorten_input_jitter_buffer(receiver) is True
    assert receiver._RTCRtpReceiver__jitter_buffer._prefetch == INPUT_PREFETCH_FRAMES  # type: ignore[attr-defined]


def test_refused_calls_reach_the_refusal_metric_and_auth_failure_limiting() -> None:
    """Wrong keys on WebRTC calls count as auth failures (the next call from that address gets 429, even with a good
    key) and every refusal is counted in the admission-refused metric with its reason and endpoint."""
    traced = make_traced()
    try:
        telemetry = traced.telemetry

        def record(error: GatewayError, endpoint: EndpointKind) -> None:
            telemetry.record_admission_refused(error.code, endpoint=endpoint.value)

        gateway = _gateway(StubInbound(), limiter=LocalFailureLimiter(max_failures=2, window_s=60.0), on_refused=record)
        sdp = {"content-type": "application/sdp"}
        for _ in range(2):
            wrong = gateway.post("/v1/realtime/calls", content=SDP, headers={**sdp, "authorization": "Bearer wrong"})
            assert wrong.status_code == 401
        blocked = gateway.post("/v1/realtime/translations/calls", content=SDP, headers={**sdp, "authorization": f"Bearer {KEY}"})
        assert blocked.status_code == 429 and blocked.json()["error"]["code"] == "rate_limit_exceeded"
        body = telemetry.render_metrics()[0].decode()
        assert 'voice_gateway_admission_refusals_total{endpoint="realtime",reason="invalid_api_key"} 2.0' in body
        assert 'voice_gateway_admission_refusals_total{endpoint="translations",reason="rate_limit_exceeded"} 1.0' in body
    finally:
        traced.telemetry.shutdown()
