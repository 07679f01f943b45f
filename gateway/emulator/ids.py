"""OpenAI-looking identifiers (``event_…``, ``sess_…``, ``item_…``, ``resp_…``, ``call_…``).

Clients and gateways sometimes key maps by these ids or log them; making them look like the real
thing (prefix + 21 alphanumerics) keeps such code honest without pretending to be OpenAI's scheme.
"""

from __future__ import annotations

import os
import random
import string
from typing import Final

_ALPHABET: Final = string.ascii_letters + string.digits
_LENGTH: Final = 21


class IdFactory:
    """Mints unique ids for one session; seedable so unit tests get reproducible output."""

    __slots__ = ("_rng",)

    def __init__(self, seed: int | None = None) -> None:
        """Seed from the OS unless a test asks for a fixed sequence."""
        self._rng = random.Random(seed if seed is not None else int.from_bytes(os.urandom(8), "big"))

    def new(self, prefix: str) -> str:
        """Return ``<prefix>_<21 alphanumerics>`` like OpenAI's ids."""
        return f"{prefix}_{''.join(self._rng.choices(_ALPHABET, k=_LENGTH))}"

    def event(self) -> str:
        """Server event id."""
        return self.new("event")

    def item(self) -> str:
        """Conversation item id."""
        return self.new("item")
