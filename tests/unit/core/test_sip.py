"""The incoming-call webhook as the gateway reads it: validated call id, bounded untrusted SIP headers, freshness."""

from __future__ import annotations

import pytest

from gateway.core.errors import InvalidRequest
from gateway.core.sip import MAX_HEADERS, MAX_VALUE_CHARS, parse_incoming, timestamp_fresh


def _event(**data: object) -> dict[str, object]:
    return {"id": "evt_1", "object": "event", "type": "realtime.call.incoming", "created_at": 1, "data": data}


def test_headers_keep_order_and_repeats_and_join_for_routing() -> None:
    """Repeated headers survive in order; routing sees lower-cased names with repeats joined."""
    call = parse_incoming(_event(call_id="rtc_1", sip_headers=[{"name": "Via", "value": "a"}, {"name": "From", "value": "x"},
                                                              {"name": "via", "value": "b"}]))
    assert call is not None and call.sip_headers == (("Via", "a"), ("From", "x"), ("via", "b"))
    assert call.routing_headers() == {"via": "a, b", "from": "x"}


def test_hostile_headers_are_bounded_and_cleaned() -> None:
    """Control characters removed, values truncated, odd names dropped, at most MAX_HEADERS kept."""
    many = [{"name": f"X-{i}", "value": "v"} for i in range(MAX_HEADERS + 10)]
    hostile = [{"name": "X-Evil", "value": "a\r\nInjected: 1" + "z" * 5000}, {"name": "Bad Name", "value": "v"}, {"name": 3, "value": "v"}]
    call = parse_incoming(_event(call_id="rtc_2", sip_headers=hostile + many))
    assert call is not None and len(call.sip_headers) == MAX_HEADERS
    name, value = call.sip_headers[0]
    assert name == "X-Evil" and "\r" not in value and "\n" not in value and len(value) == MAX_VALUE_CHARS
    assert all(n != "Bad Name" for n, _ in call.sip_headers)


@pytest.mark.parametrize("call_id", [None, "", "../x", "a" * 200, "rtc 1"])
def test_a_missing_or_unsafe_call_id_is_refused(call_id: object) -> None:
    """The call id goes into calls-API paths: anything but a short token is a 400."""
    with pytest.raises(InvalidRequest):
        parse_incoming(_event(call_id=call_id, sip_headers=[]))


def test_other_event_types_are_not_calls() -> None:
    """Other webhooks (batch, response, …) are acknowledged and ignored."""
    assert parse_incoming({"type": "response.completed", "data": {}}) is None


def test_freshness_window_is_symmetric() -> None:
    """Five minutes either side of now; non-numeric or missing timestamps are stale."""
    assert timestamp_fresh("1000", 1200.0, 300) and timestamp_fresh("1300", 1000.0, 300)
    assert not timestamp_fresh("600", 1000.0, 300) and not timestamp_fresh("1400", 1000.0, 300)
    assert not timestamp_fresh(None, 1000.0, 300) and not timestamp_fresh("1e3", 1000.0, 300)
