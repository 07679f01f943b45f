"""Session lifecycle transitions are checked."""

import pytest

from gateway.core.errors import InvalidTransition
from gateway.core.lifecycle import SessionState, check_transition


def test_allowed_path() -> None:
    """admitted → connecting → open → closing → closed is the normal life."""
    state = SessionState.ADMITTED
    for target in (SessionState.CONNECTING, SessionState.OPEN, SessionState.CLOSING, SessionState.CLOSED):
        state = check_transition(state, target)
    assert state is SessionState.CLOSED


def test_out_of_order_names_expected_and_actual() -> None:
    """Skipping a state fails with a message naming both ends and what was expected."""
    with pytest.raises(InvalidTransition, match="from 'open' to 'closed'; expected one of: closing"):
        check_transition(SessionState.OPEN, SessionState.CLOSED)
