"""Taking back a specialist's open offers once they can no longer take them.

The roster stops offering work to someone on a break or marked unavailable, but the offers
already open to them would wait out `accept_within`: an SLA breach nobody could prevent, and in
the crisis lane a slot of the K that nobody will answer. The specialist service's
`SetAvailability` and the wellness workflow's sync call `withdraw_offers` once the roster (or the
wellness view it reads) has the new state, so each escalation's next search passes them over.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from warmline.escalation import WITHDRAW_UPDATE, WithdrawRequest, escalation_of_offer
from warmline.liveview import LiveView

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
    skipped: the race is lost to a state that needs no withdrawal. An offer made after the live
    view was read is one the roster made before it knew; the next call catches it.
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
