"""The handoff activity: look up the customer's profile, then render the specialist's package."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from datetime import timedelta

from temporalio import activity

from warmline.handoff import (
    CustomerProfileSource,
    HandoffPackage,
    HandoffRenderer,
    HandoffRequest,
    ProfileIncompleteError,
)

logger = logging.getLogger(__name__)

PROFILE_TIMEOUT = timedelta(seconds=5)
"""How long the handoff waits for the customer's profile before rendering without it. A lookup
that outlasted the activity's own timeout (30 s) would fail every attempt, and the retries would
hold the specialist at "being prepared" for as long as the CRM hangs."""
LOOKUPS_HANGING_MAX = 8
"""Lookups past their timeout still running (a thread cannot be stopped) before the handoff stops
asking the source at all, so a CRM that never answers cannot use up the worker's threads."""


class ProfileLookupError(Exception):
    """The customer profile source did not answer in time, or answered something unusable."""


class HandoffActivities:
    """Built once by the worker with the compiled template and the profile source."""

    def __init__(
        self,
        renderer: HandoffRenderer,
        profiles: CustomerProfileSource,
        *,
        profile_timeout: timedelta = PROFILE_TIMEOUT,
    ) -> None:
        self._renderer = renderer
        self._profiles = profiles
        self._profile_timeout = profile_timeout
        self._lookup_slots = threading.BoundedSemaphore(LOOKUPS_HANGING_MAX)

    @activity.defn(name="render_handoff")
    def render_handoff(self, request: HandoffRequest) -> HandoffPackage:
        """One attempt; never fails for the template or the profile source, see docs/handoff.md."""
        try:
            profile = self._lookup(request)
        except ProfileIncompleteError as incomplete:
            # One of several sources failed (logged there): the others' facts, and the flag.
            package = self._renderer.render(request, incomplete.facts)
            return package.model_copy(update={"profile_unavailable": True})
        # The specialist is waiting: a CRM outage must not hold the handoff back, so the package
        # renders without the profile rather than failing the activity into retries, and says so:
        # an empty profile alone would read as a customer the CRM does not know.
        except Exception:
            logger.warning(
                "customer profile lookup failed for %s/%s; handing off without it",
                request.tenant_id,
                request.conversation_id,
                exc_info=True,
            )
            package = self._renderer.render(request, {})
            return package.model_copy(update={"profile_unavailable": True})
        return self._renderer.render(request, profile)

    def _lookup(self, request: HandoffRequest) -> dict[str, str]:
        """The source's answer within `profile_timeout`, as string facts; raises when there is
        none. The lookup runs in a thread of its own so that waiting for it can be bounded."""
        if not self._lookup_slots.acquire(blocking=False):
            raise ProfileLookupError(
                f"{LOOKUPS_HANGING_MAX} earlier lookups are still waiting for the profile source"
            )
        answers: list[object] = []
        failures: list[Exception] = []

        def look_up() -> None:
            try:
                answers.append(
                    self._profiles.lookup(
                        request.tenant_id,
                        request.conversation_id,
                        request.country,
                        request.customer_tier,
                    )
                )
            except Exception as error:  # noqa: BLE001 - handed to the waiting activity thread
                failures.append(error)
            finally:
                self._lookup_slots.release()

        lookup = threading.Thread(
            target=look_up, name=f"profile-lookup-{request.conversation_id}", daemon=True
        )
        lookup.start()
        lookup.join(self._profile_timeout.total_seconds())
        if lookup.is_alive():
            raise ProfileLookupError(
                f"the profile source did not answer within "
                f"{self._profile_timeout.total_seconds():g}s"
            )
        if failures:
            raise failures[0]
        answer = answers[0]
        if not isinstance(answer, Mapping):
            raise ProfileLookupError(
                f"the profile source answered a {type(answer).__name__}, not string facts"
            )
        return {str(key): str(value) for key, value in answer.items()}
