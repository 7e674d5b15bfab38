"""The triage activity: a provider reads the message; the crisis screen always runs over it."""

from __future__ import annotations

from temporalio import activity

from warmline.triage.provider import TriageProvider, triage
from warmline.triage.types import TriageRequest, TriageResult


class TriageActivities:
    """Built once by the worker with its provider; holds no other state."""

    def __init__(self, provider: TriageProvider) -> None:
        self._provider = provider

    @activity.defn(name="triage_message")
    def triage_message(self, request: TriageRequest) -> TriageResult:
        return triage(self._provider, request)
