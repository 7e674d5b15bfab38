"""The interface every triage provider implements, and the one entry point that runs them.

`triage()` is what the Temporal activity calls: the provider reads the message, then the crisis
screen runs over it whatever the provider said, so a crisis can never be missed by a model's choice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Protocol

import httpx

from warmline.triage.crisis import apply_screen, screen
from warmline.triage.errors import TriageError
from warmline.triage.lexicon import LexiconProvider
from warmline.triage.llm import LLMProvider, LLMSettings
from warmline.triage.local import LocalProvider
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


ProviderKind = Literal["lexicon", "llm", "local"]


def build_provider(
    kind: ProviderKind,
    *,
    lexicon_extra: Path | None = None,
    llm: LLMSettings | None = None,
    http_client: httpx.Client | None = None,
    model_path: Path | None = None,
) -> TriageProvider:
    """Build the provider the configuration names; the worker calls this once at start-up."""
    if kind == "lexicon":
        return LexiconProvider(extra=lexicon_extra)
    if kind == "llm":
        if llm is None:
            raise TriageError("the llm triage provider needs LLMSettings (base_url, model, ...)")
        return LLMProvider(llm, client=http_client)
    if kind == "local":
        # None loads the model shipped with the package.
        return LocalProvider.from_path(model_path)
    raise TriageError(f"unknown triage provider {kind!r}; known: lexicon, llm, local")
