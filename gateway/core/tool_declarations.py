"""The gateway's tool definitions in a session's tool lists: added to what the client declares, hidden from what it sees.

Pure functions over the JSON of ``session.update`` / ``response.create`` / ``session.updated``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from gateway.core.errors import InvalidRequest
from gateway.core.jsontypes import JsonObject


def merged(tools: object, own: Sequence[JsonObject], names: Collection[str], param: str) -> list[object]:
    """The client's tool list with the gateway's definitions appended; a clashing client name is refused."""
    if not isinstance(tools, list):
        raise InvalidRequest(f"'{param}' must be an array of tools.", param=param)
    taken = sorted({str(t.get("name")) for t in tools if isinstance(t, dict) and t.get("name") in names})
    if taken:
        raise InvalidRequest(
            f"Tool name(s) reserved by the gateway on this route: {', '.join(taken)}; rename your tool.",
            param=param,
        )
    return [*tools, *own]


def hide(session: JsonObject, names: Collection[str]) -> bool:
    """Remove the gateway's tools from a reported session's ``tools`` (True: something was removed)."""
    tools = session.get("tools")
    if not isinstance(tools, list):
        return False
    visible = [t for t in tools if not (isinstance(t, dict) and t.get("name") in names)]
    if len(visible) == len(tools):
        return False
    session["tools"] = visible
    return True


def declare_on_call(session: JsonObject, own: Sequence[JsonObject]) -> None:
    """A direct-media call's forced session declares the gateway's tools after the caller's (a clash is refused)."""
    if own:
        session["tools"] = merged(session.get("tools", []), own, {str(d.get("name")) for d in own}, "session.tools")


def restored(tools: list[object], own: Sequence[JsonObject]) -> list[object] | None:
    """A reported tool list that lost some of the gateway's tools, with them put back (None: none is missing).

    Tools are matched by name: a caller's tool that took a gateway tool's name keeps it (the gateway
    still runs its own tool, with its own schema, for calls of that name)."""
    names = {t.get("name") for t in tools if isinstance(t, dict)}
    missing = [d for d in own if d.get("name") not in names]
    return [*tools, *missing] if missing else None
