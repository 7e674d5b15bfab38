"""Taking back a specialist's open offers once they can no longer take them.

The roster stops offering work to someone on a break or marked unavailable, but the offers
already open to them would wait out `accept_within`: an SLA breach nobody could prevent, and in
the crisis lane a slot of the K that nobody will answer. Two sides make sure none is left:

- the specialist service's `SetAvailability` and the wellness workflow's sync call
  `withdraw_offers` once the roster (or the wellness view it reads) has the new state: every offer
  the live view shows by then is withdrawn;
- the escalation, once the live view shows an offer it made, reads the specialist's state again
  (`OfferActivities.recheck_offers`) and withdraws the offer itself if they are on a break or
  unavailable by then.

Each side writes first and reads second, so whichever reads later sees the other's write: an
offer reserved just before the break and shown just after the break's withdrawal read the live
view is caught by the escalation's own read.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, Field
from temporalio import activity
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from warmline.escalation import WITHDRAW_UPDATE, Offer, WithdrawRequest, escalation_of_offer
from warmline.liveview import LiveView
from warmline.wellness.view import WellnessStateStore
from workflows.roster import RosterWorkflow

WITHDRAW_TIMEOUT = timedelta(seconds=15)
"""Longest wait for one escalation's answer; past it the call raises (the caller retries)."""
ON_A_BREAK = "on a break"
MARKED_UNAVAILABLE = "marked unavailable"


async def withdraw_offers(
    client: Client,
    live_view: LiveView,
    specialist_id: str,
    reason: str,
    *,
    rpc_timeout: timedelta | None = WITHDRAW_TIMEOUT,
) -> list[str]:
    """Withdraw every open offer the live view shows `specialist_id`; returns the offer ids.

    An offer accepted, declined or expired meanwhile, or one whose escalation has ended, is
    skipped: the race is lost to a state that needs no withdrawal. An offer the live view shows
    only after it was read here is one the roster reserved before it knew; its escalation reads
    the new state once it shows the offer (`OfferActivities.recheck_offers`) and withdraws it.
    """
    withdrawn = []
    for offer in await asyncio.to_thread(live_view.offers_for, specialist_id):
        escalation = escalation_of_offer(offer.offer_id)
        if escalation is None:
            continue
        handle: WorkflowHandle[Any, Any] = client.get_workflow_handle(escalation)
        request = WithdrawRequest(
            offer_id=offer.offer_id, specialist_id=specialist_id, reason=reason
        )
        try:
            await handle.execute_update(WITHDRAW_UPDATE, request, rpc_timeout=rpc_timeout)
        except WorkflowUpdateFailedError:
            continue
        except RPCError as error:
            if error.status is RPCStatusCode.NOT_FOUND:
                continue
            raise
        withdrawn.append(offer.offer_id)
    return withdrawn


class RecheckCall(BaseModel):
    roster_id: str
    offers: list[Offer]
    """Open offers the live view shows (or may show) since the escalation last read their
    specialists' state."""


class RecheckResult(BaseModel):
    withdraw: list[WithdrawRequest] = Field(default_factory=list)
    """The offers whose specialist is now on a break or unavailable, each with the reason."""


class OfferActivities:
    """Built once by the worker with its client and the wellness view the roster's reserve reads;
    `breaks_stop_offers` is the roster's setting (a break withdraws offers only where it stops
    new ones)."""

    def __init__(
        self,
        client: Client,
        *,
        wellness: WellnessStateStore | None = None,
        breaks_stop_offers: bool = True,
    ) -> None:
        self._client = client
        self._wellness = wellness
        self._breaks_stop_offers = breaks_stop_offers

    @activity.defn(name="recheck_offers")
    async def recheck_offers(self, call: RecheckCall) -> RecheckResult:
        """Which of the offers the specialist can no longer take: marked unavailable on the
        roster, or on a break in the wellness view. Read after the live view showed the offers,
        so a break (or `SetAvailability(false)`) whose withdrawal read the live view before them
        is seen here."""
        specialists = sorted({offer.specialist_id for offer in call.offers})
        if not specialists:
            return RecheckResult()
        roster = self._client.get_workflow_handle_for(RosterWorkflow.run, call.roster_id)
        # A query sees every roster update completed before it was sent (Temporal answers it
        # after the workflow tasks that ran them), so `SetAvailability(false)` is seen here.
        view = await roster.query(RosterWorkflow.view)
        unavailable = {m.member.id for m in view.members if not m.state.available}
        on_break: set[str] = set()
        if self._wellness is not None and self._breaks_stop_offers:
            views = await asyncio.to_thread(self._wellness.read, specialists)
            on_break = {worker for worker, state in views.items() if state.on_break}
        withdraw = []
        for offer in call.offers:
            if offer.specialist_id in on_break:
                reason = ON_A_BREAK
            elif offer.specialist_id in unavailable:
                reason = MARKED_UNAVAILABLE
            else:
                continue
            withdraw.append(
                WithdrawRequest(
                    offer_id=offer.offer_id, specialist_id=offer.specialist_id, reason=reason
                )
            )
        return RecheckResult(withdraw=withdraw)
