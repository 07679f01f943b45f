"""Where a WebRTC peer connection can be reached: ICE servers, host addresses, an announced public address.

aiortc answers with host candidates on every local interface and asks no STUN/TURN server unless
told. Deployments tune three things (settings ``VOICE_GATEWAY_WEBRTC_*``):

* ``ice_servers``: STUN/TURN URLs (``stun:host:3478``, ``turn:host:3478?transport=udp``), with the
  TURN credentials; the answer then also carries server-reflexive / relayed candidates;
* ``host_addresses``: gather host candidates only on these local addresses (a pod's own IP,
  not a sidecar's or a docker bridge's);
* ``announced_address``: a public address written over every host candidate's address in the answer
  (1:1 NAT: a cloud VM's elastic IP, a Kubernetes node's external IP with ``hostNetwork``).

aioice picks ephemeral UDP ports (it has no port-range option): open the ephemeral range to the
gateway, or put a TURN server in front and open only its ports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

import aioice.ice
from aiortc import RTCConfiguration, RTCIceServer

_CANDIDATE: Final = re.compile(r"^(a=candidate:\S+ \d+ \S+ \d+ )(\S+)( \d+ typ host.*)$", re.MULTILINE)
_ORIGINAL_HOSTS: Final = aioice.ice.get_host_addresses


@dataclass(frozen=True, slots=True)
class IceOptions:
    ice_servers: tuple[str, ...] = ()
    turn_username: str | None = None
    turn_password: str | None = field(default=None, repr=False)
    host_addresses: tuple[str, ...] = ()
    announced_address: str | None = None

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
