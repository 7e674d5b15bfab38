"""Simulated specialists: people who watch their offers, accept or decline, and work the handoff.

Each specialist is an asyncio task polling their open offers in the Redis live view, as a real
specialist client would, then acting through the same workflow updates the gRPC API uses. Delays are
real time, scaled down so a shift plays out in about a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from temporalio.client import Client, WorkflowQueryFailedError, WorkflowUpdateFailedError
from temporalio.service import RPCError

from warmline.conversation import (
    CompleteRequest,
    ConversationView,
    SpecialistAction,
    SpecialistReply,
)
from warmline.demo.checkins import answer_checkin
from warmline.escalation import AcceptRequest, DeclineRequest, Offer, escalation_of_offer
from warmline.liveview import LiveView
from warmline.wellness.client import WellnessClient
from workflows.conversation import ConversationWorkflow
from workflows.escalation import EscalationWorkflow

POLL_S = 0.25
"""How often a specialist's client looks at their open offers."""
HANDOFF_WAIT_S = 30.0
"""How long a specialist waits for the handoff package after accepting."""
CUSTOMER_WAIT_S = 45.0
"""How long a specialist keeps a conversation open for a customer still typing."""
CHECKIN_EVERY = 4
"""A specialist looks for a check-in request on every this many polls."""

DECLINE_REASONS = (
    "on a call with another customer",
    "need a few minutes after the last conversation",
    "stepping away for a break",
    "not the right person for this one",
)
REPLIES = {
    True: "I'm here with you now. You did the right thing reaching out. Are you safe right now?",
    False: "Hi, I'm picking this up from our assistant and I've read everything so far. "
    "I'm sorry you've had to deal with this; let's sort it out together.",
}


@dataclass(frozen=True)
class Temperament:
    """How a simulated specialist works: how fast they answer and how often they say no."""

    accept_delay_s: tuple[float, float] = (0.2, 1.5)
    decline_rate: float = 0.1
    miss_rate: float = 0.05
    """How often an offer is left to expire (on a call, away from the desk)."""
    work_s: tuple[float, float] = (0.5, 2.0)


TEMPERAMENTS: Mapping[str, Temperament] = {
    "sp-priya": Temperament(accept_delay_s=(0.3, 2.0), decline_rate=0.15, miss_rate=0.2),
    "sp-sam": Temperament(accept_delay_s=(0.5, 2.0), decline_rate=0.2, miss_rate=0.1),
    "sp-jonas": Temperament(accept_delay_s=(0.2, 0.8), decline_rate=0.05, miss_rate=0.0),
}


@dataclass
class Desk:
    """What the simulated specialists share with the simulated customers."""

    client: Client
    live_view: LiveView
    finished: dict[str, asyncio.Event] = field(default_factory=dict)
    """Per conversation id: set once the customer has sent their last message."""
    actions: dict[str, int] = field(default_factory=dict)
    """What the specialists did (accepted, declined, missed, completed), counted."""
    wellness: WellnessClient | None = None
    """The specialists' wellness workflows, whose check-in requests they answer."""

    def count(self, action: str) -> None:
        self.actions[action] = self.actions.get(action, 0) + 1

    def customer_done(self, conversation_id: str) -> asyncio.Event:
        return self.finished.setdefault(conversation_id, asyncio.Event())


class Specialist:
    """One simulated specialist; `run` works their offers until cancelled."""

    def __init__(self, specialist_id: str, desk: Desk, *, seed: int) -> None:
        self.id = specialist_id
        self.desk = desk
        self.temperament = TEMPERAMENTS.get(specialist_id, Temperament())
        # A simulation, not security: a seeded generator makes runs repeatable.
        self.rng = random.Random(f"{seed}:{specialist_id}")  # noqa: S311
        self._seen: set[str] = set()
        self._work: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        polls = 0
        try:
            while True:
                polls += 1
                if polls % CHECKIN_EVERY == 0:
                    await self._answer_checkin()
                offers = await asyncio.to_thread(self.desk.live_view.offers_for, self.id)
                for offer in offers:
                    if offer.offer_id not in self._seen:
                        self._seen.add(offer.offer_id)
                        task = asyncio.create_task(self._consider(offer))
                        self._work.add(task)
                        task.add_done_callback(self._work.discard)
                await asyncio.sleep(POLL_S)
        finally:
            for task in list(self._work):
                task.cancel()

    async def _answer_checkin(self) -> None:
        if self.desk.wellness is not None and await answer_checkin(
            self.desk.wellness, self.id, self.rng
        ):
            self.desk.count("checked_in")

    async def _consider(self, offer: Offer) -> None:
        temperament = self.temperament
        roll = self.rng.random()
        await asyncio.sleep(self.rng.uniform(*temperament.accept_delay_s))
        escalation = escalation_of_offer(offer.offer_id)
        if escalation is None:
            return
        handle = self.desk.client.get_workflow_handle_for(EscalationWorkflow.run, escalation)
        # People in the crisis lane rarely say no; everyone else sometimes does.
        decline_rate = temperament.decline_rate / 3 if offer.crisis else temperament.decline_rate
        try:
            if roll < temperament.miss_rate and not offer.crisis:
                self.desk.count("missed")
                return
            if roll < temperament.miss_rate + decline_rate:
                reason = self.rng.choice(DECLINE_REASONS)
                await handle.execute_update(
                    EscalationWorkflow.decline,
                    DeclineRequest(offer_id=offer.offer_id, specialist_id=self.id, reason=reason),
                )
                self.desk.count("declined")
                return
            accepted = await handle.execute_update(
                EscalationWorkflow.accept,
                AcceptRequest(offer_id=offer.offer_id, specialist_id=self.id),
            )
        except (WorkflowUpdateFailedError, RPCError):
            # Someone else accepted first, or the offer expired meanwhile: nothing to do.
            self.desk.count("too_late")
            return
        self.desk.count("accepted")
        await self._work_conversation(accepted.conversation_workflow_id, offer)

    async def _work_conversation(self, workflow_id: str, offer: Offer) -> None:
        handle = self.desk.client.get_workflow_handle_for(ConversationWorkflow.run, workflow_id)
        view = await self._handoff_view(workflow_id)
        if view is None or view.handoff is None:
            return
        try:
            if view.handoff.requires_acknowledgement and not view.risk_acknowledged:
                await handle.execute_update(
                    ConversationWorkflow.acknowledge_risk, SpecialistAction(specialist_id=self.id)
                )
            await handle.execute_update(
                ConversationWorkflow.specialist_reply,
                SpecialistReply(
                    specialist_id=self.id,
                    message_id=f"{self.id}-{offer.offer_id.rsplit('/', 1)[-1]}",
                    text=REPLIES[offer.crisis],
                ),
            )
            await asyncio.sleep(self.rng.uniform(*self.temperament.work_s))
            customer = self.desk.customer_done(offer.conversation_id)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(customer.wait(), CUSTOMER_WAIT_S)
            outcome = "referred" if offer.crisis else self.rng.choice(("resolved", "follow_up"))
            await handle.execute_update(
                ConversationWorkflow.complete,
                CompleteRequest(
                    specialist_id=self.id, outcome=outcome, summary=f"{offer.queue}: {outcome}"
                ),
            )
            self.desk.count("completed")
        except (WorkflowUpdateFailedError, RPCError):
            # The customer left (the conversation closed) while the specialist was working.
            self.desk.count("abandoned")

    async def _handoff_view(self, workflow_id: str) -> ConversationView | None:
        handle = self.desk.client.get_workflow_handle_for(ConversationWorkflow.run, workflow_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + HANDOFF_WAIT_S
        while loop.time() < deadline:
            try:
                view = await handle.query(ConversationWorkflow.view)
            except (RPCError, WorkflowQueryFailedError):
                return None
            if view.owner == self.id and view.handoff is not None:
                return view
            await asyncio.sleep(POLL_S / 2)
        return None
