"""The upstream calls API client: create a WebRTC call from an offer, accept / reject / refer / hang up a call.

One ``httpx.AsyncClient`` for the gateway (connection reuse); the endpoint's credential goes in its
auth header exactly as on the WebSocket path, and never into a log line or an error.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final, Mapping

import httpx
import orjson

from gateway.core.catalog import UpstreamEndpoint
from gateway.core.errors import GatewayError, InvalidRequest, UpstreamRefused, UpstreamUnavailable
from gateway.core.kinds import SessionKind
from gateway.upstream.target import upstream_headers

log = logging.getLogger("voice_gateway.upstream.calls")

from gateway.core.jsontypes import JsonObject
CALL_TIMEOUT_S: Final = 10.0


@dataclass(frozen=True, slots=True)
class CreatedCall:
    call_id: str
    answer_sdp: str


class CallNotLive(GatewayError):
    """The upstream says the call is already over (hangup of an ended call): nothing to do."""

    code = "call_not_live"
    http_status = 409
    default_message = "The call is not live."


def _call_id(location: str | None) -> str | None:
    if not location:
        return None
    tail = location.rstrip("/").rsplit("/", 1)[-1]
    return tail if tail and all(c.isalnum() or c in "_-" for c in tail) and len(tail) <= 128 else None


def _upstream_message(response: httpx.Response) -> str | None:
    try:
        error = orjson.loads(response.content).get("error")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    message = error.get("message") if isinstance(error, dict) else None
    return message[:500] if isinstance(message, str) else None


def _refusal(response: httpx.Response, what: str) -> GatewayError:
    status = response.status_code
    message = _upstream_message(response)
    if status in (400, 404, 409, 422):
        if "call_state" in response.text or status in (404, 409):
            return CallNotLive(message)
        return InvalidRequest(f"The model endpoint refused the {what}: {message}" if message else None)
    if status in (429,) or status >= 500:
        return UpstreamUnavailable()
    return UpstreamRefused()


class CallsClient:
    """REST calls to one or more endpoints' calls APIs."""

    def __init__(
        self,
        credentials: Mapping[str, str | None],
        *,
        timeout_s: float = CALL_TIMEOUT_S,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._credentials = credentials
        self._http = httpx.AsyncClient(timeout=timeout_s, follow_redirects=False, transport=transport)

    async def close(self) -> None:
        await self._http.aclose()

    def _headers(self, endpoint: UpstreamEndpoint, client_headers: Mapping[str, str] | None = None) -> dict[str, str]:
        return upstream_headers(endpoint, self._credentials.get(endpoint.name), client_headers)

    async def _post(
        self,
        endpoint: UpstreamEndpoint,
        path: str,
        what: str,
        *,
        content: bytes | None = None,
        files: Mapping[str, tuple[None, bytes, str]] | None = None,
        headers: Mapping[str, str] | None = None,
        client_headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        sent = {**self._headers(endpoint, client_headers), **(headers or {})}
        try:
            response = await self._http.post(f"{endpoint.calls_base}{path}", headers=sent, content=content, files=files)
        except httpx.HTTPError as exc:
            log.warning("calls API unreachable", extra={"endpoint": endpoint.name, "operation": what, "error": type(exc).__name__})
            raise UpstreamUnavailable() from exc
        if response.status_code >= 300:
            log.info("calls API refused", extra={"endpoint": endpoint.name, "operation": what, "status": response.status_code})
            raise _refusal(response, what)
        return response

    async def create(
        self,
        endpoint: UpstreamEndpoint,
        *,
        kind: SessionKind,
        sdp: str,
        session: JsonObject,
        client_headers: Mapping[str, str] | None = None,
    ) -> CreatedCall:
        """POST the offer with the forced session (multipart, as the SDK does); the answer and the call id."""
        path = "/realtime/translations/calls" if kind is SessionKind.TRANSLATION else "/realtime/calls"
        files = {
            "sdp": (None, sdp.encode(), "application/sdp"),
            "session": (None, orjson.dumps(session), "application/json"),
        }
        response = await self._post(endpoint, path, "offer", files=files, client_headers=client_headers, headers={"Accept": "application/sdp"})
        call_id = _call_id(response.headers.get("location"))
        if call_id is None or not response.text.lstrip().startswith("v=0"):
            raise UpstreamRefused("The model endpoint answered the offer without a call id or an SDP answer.")
        return CreatedCall(call_id, response.text)

    async def accept(self, endpoint: UpstreamEndpoint, call_id: str, session: JsonObject) -> None:
        await self._post(endpoint, f"/realtime/calls/{call_id}/accept", "accept", content=orjson.dumps(session),
                         headers={"Content-Type": "application/json"})

    async def reject(self, endpoint: UpstreamEndpoint, call_id: str, status_code: int | None) -> None:
        body = {"status_code": status_code} if status_code is not None else {}
        await self._post(endpoint, f"/realtime/calls/{call_id}/reject", "reject", content=orjson.dumps(body),
                         headers={"Content-Type": "application/json"})

    async def refer(self, endpoint: UpstreamEndpoint, call_id: str, target_uri: str) -> None:
        await self._post(endpoint, f"/realtime/calls/{call_id}/refer", "refer", content=orjson.dumps({"target_uri": target_uri}),
                         headers={"Content-Type": "application/json"})

    async def hangup(self, endpoint: UpstreamEndpoint, call_id: str) -> bool:
        """Hang up; ``False`` when the call was already over (not an error)."""
        try:
            await self._post(endpoint, f"/realtime/calls/{call_id}/hangup", "hangup")
        except CallNotLive:
            return False
        return True
