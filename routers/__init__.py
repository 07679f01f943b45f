"""The routing decision: pure functions over a compiled policy (``routers.compiled``) and a ``SessionRequest``."""

from routers.classify import INTENT_VOCABULARY, classify
from routers.compiled import CompiledPolicy
from routers.decide import decide, wants_session_update

__all__ = ["INTENT_VOCABULARY", "CompiledPolicy", "classify", "decide", "wants_session_update"]
