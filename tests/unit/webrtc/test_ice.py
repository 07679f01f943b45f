"""Deployment reachability of the bridge's peer connections: ICE servers, host addresses, announced address."""

from __future__ import annotations

import aioice.ice
from aiortc import RTCConfiguration, RTCPeerConnection

from gateway.webrtc.call import answer_offer
from gateway.webrtc.ice import IceOptions, announce, restrict_host_addresses

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
