"""Deployment reachability of the bridge's peer connections: ICE servers, host addresses, announced address, UDP ports."""

from __future__ import annotations

import asyncio

import aioice.ice
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from gateway.webrtc.call import answer_offer
from gateway.webrtc.ice import IceOptions, announce, bind_in_range, parse_port_range, restrict_host_addresses, restrict_ports

ANSWER = (
    "v=0\r\n"
    "a=candidate:1 1 UDP 2130706431 10.1.2.3 40001 typ host\r\n"
    "a=candidate:2 1 UDP 1694498815 198.51.100.9 40001 typ srflx raddr 10.1.2.3 rport 40001\r\n"
)


def test_announce_rewrites_host_candidates_only() -> None:
    """Host candidates get the public address (same port); reflexive ones are left as the STUN server saw them."""
    out = announce(ANSWER, "203.0.113.7")
    assert "a=candidate:1 1 UDP 2130706431 203.0.113.7 40001 typ host" in out
    assert "198.51.100.9 40001 typ srflx" in out
    assert announce(ANSWER, None) == ANSWER


def test_turn_servers_carry_credentials_and_stun_servers_do_not() -> None:
    """TURN URLs get the username/password; no servers configured → none asked."""
    config = IceOptions(ice_servers=("stun:stun.example:3478", "turn:turn.example:3478?transport=udp"),
                        turn_username="u", turn_password="p").configuration()
    stun, turn = config.iceServers
    assert stun.username is None and turn.username == "u" and turn.credential == "p"
    assert IceOptions().configuration().iceServers == []
    assert "s3cret" not in repr(IceOptions(turn_password="s3cret"))


def test_host_addresses_filter_what_aioice_gathers() -> None:
    """Only the listed local addresses are offered; an empty list restores every interface."""
    try:
        restrict_host_addresses(("127.0.0.1",))
        assert aioice.ice.get_host_addresses(True, False) in ([], ["127.0.0.1"])
        restrict_host_addresses(("192.0.2.250",))
        assert aioice.ice.get_host_addresses(True, True) == []
    finally:
        restrict_host_addresses(())
    assert aioice.ice.get_host_addresses(True, False)


async def test_an_answer_announces_the_public_address() -> None:
    """A real aiortc offer answered with an announced address: every host candidate carries it."""
    offerer = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    offerer.createDataChannel("oai-events")
    await offerer.setLocalDescription(await offerer.createOffer())
    call = await answer_offer(offerer.localDescription.sdp, translation=False, ice=IceOptions(announced_address="203.0.113.7"))
    hosts = [line for line in call.answer_sdp.splitlines() if line.startswith("a=candidate") and "typ host" in line]
    assert hosts and all(" 203.0.113.7 " in line for line in hosts)
    await call.socket.close(1000, "")
    await offerer.close()


def _free_udp_range(size: int) -> tuple[int, int]:
    """A run of ``size`` UDP ports on this host that were free a moment ago (found by binding them)."""
    import socket

    for low in range(42000, 60000, size):
        socks = []
        try:
            for port in range(low, low + size):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(sock)
                sock.bind(("0.0.0.0", port))
            return low, low + size - 1
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise AssertionError("no free UDP port range")


def _host_ports(sdp: str) -> list[int]:
    return [port for _, port in _host_addresses(sdp)]


def _host_addresses(sdp: str) -> list[tuple[str, int]]:
    return [(line.split()[4], int(line.split()[5])) for line in sdp.splitlines() if line.startswith("a=candidate") and " typ host" in line]


def test_port_range_parsing_refuses_nonsense() -> None:
    """LOW-HIGH within 1024..65535, low ≤ high; anything else is a ValueError."""
    assert parse_port_range("40000-40999") == (40000, 40999)
    assert parse_port_range(" 50000-50000 ") == (50000, 50000)
    for bad in ("40000", "40999-40000", "80-90", "40000-70000", "a-b"):
        with pytest.raises(ValueError):
            parse_port_range(bad)


def test_bind_in_range_takes_a_free_port_and_reports_exhaustion() -> None:
    """Taken ports are skipped; with every port of the range taken there is no socket."""
    low, high = _free_udp_range(2)
    first = bind_in_range("127.0.0.1", (low, high))
    second = bind_in_range("127.0.0.1", (low, high))
    try:
        assert first is not None and second is not None
        assert {first.getsockname()[1], second.getsockname()[1]} == {low, high}
        assert bind_in_range("127.0.0.1", (low, high)) is None
    finally:
        for sock in (first, second):
            if sock is not None:
                sock.close()


async def test_answers_offer_host_candidates_only_on_ports_of_the_range() -> None:
    """With a range set, every host candidate of real answers uses a port in it; restoring brings ephemeral ports back."""
    low, high = _free_udp_range(8)
    offerers: list[RTCPeerConnection] = []
    sockets = []
    try:
        restrict_ports((low, high))
        ports = []
        for _ in range(2):  # two concurrent calls take different ports
            offerer = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            offerers.append(offerer)
            offerer.createDataChannel("oai-events")
            await offerer.setLocalDescription(await offerer.createOffer())
            call = await answer_offer(offerer.localDescription.sdp, translation=False, ice=IceOptions(udp_ports=(low, high)))
            sockets.append(call.socket)
            ports += _host_addresses(call.answer_sdp)
        assert ports and all(low <= port <= high for _, port in ports), ports
        assert len(set(ports)) == len(ports)  # no address and port taken twice
    finally:
        restrict_ports(None)
        for socket in sockets:
            await socket.close(1000, "")
        for offerer in offerers:
            await offerer.close()
    offerer = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    offerer.createDataChannel("oai-events")
    await offerer.setLocalDescription(await offerer.createOffer())
    ephemeral = _host_ports(offerer.localDescription.sdp)
    await offerer.close()
    assert ephemeral and not all(low <= port <= high for port in ephemeral)


async def test_a_ranged_call_connects_end_to_end() -> None:
    """An aiortc caller reaches a bridge whose host candidate is bound in the range: the data channel opens."""
    low, high = _free_udp_range(4)
    restrict_ports((low, high))
    offerer = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    opened = asyncio.Event()
    try:
        channel = offerer.createDataChannel("oai-events")
        channel.on("open", opened.set)
        await offerer.setLocalDescription(await offerer.createOffer())
        call = await answer_offer(offerer.localDescription.sdp, translation=False, ice=IceOptions(udp_ports=(low, high)))
        await offerer.setRemoteDescription(RTCSessionDescription(sdp=call.answer_sdp, type="answer"))
        await asyncio.wait_for(opened.wait(), 20)
        await call.socket.close(1000, "")
    finally:
        restrict_ports(None)
        await offerer.close()


def test_the_udp_port_setting_is_validated_and_wired_to_the_bridge() -> None:
    """VOICE_GATEWAY_WEBRTC_UDP_PORTS: a reversed or privileged range is refused at load; a good one reaches aioice."""
    from pydantic import ValidationError

    from gateway.app import _ice_options
    from gateway.settings import Settings

    for bad in ("40999-40000", "0080-0090", "40000"):
        with pytest.raises(ValidationError):
            Settings(webrtc_udp_ports=bad)
    try:
        options = _ice_options(Settings(webrtc_udp_ports="40000-40099"))
        assert options.udp_ports == (40000, 40099)
        assert aioice.ice.Connection.get_component_candidates.__name__ == "ranged"
        assert _ice_options(Settings()).udp_ports is None
        assert aioice.ice.Connection.get_component_candidates.__name__ == "get_component_candidates"
    finally:
        restrict_ports(None)
