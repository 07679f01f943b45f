"""Static keys (``VOICE_GATEWAY_API_KEYS``): verification against configured secrets, one record per key."""

from __future__ import annotations

from gateway.keys.static import StaticKeys


async def test_each_configured_key_resolves_to_its_one_shared_record_and_others_to_none() -> None:
    """Every handshake with a key gets that key's same record (not a copy per session); unknown secrets get None."""
    keys = StaticKeys(["vg_one_secret", "vg_two_secret"])
    first, again, other = await keys.verify("vg_one_secret"), await keys.verify("vg_one_secret"), await keys.verify("vg_two_secret")
    assert first is not None and other is not None
    assert first is again
    assert first.key_id != other.key_id and first.tenant == other.tenant == "default"
    assert await keys.verify("vg_wrong_secret") is None
    assert await keys.verify("") is None
