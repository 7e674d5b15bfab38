"""The wellness workflow's one activity: write the worker's Redis view, then publish its events.

The view goes first so routing stops offering (a break, a rotation) before the world hears of it;
a specialist on a break then has the offers already open to them taken back. Every step is
idempotent: the view is the whole state, a withdrawal of a closed offer is skipped, and the
events carry deterministic ids.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from pydantic import BaseModel
from temporalio import activity
from temporalio.client import Client

from activities.offers import ON_A_BREAK, withdraw_offers
from warmline.events import DomainEvent, EventPublisher
from warmline.liveview import LiveView
from warmline.wellness.view import WellnessStateStore, WorkerWellness


class WellnessSync(BaseModel):
    view: WorkerWellness
    events: list[DomainEvent]


@dataclass(frozen=True)
class OfferWithdrawal:
    """Where a break's open offers are found (the live view) and withdrawn (the escalations)."""

    client: Client
    live_view: LiveView


class WellnessActivities:
    """Built once by the worker with the deployment's wellness view and the event publisher;
    with `offers`, a specialist's break withdraws their open offers."""

    def __init__(
        self,
        store: WellnessStateStore,
        publisher: EventPublisher,
        *,
        offers: OfferWithdrawal | None = None,
    ) -> None:
        self._store = store
        self._publisher = publisher
        self._offers = offers

    @activity.defn(name="wellness_sync")
    async def sync(self, call: WellnessSync) -> None:
        view = call.view
        await asyncio.to_thread(self._store.write, view)
        if self._offers is not None and view.kind == "specialist" and view.on_break:
            withdrawn = await withdraw_offers(
                self._offers.client, self._offers.live_view, view.worker_id, ON_A_BREAK
            )
            if withdrawn:
                activity.logger.info("withdrew %s from %s on a break", withdrawn, view.worker_id)
        if call.events:
            await asyncio.to_thread(self._publisher.publish, call.events)
