"""The handoff activity: look up the customer's profile, then render the specialist's package."""

from __future__ import annotations

import logging

from temporalio import activity

from warmline.handoff import CustomerProfileSource, HandoffPackage, HandoffRenderer, HandoffRequest

logger = logging.getLogger(__name__)


class HandoffActivities:
    """Built once by the worker with the compiled template and the profile source."""

    def __init__(self, renderer: HandoffRenderer, profiles: CustomerProfileSource) -> None:
        self._renderer = renderer
        self._profiles = profiles

    @activity.defn(name="render_handoff")
    def render_handoff(self, request: HandoffRequest) -> HandoffPackage:
        """One attempt; never fails for the template or the profile source, see docs/handoff.md."""
        try:
            profile = self._profiles.lookup(
                request.tenant_id, request.conversation_id, request.country, request.customer_tier
            )
        # The specialist is waiting: a CRM outage must not hold the handoff back, so the package
        # renders without the profile rather than failing the activity into retries.
        except Exception:
            logger.warning(
                "customer profile lookup failed for %s/%s; handing off without it",
                request.tenant_id,
                request.conversation_id,
                exc_info=True,
            )
            profile = {}
        return self._renderer.render(request, profile)
