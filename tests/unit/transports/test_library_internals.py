"""Fails loudly when the library internals the transports (and the WebRTC media path) rely on change.

pyproject.toml pins upper bounds on uvicorn, picows and aiortc; before raising a bound, this test
says whether what we reach into is still there: uvicorn's WebSocket-upgrade hand-over and the
config/state fields our protocol classes read, picows' server-side ``WSProtocol`` (built directly,
from its private module) fed as a buffered protocol, and aiortc's receiver jitter buffer.
"""

from __future__ import annotations

import datetime
import inspect

import pytest
import uvicorn
from uvicorn.config import Config
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.utils import get_remote_addr
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import Server, ServerState

from gateway.transports.picows.protocol import picows_server_protocol
from gateway.transports.uvicorn_protocols import FlowControlledWebSocket, HeaderTimeoutHttp


async def _app(scope: object, receive: object, send: object) -> None:
    return None


@pytest.mark.parametrize("http_class", [H11Protocol, HttpToolsProtocol])
def test_uvicorn_hands_an_upgrade_to_the_ws_class_with_these_keywords(http_class: type) -> None:
    """Both HTTP protocols build the WebSocket class with config/server_state/app_state, then replay the head."""
    source = inspect.getsource(http_class.handle_websocket_upgrade)
    for needle in ("ws_protocol_class(", "config=self.config", "server_state=self.server_state",
                   "app_state=self.app_state", ".connection_made(self.transport)", "set_protocol(protocol)",
                   ".data_received("):
        assert needle in source, f"{http_class.__name__}.handle_websocket_upgrade no longer has {needle!r}"


def test_uvicorn_config_state_and_helpers_we_read_are_there() -> None:
    """The Config fields, ServerState.connections, get_remote_addr and ProxyHeadersMiddleware(trusted_hosts=)."""
    config = Config(_app, ws_max_size=1024, ws_ping_interval=5.0, ws_ping_timeout=2.0, proxy_headers=True)
    config.load()
    for name in ("loaded_app", "ws_max_size", "ws_ping_interval", "ws_ping_timeout", "proxy_headers",
                 "forwarded_allow_ips", "timeout_keep_alive"):
        assert hasattr(config, name), name
    assert isinstance(ServerState().connections, set)
    assert callable(get_remote_addr)
    assert "trusted_hosts" in inspect.signature(ProxyHeadersMiddleware).parameters
    assert "connection.shutdown()" in inspect.getsource(Server.shutdown)
    assert uvicorn.Server is Server


def test_uvicorn_protocol_internals_our_subclasses_use_are_there() -> None:
    """FlowControlledWebSocket and HeaderTimeoutHttp read and override these uvicorn internals."""
    assert issubclass(FlowControlledWebSocket, WebSocketsSansIOProtocol)
    assert issubclass(HeaderTimeoutHttp, HttpToolsProtocol)
    init = inspect.getsource(WebSocketsSansIOProtocol.__init__)
    for attribute in ("self.conn", "self.queue", "self.writable", "self.handshake_complete", "self.initial_response",
                      "self.close_sent", "self.read_paused", "self.close_timer", "self.loop", "self.config"):
        assert attribute in init, f"WebSocketsSansIOProtocol no longer sets {attribute}"
    assert "disconnected" in inspect.getsource(WebSocketsSansIOProtocol)
    for method in ("send", "connection_lost"):
        assert callable(getattr(WebSocketsSansIOProtocol, method)), method
    for method in ("connection_made", "on_message_begin", "on_headers_complete", "connection_lost"):
        assert callable(getattr(HttpToolsProtocol, method)), method
    assert "self.timeout_keep_alive" in inspect.getsource(HttpToolsProtocol.__init__)


def test_what_the_direct_session_hand_over_mirrors_of_uvicorn_is_unchanged() -> None:
    """HeaderTimeoutHttp hands a session upgrade over itself: uvicorn's parser settings, upgrade test and lazy-built state."""
    init = inspect.getsource(HttpToolsProtocol.__init__)
    assert "httptools.HttpRequestParser(self)" in init and "set_dangerous_leniencies(lenient_data_after_close=True)" in init
    assert list(inspect.signature(HttpToolsProtocol.__init__).parameters) == ["self", "config", "server_state", "app_state", "_loop"]
    upgrade = inspect.getsource(HttpToolsProtocol._get_upgrade) + inspect.getsource(HttpToolsProtocol._should_upgrade)
    for needle in ('b"upgrade" in connection', 'upgrade == b"websocket"', 'token.lower().strip() for token in value.split(b",")'):
        assert needle in upgrade, f"uvicorn's upgrade test no longer has {needle!r}"
    assert "except httptools.HttpParserUpgrade" in inspect.getsource(HttpToolsProtocol.data_received)
    assert "self.connections.add(self)" in inspect.getsource(HttpToolsProtocol.connection_made)
    assert "self.transport.close()" in inspect.getsource(HttpToolsProtocol.shutdown)
    assert "self.logger.level <= TRACE_LOG_LEVEL" in inspect.getsource(HttpToolsProtocol.handle_websocket_upgrade)
    assert hasattr(Config(_app), "ws_protocol_class") or "ws_protocol_class" in inspect.getsource(Config.load)


async def test_picows_server_protocol_is_built_as_we_build_it() -> None:
    """picows.picows.WSProtocol takes our positional arguments and is a buffered protocol."""
    from picows import WSAutoPingStrategy, WSListener, WSUpgradeResponse, WSUpgradeResponseWithListener

    config = Config(_app, ws_max_size=1024, ws_ping_interval=5.0, ws_ping_timeout=2.0)
    response = WSUpgradeResponse.create_101_response(extra_headers={"x-voice-gateway-session-id": "vgs_x"})
    with_listener = WSUpgradeResponseWithListener(response, WSListener())
    protocol = picows_server_protocol(config, lambda request: with_listener)
    assert callable(protocol.get_buffer) and callable(protocol.buffer_updated)
    assert callable(protocol.connection_made)
    assert WSAutoPingStrategy.PING_WHEN_IDLE is not None


def test_aiortc_receiver_has_the_jitter_buffer_we_replace() -> None:
    """The WebRTC path swaps the receiver's private jitter buffer for a shorter one; the attribute must exist."""
    from aiortc import RTCCertificate, RTCDtlsTransport, RTCIceGatherer, RTCIceTransport, RTCRtpReceiver
    from aiortc.jitterbuffer import JitterBuffer

    from gateway.webrtc.call import shorten_input_jitter_buffer

    transport = RTCDtlsTransport(RTCIceTransport(RTCIceGatherer()), [RTCCertificate.generateCertificate()])
    receiver = RTCRtpReceiver("audio", transport)
    assert shorten_input_jitter_buffer(receiver) is True, "aiortc moved RTCRtpReceiver's jitter buffer"
    assert {"capacity", "prefetch"} <= set(inspect.signature(JitterBuffer).parameters)


def test_aiortc_codec_lookups_and_thread_handoffs_we_replace_are_where_we_reach() -> None:
    """gateway.webrtc.codecs swaps the per-direction codec lookups, feeds the decoder queue inline, and hands the sender
    packets: the module-level lookups, the decoder worker's put/get protocol and the sender's no-executor pack path must exist."""
    from aiortc import RTCRtpSender, rtcrtpreceiver, rtcrtpsender

    assert callable(rtcrtpreceiver.get_decoder) and callable(rtcrtpsender.get_encoder)
    worker = inspect.getsource(rtcrtpreceiver.decoder_worker)
    assert "input_q.get()" in worker and "if task is None" in worker, "aiortc's decoder worker changed its queue protocol"
    receiver = inspect.getsource(rtcrtpreceiver.RTCRtpReceiver)
    assert "self.__decoder_queue.put((codec, encoded_frame))" in receiver and "self.__decoder_queue.put(None)" in receiver
    assert "get_decoder(codec)" in worker and "get_encoder(codec)" in inspect.getsource(RTCRtpSender._next_encoded_frame)
    sender = inspect.getsource(RTCRtpSender._next_encoded_frame)
    assert "self.__encoder.pack(data)" in sender, "aiortc's sender no longer sends pre-encoded packets as they are"


def test_aiortc_reads_the_wall_clock_through_the_functions_we_replace() -> None:
    """gateway.webrtc.ntp replaces aiortc.clock.current_ntp_time/current_ms: they must still be datetime.now-based as we
    reproduce them, and the per-packet readers (sender, DTLS receive, RTCP reports) must call them through the module."""
    from aiortc import clock, rtcdtlstransport, rtcpeerconnection, rtcrtpsender

    from gateway.webrtc import ntp

    assert clock.NTP_EPOCH == datetime.datetime(1900, 1, 1, tzinfo=datetime.timezone.utc)
    module = inspect.getsource(clock)  # the file as aiortc ships it, whatever is installed over its functions
    for needle in ("return datetime.datetime.now(datetime.timezone.utc)", "return datetime_to_ntp(current_datetime())",
                   "delta = current_datetime() - NTP_EPOCH\n    return int(delta.total_seconds() * 1000)",
                   "low = round((delta.microseconds * (1 << 32)) // 1000000)"):
        assert needle in module, f"aiortc.clock changed: {needle!r}"
    ntp.install()
    assert ntp.installed()
    assert "clock.current_ntp_time()" in inspect.getsource(rtcrtpsender.RTCRtpSender._run_rtp)
    assert "clock.current_ms()" in inspect.getsource(rtcdtlstransport.RTCDtlsTransport._recv_next)
    for module in (rtcrtpsender, rtcdtlstransport, rtcpeerconnection):
        assert "from .clock import" not in inspect.getsource(module), f"{module.__name__} binds aiortc's clock functions itself"


def test_aioice_gathering_we_wrap_for_the_udp_port_range_is_unchanged() -> None:
    """gateway.webrtc.ice.restrict_ports replaces host binding in aioice's per-component gathering: its signature, the
    connection's protocol list, StunProtocol(connection), the STUN helper and the socket buffer size must be as used."""
    import aioice.ice
    from aioice import turn

    params = list(inspect.signature(aioice.ice.Connection.get_component_candidates).parameters)
    assert params == ["self", "component", "addresses", "timeout"]
    source = inspect.getsource(aioice.ice.Connection.get_component_candidates)
    assert "local_addr=(address, 0)" in source, "aioice changed host binding (a native port range? then use it)"
    assert "self._protocols += host_protocols" in source and "relayed_candidate(" in source
    assert list(inspect.signature(aioice.ice.StunProtocol).parameters) == ["receiver"]
    assert list(inspect.signature(aioice.ice.server_reflexive_candidate).parameters) == ["protocol", "stun_server"]
    assert isinstance(turn.UDP_SOCKET_BUFFER_SIZE, int)
    assert "port_range" not in inspect.signature(aioice.ice.Connection).parameters, "aioice has a port range now: use it"
