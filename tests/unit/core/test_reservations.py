"""Promised output tokens: asked-for replies count until started, running ones until they end, each kind apart."""

from __future__ import annotations

from gateway.core.reservations import PENDING_TTL_S, ReplyReservations


def test_a_promise_moves_from_asked_to_running_and_ends() -> None:
    """An asked-for reply counts its bound; started, it counts the upstream's bound; ended, nothing."""
    r = ReplyReservations()
    r.asked(100, 0.0, out_of_band=True)
    assert r.total(0.0) == 100
    r.started("resp_1", 80, out_of_band=True)
    assert r.total(0.1) == 80
    r.ended("resp_1")
    assert r.total(0.2) == 0


def test_the_upstreams_own_reply_takes_no_out_of_band_promise() -> None:
    """A conversation reply (server VAD) started meanwhile leaves the out-of-band promises counted in full."""
    r = ReplyReservations()
    r.asked(100, 0.0, out_of_band=True)
    r.asked(50, 0.0, out_of_band=True)
    r.started("resp_vad", 200, out_of_band=False)
    assert r.total(0.1) == 350
    r.started("resp_a", 100, out_of_band=True)
    assert r.total(0.1) == 350  # the oldest out-of-band promise became a running reply
    r.ended("resp_vad")
    r.ended("resp_a")
    assert r.total(0.2) == 50


def test_promises_nobody_answered_expire_and_clear_forgets_all() -> None:
    """A promise no reply followed stops counting after the pending time; clear drops everything."""
    r = ReplyReservations()
    r.asked(100, 0.0, out_of_band=False)
    r.asked(40, 1.0, out_of_band=True)
    r.started("resp_x", 7, out_of_band=True)
    assert r.total(PENDING_TTL_S + 0.5) == 7
    r.asked(10, 9.0, out_of_band=True)
    r.clear()
    assert r.total(9.0) == 0


def test_an_unknown_reply_ending_changes_nothing() -> None:
    """The end of a reply never promised (or already ended) leaves the others counted."""
    r = ReplyReservations()
    r.started("resp_1", 30, out_of_band=False)
    r.ended("resp_other")
    r.ended("resp_other")
    assert r.total(0.0) == 30
