"""The live-view activity: mirrors an escalation's queue position and offers into Redis.

Redis is a rebuildable view, never the source of truth; a failure here is retried a few times and
then left for the next change (or a rebuild) to repair, so it can never stall an escalation.
"""

from __future__ import annotations

from temporalio import activity

from warmline.escalation import EscalationView
from warmline.liveview import LiveView


class LiveViewActivities:
    """Built once by the worker with its live view (a Redis client)."""

    def __init__(self, view: LiveView) -> None:
        self._view = view

    @activity.defn(name="sync_live_view")
    def sync_live_view(self, escalation: EscalationView) -> None:
        self._view.apply(escalation)
