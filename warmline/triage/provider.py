"""The interface every triage provider implements, and the one entry point that runs them.

`triage()` is what the Temporal activity calls: the provider reads the message, then the crisis
screen runs over it whatever the provider said, so a crisis can never be missed by a model's choice.
"""

from __future__ import annotations

from typing import Protocol

from warmline.triage.crisis import apply_screen, screen
from warmline.triage.types import TriageRequest, TriageResult


class TriageProvider(Protocol):
    """Reads one message in context. Synchronous: activities run it on the worker's thread pool."""

    @property
    def name(self) -> str: ...

    @property
    def model_version(self) -> str: ...

    def triage(self, request: TriageRequest) -> TriageResult: ...


def triage(provider: TriageProvider, request: TriageRequest) -> TriageResult:
    """The provider's reading of the message with the crisis screen applied on top."""
    return apply_screen(provider.triage(request), screen(request.text))
