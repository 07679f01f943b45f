"""Read the client's credential from the handshake: bearer header, Azure-style header, or browser subprotocol."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Mapping, Sequence

_KEY_SUBPROTOCOL: Final = "openai-insecure-api-key."
#: subprotocols the gateway may select in the handshake response, in preference order
SELECTABLE_SUBPROTOCOLS: Final = ("realtime", "openai-beta.realtime-v1")
#: handshake headers never copied into a routing request (they carry secrets or are noise)
SECRET_HEADERS: Final = frozenset(
    {"authorization", "api-key", "cookie", "sec-websocket-protocol", "sec-websocket-key", "proxy-authorization"}
)


@dataclass(frozen=True, slots=True)
class Credential:
    secret: str
    #: came through the subprotocol, as browsers must: Origin is checked
    from_browser: bool


def read_credential(headers: Mapping[str, str], subprotocols: Sequence[str]) -> Credential | None:
    """The credential a client presented, or ``None``."""
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer " and auth[7:].strip():
        return Credential(auth[7:].strip(), from_browser=False)
    api_key = headers.get("api-key", "").strip()
    if api_key:
        return Credential(api_key, from_browser=False)
    for proto in subprotocols:
        if proto.startswith(_KEY_SUBPROTOCOL) and len(proto) > len(_KEY_SUBPROTOCOL):
            return Credential(proto[len(_KEY_SUBPROTOCOL) :], from_browser=True)
    return None


def choose_subprotocol(offered: Sequence[str]) -> str | None:
    """The subprotocol to echo back: browsers abort a handshake that selects none of theirs."""
    for proto in SELECTABLE_SUBPROTOCOLS:
        if proto in offered:
            return proto
    return None


def routing_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Handshake headers a policy may match on, with every credential removed."""
    return {k: v for k, v in headers.items() if k not in SECRET_HEADERS}
