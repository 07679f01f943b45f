"""Where a WebRTC peer connection can be reached: ICE servers, host addresses, an announced public address.

aiortc answers with host candidates on every local interface and asks no STUN/TURN server unless
told. Deployments tune three things (settings ``VOICE_GATEWAY_WEBRTC_*``):

* ``ice_servers``: STUN/TURN URLs (``stun:host:3478``, ``turn:host:3478?transport=udp``), with the
  TURN credentials; the answer then also carries server-reflexive / relayed candidates;
* ``host_addresses``: gather host candidates only on these local addresses (a pod's own IP,
  not a sidecar's or a docker bridge's);
* ``announced_address``: a public address written over every host candidate's address in the answer
  (1:1 NAT: a cloud VM's elastic IP, a Kubernetes node's external IP with ``hostNetwork``).

* ``udp_ports``: bind host candidates only on UDP ports in this inclusive range, so a firewall or a
  pod spec can open exactly those ports (one port per call and host address).

aioice (0.13) binds host candidates on ephemeral ports and has no port-range option (upstream
issue aiortc/aioice#47; PRs #63/#112 unmerged). :func:`restrict_ports` wraps its per-component
gathering: host sockets are bound here, on a free port of the range (starting at a random port, so
concurrent calls rarely collide), and handed to aioice as its own (a ``StunProtocol`` with the
host candidate aioice would have built); server-reflexive candidates are asked over them as
aioice does; relayed (TURN) candidates are left to aioice's own code. The coupling is tested in
``tests/unit/transports/test_library_internals.py``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
import re
import socket
from dataclasses import dataclass, field
from typing import Final

import aioice.ice
from aioice import turn
from aioice.candidate import Candidate, candidate_foundation, candidate_priority
from aiortc import RTCConfiguration, RTCIceServer

log = logging.getLogger("voice_gateway.webrtc")

_CANDIDATE: Final = re.compile(r"^(a=candidate:\S+ \d+ \S+ \d+ )(\S+)( \d+ typ host.*)$", re.MULTILINE)
_ORIGINAL_HOSTS: Final = aioice.ice.get_host_addresses
_ORIGINAL_COMPONENT_CANDIDATES: Final = aioice.ice.Connection.get_component_candidates


@dataclass(frozen=True, slots=True)
class IceOptions:
    ice_servers: tuple[str, ...] = ()
    turn_username: str | None = None
    turn_password: str | None = field(default=None, repr=False)
    host_addresses: tuple[str, ...] = ()
    announced_address: str | None = None
    udp_ports: tuple[int, int] | None = None

    def configuration(self) -> RTCConfiguration:
        """The peer connection's configuration (no servers unless configured: nothing public is asked)."""
        servers = [
            RTCIceServer(urls=url, username=self.turn_username, credential=self.turn_password)
            if url.startswith(("turn:", "turns:")) else RTCIceServer(urls=url)
            for url in self.ice_servers
        ]
        return RTCConfiguration(iceServers=servers)


def restrict_host_addresses(addresses: tuple[str, ...]) -> None:
    """Gather host candidates only on ``addresses`` (process-wide: aioice reads its host list from one function)."""
    if not addresses:
        aioice.ice.get_host_addresses = _ORIGINAL_HOSTS
        return
    allowed = set(addresses)

    def only_allowed(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [address for address in _ORIGINAL_HOSTS(use_ipv4, use_ipv6) if address in allowed]

    aioice.ice.get_host_addresses = only_allowed


def announce(sdp: str, address: str | None) -> str:
    """Write ``address`` over every host candidate's address (same port: a 1:1 NAT keeps it)."""
    if not address:
        return sdp
    return _CANDIDATE.sub(lambda m: f"{m.group(1)}{address}{m.group(3)}", sdp)


def parse_port_range(text: str) -> tuple[int, int]:
    """``"40000-40999"`` → ``(40000, 40999)``; ``ValueError`` unless 1024 ≤ low ≤ high ≤ 65535."""
    low_text, sep, high_text = text.strip().partition("-")
    if not sep or not low_text.strip().isdigit() or not high_text.strip().isdigit():
        raise ValueError(f"a UDP port range is LOW-HIGH, got {text!r}")
    low, high = int(low_text), int(high_text)
    if not 1024 <= low <= high <= 65535:
        raise ValueError(f"UDP port range {text!r} must satisfy 1024 <= low <= high <= 65535")
    return low, high


def bind_in_range(address: str, ports: tuple[int, int], rng: random.Random | None = None) -> socket.socket | None:
    """A UDP socket bound to ``address`` on a free port of the range (``None`` when every port is taken)."""
    family = socket.AF_INET6 if ipaddress.ip_address(address.split("%")[0]).version == 6 else socket.AF_INET
    low, high = ports
    count = high - low + 1
    start = (rng or random).randrange(count)
    for i in range(count):
        port = low + (start + i) % count
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.bind((address, port))
        except OSError:
            sock.close()
            continue
        sock.setblocking(False)
        return sock
    return None


def restrict_ports(ports: tuple[int, int] | None) -> None:
    """Bind host candidates on ports of ``ports`` only (process-wide, like aioice's host list); ``None`` restores aioice."""
    connection = aioice.ice.Connection
    if ports is None:
        connection.get_component_candidates = _ORIGINAL_COMPONENT_CANDIDATES  # type: ignore[method-assign]
        return

    async def ranged(self: aioice.ice.Connection, component: int, addresses: list[str], timeout: int = 5) -> list[Candidate]:
        protocols = [p for p in [await _host_protocol(self, component, a, ports) for a in addresses] if p is not None]
        self._protocols += protocols
        candidates = [p.local_candidate for p in protocols]
        if self.stun_server is not None:
            candidates += await _reflexive(protocols, self.stun_server, timeout)
        # no host addresses: aioice gathers only what is not bound locally (the TURN relay)
        return candidates + await _ORIGINAL_COMPONENT_CANDIDATES(self, component, [], timeout)

    connection.get_component_candidates = ranged  # type: ignore[method-assign]


async def _host_protocol(
    connection: aioice.ice.Connection, component: int, address: str, ports: tuple[int, int]
) -> aioice.ice.StunProtocol | None:
    """What aioice builds for one host address, on a socket bound in the range."""
    sock = bind_in_range(address, ports)
    if sock is None:
        log.warning("no free UDP port in %d-%d on %s: no host candidate there", ports[0], ports[1], address)
        return None
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, turn.UDP_SOCKET_BUFFER_SIZE)
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_datagram_endpoint(lambda: aioice.ice.StunProtocol(connection), sock=sock)
    host, port = protocol.transport.get_extra_info("sockname")[:2]
    protocol.local_candidate = Candidate(
        foundation=candidate_foundation("host", "udp", host), component=component, transport="udp",
        priority=candidate_priority(component, "host"), host=host, port=port, type="host",
    )
    return protocol


async def _reflexive(protocols: list[aioice.ice.StunProtocol], stun_server: tuple[str, int], timeout: int) -> list[Candidate]:
    """Server-reflexive candidates over the IPv4 host sockets, as aioice asks them."""
    tasks = [
        asyncio.create_task(aioice.ice.server_reflexive_candidate(p, stun_server))
        for p in protocols if ipaddress.ip_address(p.local_candidate.host).version == 4
    ]
    if not tasks:
        return []
    done, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in pending:
        task.cancel()
    return [task.result()[0] for task in done if task.exception() is None]
