"""Why a tool call failed, as the runner reports it (never carrying a secret or a response body)."""

from __future__ import annotations


class ToolFailed(Exception):
    """The tool answered with an error or could not be reached; ``outcome`` goes to spans and metrics."""

    def __init__(self, reason: str, outcome: str = "error") -> None:
        super().__init__(reason)
        self.reason = reason
        self.outcome = outcome
