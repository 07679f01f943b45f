"""Transferring a live direct-media call to a SIP or tel: URI: one home for the admin API and the calls API."""

from __future__ import annotations

from typing import Mapping

from pydantic import BaseModel, ConfigDict, Field

from gateway.core.catalog import Catalog
from gateway.core.errors import InvalidRequest
from gateway.inbound.calls.service import CallServices


class ReferBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target_uri: str = Field(pattern=r"^(sip:|sips:|tel:)[^\s]{1,2000}$", description="sip:, sips: or tel: URI")


async def refer_live_call(calls: CallServices | None, catalog: Catalog, entry: Mapping[str, object], target_uri: str) -> None:
    """Refer the upstream call behind a live session's directory entry (its ``call_id`` and ``upstream``)."""
    call_id, upstream = entry.get("call_id"), entry.get("upstream")
    endpoint = catalog.endpoints.get(upstream) if isinstance(upstream, str) else None
    if not isinstance(call_id, str) or not call_id or calls is None or endpoint is None:
        raise InvalidRequest("This session is not a call the gateway can transfer.", param="session_id")
    await calls.client.refer(endpoint, call_id, target_uri)
