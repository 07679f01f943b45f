"""The pure playback model: delivered audio, the real-time heard estimate, client corrections (no event loop)."""

from __future__ import annotations

from gateway.core.playback import ItemPlayback, Playback, bytes_per_ms


def test_bytes_per_ms_by_output_format() -> None:
    """pcm16 24 kHz is 48 bytes a millisecond, G.711 8; unknown formats count as pcm16."""
    assert bytes_per_ms("audio/pcm") == 48
    assert bytes_per_ms("audio/pcmu") == 8
    assert bytes_per_ms("audio/pcma") == 8
    assert bytes_per_ms(None) == 48


def test_heard_follows_real_time_from_the_first_delta_but_never_passes_what_was_delivered() -> None:
    """A burst of 2 s delivered at once is heard at real time from the first delta, capped at 2 s."""
    item = ItemPlayback("item_1", "resp_1", 48)
    item.deliver(48 * 2000, now=10.0)
    assert item.heard_ms(10.0) == 0
    assert item.heard_ms(10.5) == 500
    assert item.playing(10.5)
    assert item.heard_ms(13.0) == 2000
    assert not item.playing(13.0)
    assert item.ends_at() == 12.0


def test_slow_delivery_caps_the_estimate() -> None:
    """Audio delivered slower than real time: the listener cannot have heard more than arrived."""
    item = ItemPlayback("item_1", None, 8)
    item.deliver(8 * 100, now=0.0)
    assert item.heard_ms(1.0) == 100


def test_client_truncate_corrects_the_estimate_and_the_first_stop_wins() -> None:
    """The client's own truncate position is what was heard; a later stop does not move it."""
    playback = Playback("audio/pcm")
    playback.item_added("item_1", "resp_1")
    playback.deliver(48 * 3000, now=0.0)
    item = playback.client_truncated("item_1", 700)
    assert item is not None and item.heard_ms(2.0) == 700 and item.stopped_by == "client"
    item.stop(900, "gateway")
    assert item.stopped_ms == 700
    assert playback.playing(1.0) is None


def test_truncate_past_the_delivered_audio_is_clamped() -> None:
    """A client claiming more than was delivered is held to what was delivered."""
    playback = Playback()
    playback.item_added("item_1", None)
    playback.deliver(48 * 100, now=0.0)
    item = playback.client_truncated("item_1", 5000)
    assert item is not None and item.stopped_ms == 100


def test_output_buffer_clear_stops_where_the_estimate_stands() -> None:
    """output_audio_buffer.clear stops playback at the estimated position."""
    playback = Playback()
    playback.item_added("item_1", None)
    playback.deliver(48 * 1000, now=0.0)
    playback.client_stopped(0.25)
    current = playback.current
    assert current is not None and current.stopped_ms == 250


def test_deltas_naming_an_item_go_to_that_item() -> None:
    """A parsed delta's item_id wins over the current item; an unknown one starts an item."""
    playback = Playback()
    playback.item_added("item_a", "resp_1")
    playback.deliver(480, now=0.0, item_id="item_b")
    a, b = playback.get("item_a"), playback.get("item_b")
    assert a is not None and a.delivered_bytes == 0
    assert b is not None and b.delivered_ms == 10
