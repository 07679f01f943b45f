"""The allowance clamp: replies and session ceilings never ask for more output tokens than the caps leave."""

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.core.allowance import MAX_OUTPUT_TOKENS, clamp_response, clamp_session, lowered_ceiling
from gateway.core.errors import BudgetCapReached, CostCapReached
from gateway.core.jsontypes import JsonObject
from gateway.core.kinds import Dialect, SessionKind
from gateway.core.observers import ResponseAllowance, ResponseClamped
from gateway.core.session import SessionCore


def _left(tokens: int, *, by_budget: bool = False) -> ResponseAllowance:
    return ResponseAllowance(max_output_tokens=tokens, remaining_micros=tokens * 64, by_budget=by_budget)


def test_no_allowance_leaves_everything_alone() -> None:
    """Without a cost cap or budget nothing is clamped, refused or lowered."""
    response: JsonObject = {"max_output_tokens": "inf"}
    session: JsonObject = {"max_output_tokens": "inf"}
    assert clamp_response(response, None, "inf", 1.0) is None
    clamp_session(session, None)
    assert response == {"max_output_tokens": "inf"} and session == {"max_output_tokens": "inf"}
    assert lowered_ceiling(None, "inf") is None


def test_a_response_asking_for_more_is_lowered_and_reported() -> None:
    """"inf", no value under an "inf" session, or a number above what is left all go up lowered to the allowance."""
    for response, session_ceiling, asked in (({"max_output_tokens": "inf"}, 50, 4096), ({}, "inf", 4096), ({"max_output_tokens": 900}, "inf", 900)):
        clamped = clamp_response(response, _left(150), session_ceiling, 2.5)
        assert clamped == ResponseClamped(at=2.5, max_output_tokens=150, asked=asked)
        assert response == {"max_output_tokens": 150}


def test_a_response_within_the_allowance_is_left_alone() -> None:
    """A response (or the session ceiling it inherits) already at or below what is left is not touched."""
    response: JsonObject = {"max_output_tokens": 150}
    assert clamp_response(response, _left(150), "inf", 0.0) is None
    assert response == {"max_output_tokens": 150}
    inherits: JsonObject = {}
    assert clamp_response(inherits, _left(150), 50, 0.0) is None
    assert inherits == {}


def test_an_allowance_above_the_api_maximum_never_clamps_a_response() -> None:
    """With more left than one response can ever produce, even "inf" goes up unchanged."""
    response: JsonObject = {"max_output_tokens": "inf"}
    assert clamp_response(response, _left(MAX_OUTPUT_TOKENS), "inf", 0.0) is None
    assert response == {"max_output_tokens": "inf"}


def test_nothing_left_refuses_with_the_nearest_limits_error() -> None:
    """Less than one token left refuses the response: the budget's error when it is nearest, else the cost cap's."""
    with pytest.raises(BudgetCapReached):
        clamp_response({}, _left(0, by_budget=True), "inf", 0.0)
    with pytest.raises(CostCapReached):
        clamp_response({}, _left(0), "inf", 0.0)


def test_a_session_update_cannot_raise_the_ceiling_past_the_allowance() -> None:
    """A client's session ceiling above what is left ("inf", a bool, a larger number) is lowered to it."""
    for asked in ("inf", True, 1000):
        session: JsonObject = {"max_output_tokens": asked}
        clamp_session(session, _left(600))
        assert session == {"max_output_tokens": 600}


def test_a_session_update_within_the_allowance_or_without_a_ceiling_is_left_alone() -> None:
    """A lower ceiling, no ceiling, nothing left (refused elsewhere) or an allowance above the API maximum change nothing."""
    for session, left in (({"max_output_tokens": 50}, 600), ({"voice": "marin"}, 600), ({"max_output_tokens": "inf"}, 0), ({"max_output_tokens": "inf"}, MAX_OUTPUT_TOKENS)):
        before = dict(session)
        clamp_session(session, _left(left))
        assert session == before


def test_the_ceiling_is_lowered_once_what_is_left_falls_to_half_of_it() -> None:
    """The session ceiling follows the allowance only once it is at most half the current one ("inf" counts as 4096)."""
    assert lowered_ceiling(_left(3000), "inf") is None
    assert lowered_ceiling(_left(2048), "inf") == 2048
    assert lowered_ceiling(_left(600), 1000) is None
    assert lowered_ceiling(_left(500), 1000) == 500
    assert lowered_ceiling(_left(0), "inf") is None


#: one step: the allowance the accounting observer leaves (an index into a pool, so the same object comes back, as
#: while a horizon holds; ``None``: no money limit), and a ceiling the client sets (``None``: none set this step)
_CEILINGS = st.none() | st.sampled_from(["inf", 1, 50, 4096, "300", 2.5, True])
_STEP = st.tuples(st.none() | st.integers(0, 7), _CEILINGS)


@settings(max_examples=300, deadline=None)
@given(tokens=st.lists(st.integers(0, 10_000), min_size=8, max_size=8), steps=st.lists(_STEP, max_size=40))
def test_the_session_lowers_its_ceiling_exactly_when_lowered_ceiling_says(
    tokens: list[int], steps: list[tuple[int | None, object]]
) -> None:
    """Against ``lowered_ceiling`` asked on every tick: the same ``session.update`` frames at the same ticks, whether
    the allowance is a new object or the one already seen, and whatever ceiling the client set in between."""
    pool = [_left(t) for t in tokens]
    core = SessionCore(kind=SessionKind.REALTIME, dialect=Dialect.GA, now=0.0)
    reference: object = core._session_max_tokens  # noqa: SLF001 - the ceiling the reference computation tracks
    for pick, ceiling in steps:
        if ceiling is not None:
            core._session_max_tokens = reference = ceiling  # noqa: SLF001 - as a client's session.update sets it
        allowance = None if pick is None else pool[pick]
        core.stats.response_allowance = allowance
        expected = lowered_ceiling(allowance, reference)
        frames = core.allowance_frames()
        if expected is None:
            assert frames == []
        else:
            reference = expected
            (frame,) = frames
            assert orjson.loads(frame)["session"] == {"type": "realtime", "max_output_tokens": expected}
        assert core._session_max_tokens == reference  # noqa: SLF001
