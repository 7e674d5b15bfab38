"""Runs a scenario against the real workflows on Temporal's time-skipping test server.

A real worker (triage, roster, escalation, handoff, events) serves a fresh task queue; the runner
moves the test server's clock to each step's time in small skips, performs the step as a
specialist or customer would, keeps skipping past the scenario's horizon, then reads the domain
events back from Kafka. Event offsets are workflow time since the start, so an hour of SLA timers
takes seconds and the timeline is the same on every run.
"""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from kafka import KafkaConsumer
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.routing import ensure_roster
from warmline.config.model import WarmlineConfig
from warmline.conversation import (
    CloseRequest,
    CompleteRequest,
    ConversationInput,
    ConversationOutcome,
    CustomerMessage,
    EscalationPolicy,
    HandBackRequest,
    SpecialistAction,
    SpecialistReply,
    TransferRequest,
    workflow_id,
)
from warmline.escalation import (
    AcceptRequest,
    DeclineRequest,
    Offer,
    OfferStatus,
    escalation_workflow_id,
)
from warmline.events import DomainEvent, EventPublisher, from_record
from warmline.handoff import renderer_from_config
from warmline.liveview import LiveView
from warmline.roster import AvailabilityRequest, RosterMember, RosterSettings
from warmline.runtime import build_provider, escalation_policy, roster_settings
from warmline.services import temporal_test_server_path
from warmline.simulate.scenario import (
    AvailabilityStep,
    CloseStep,
    CompleteStep,
    DeclineStep,
    HandBackStep,
    MessageStep,
    OfferStep,
    ReplyStep,
    Scenario,
    Step,
    TransferStep,
)
from warmline.worker import ACTIVITY_THREADS, Routing, build_worker
from workflows.conversation import ConversationWorkflow
from workflows.escalation import EscalationWorkflow
from workflows.roster import RosterWorkflow

SKIP = timedelta(seconds=5)
"""Most workflow time skipped per call: one long skip of the test server is fragile."""
SETTLE_S = 0.05
"""Real time given to the worker between skips, so work a skip triggered gets going."""
OFFER_WAIT_S = 3.0
"""How long (real time) a step waits for an offer or a handoff it needs to appear."""
QUIET_S = 1.5
"""Reading events stops once the topic has been quiet this long (real time)."""

Conversation = WorkflowHandle[ConversationWorkflow, ConversationOutcome]


@dataclass(frozen=True)
class StepError:
    index: int
    at: timedelta
    kind: str
    message: str


@dataclass
class Run:
    """What a simulation produced: the events with their offsets and the steps that failed."""

    events: list[tuple[timedelta, DomainEvent]] = field(default_factory=list)
    step_errors: list[StepError] = field(default_factory=list)


class StepFailedError(Exception):
    """A step could not be performed (no open offer, refused by the workflow...)."""


async def simulate(scenario: Scenario, config: WarmlineConfig, *, kafka: str, redis: str) -> Run:
    """Run `scenario` with `config` against Kafka at `kafka` and Redis at `redis`."""
    run_id = uuid.uuid4().hex[:10]
    task_queue = f"simulate-{run_id}"
    topic = f"simulate-{run_id}"
    policy = escalation_policy(config, task_queue=task_queue)
    settings = _roster(scenario, config)
    publisher = EventPublisher.connect(kafka, topic=topic)
    live_view = LiveView.connect(redis, prefix=f"simulate-{run_id}")
    routing = Routing(
        roster=settings, live_view=live_view, renderer=renderer_from_config(config.handoff)
    )
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=str(temporal_test_server_path()),
        runtime=_quiet_runtime(),
    )
    run = Run()
    try:
        with ThreadPoolExecutor(max_workers=ACTIVITY_THREADS) as executor:
            async with build_worker(
                env.client,
                provider=build_provider(config.triage.provider),
                publisher=publisher,
                task_queue=task_queue,
                executor=executor,
                routing=routing,
            ):
                driver = _Driver(env, config, policy, task_queue)
                await driver.prepare(scenario, settings)
                run.step_errors = await driver.play(scenario)
                events = await asyncio.to_thread(_read_events, kafka, topic)
                run.events = sorted(
                    ((event.time - driver.start, event) for event in events),
                    key=lambda pair: pair[0],
                )
    finally:
        await env.shutdown()
        publisher.close()
        live_view.close()
    return run


def _quiet_runtime() -> Runtime:
    """A runtime whose core logs only errors: its warnings would land in the `--json` output."""
    logging = LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"))
    return Runtime(telemetry=TelemetryConfig(logging=logging))


def _roster(scenario: Scenario, config: WarmlineConfig) -> RosterSettings:
    settings = roster_settings(config)
    if scenario.specialists is None:
        return settings
    members = [
        RosterMember(id=s.id, skills=s.skills, capacity=s.capacity, crisis_trained=s.crisis_trained)
        for s in scenario.specialists
    ]
    return settings.model_copy(update={"members": members})


def _read_events(bootstrap: str, topic: str) -> list[DomainEvent]:
    """Everything on the run's topic, read until it has been quiet for a while."""
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    events: list[DomainEvent] = []
    try:
        quiet = 0.0
        while quiet < QUIET_S:
            batch = consumer.poll(timeout_ms=500)
            records = [record for records in batch.values() for record in records]
            quiet = 0.0 if records else quiet + 0.5
            events.extend(from_record(r.key, list(r.headers), r.value) for r in records)
    finally:
        consumer.close()
    return events


class _Driver:
    """Moves the clock and performs the steps as customers and specialists would."""

    def __init__(
        self, env: WorkflowEnvironment, config: WarmlineConfig, policy: EscalationPolicy, tq: str
    ) -> None:
        self.env = env
        self.client: Client = env.client
        self.tenant = config.tenants[0].id
        self.country = config.tenants[0].country
        self.policy = policy
        self.task_queue = tq
        self.start = datetime.min
        self.conversations: dict[str, Conversation] = {}
        self.messages = 0

    @property
    def roster_id(self) -> str:
        if self.policy.routing is None:
            raise RuntimeError("the policy has routing")
        return self.policy.routing.roster_id

    async def prepare(self, scenario: Scenario, settings: RosterSettings) -> None:
        await ensure_roster(self.client, self.roster_id, settings, task_queue=self.task_queue)
        for specialist in scenario.specialists or []:
            if not specialist.available:
                await self._set_availability(specialist.id, available=False)
        self.start = await self.env.get_current_time()

    async def play(self, scenario: Scenario) -> list[StepError]:
        errors: list[StepError] = []
        for index, step in enumerate(scenario.steps):
            await self.advance_to(self.start + step.at)
            try:
                await self.perform(step)
            except StepFailedError as error:
                errors.append(StepError(index, step.at, step.kind, str(error)))
        await self.advance_to(self.start + scenario.horizon)
        return errors

    async def advance_to(self, moment: datetime) -> None:
        while True:
            now = await self.env.get_current_time()
            if now >= moment:
                return
            await self.env.sleep(min(SKIP, moment - now))
            await asyncio.sleep(SETTLE_S)

    async def perform(self, step: Step) -> None:
        action = step.action
        try:
            if isinstance(action, MessageStep):
                await self._message(action)
            elif isinstance(action, AvailabilityStep):
                await self._set_availability(action.specialist, available=action.available)
            elif isinstance(action, CloseStep):
                await self._conversation(action.conversation).signal(
                    ConversationWorkflow.close, CloseRequest(reason=action.reason)
                )
            elif step.kind in {"accept", "decline"} and isinstance(action, OfferStep):
                await self._answer_offer(step.kind, action)
            else:
                await self._specialist_action(step.kind, action)
        except WorkflowUpdateFailedError as error:
            cause = error.cause
            reason = cause.message if isinstance(cause, ApplicationError) else str(cause)
            raise StepFailedError(f"refused: {reason}") from None
        except RPCError as error:
            raise StepFailedError(f"refused: {error.message}") from None

    async def _message(self, action: MessageStep) -> None:
        handle = self.conversations.get(action.conversation)
        if handle is None:
            handle = await self.client.start_workflow(
                ConversationWorkflow.run,
                ConversationInput(
                    tenant_id=self.tenant,
                    conversation_id=action.conversation,
                    country=action.country or self.country,
                    policy=self.policy,
                ),
                id=workflow_id(self.tenant, action.conversation),
                task_queue=self.task_queue,
            )
            self.conversations[action.conversation] = handle
        self.messages += 1
        message = CustomerMessage(message_id=f"m{self.messages}", text=action.text)
        await handle.execute_update(ConversationWorkflow.add_message, message)

    def _conversation(self, conversation: str) -> Conversation:
        handle = self.conversations.get(conversation)
        if handle is None:
            raise StepFailedError(f"conversation {conversation!r} has had no message yet")
        return handle

    async def _set_availability(self, specialist: str, *, available: bool) -> None:
        roster = self.client.get_workflow_handle_for(RosterWorkflow.run, self.roster_id)
        await roster.execute_update(
            RosterWorkflow.set_availability,
            AvailabilityRequest(specialist_id=specialist, available=available),
        )

    async def _answer_offer(self, kind: str, action: OfferStep) -> None:
        handle = self._conversation(action.conversation)
        sequence = (await handle.query(ConversationWorkflow.view)).escalations
        escalation = self.client.get_workflow_handle_for(
            EscalationWorkflow.run,
            escalation_workflow_id(self.tenant, action.conversation, sequence),
        )
        offer = await self._open_offer(escalation, action) if sequence else None
        if offer is None:
            raise StepFailedError(
                f"{action.specialist} has no open offer of {action.conversation} now"
            )
        if isinstance(action, DeclineStep):
            await escalation.execute_update(
                EscalationWorkflow.decline,
                DeclineRequest(
                    offer_id=offer.offer_id, specialist_id=offer.specialist_id, reason=action.reason
                ),
            )
            return
        await escalation.execute_update(
            EscalationWorkflow.accept,
            AcceptRequest(offer_id=offer.offer_id, specialist_id=offer.specialist_id),
        )
        await self._wait_for_handoff(handle, action.specialist)

    async def _open_offer(
        self, escalation: WorkflowHandle[EscalationWorkflow, Any], action: OfferStep
    ) -> Offer | None:
        """The specialist's open offer, waiting briefly for one the worker is still making."""
        for _ in range(int(OFFER_WAIT_S / 0.1)):
            try:
                view = await escalation.query(EscalationWorkflow.view)
            except RPCError:
                view = None
            if view is not None:
                for offer in view.offers:
                    mine = offer.specialist_id == action.specialist
                    if mine and offer.status is OfferStatus.OPEN:
                        return offer
            await asyncio.sleep(0.1)
        return None

    async def _wait_for_handoff(self, handle: Conversation, specialist: str) -> None:
        """An accept is done when the conversation holds the specialist's rendered handoff."""
        for _ in range(int(OFFER_WAIT_S / 0.1) * 3):
            view = await handle.query(ConversationWorkflow.view)
            if view.owner == specialist and view.handoff is not None:
                return
            await asyncio.sleep(0.1)
        raise StepFailedError(f"the handoff to {specialist} did not arrive")

    async def _specialist_action(self, kind: str, action: Any) -> None:
        handle = self._conversation(action.conversation)
        who = action.specialist
        if isinstance(action, CompleteStep):
            await handle.execute_update(
                ConversationWorkflow.complete,
                CompleteRequest(specialist_id=who, outcome=action.outcome, summary=action.summary),
            )
        elif isinstance(action, TransferStep):
            await handle.execute_update(
                ConversationWorkflow.transfer,
                TransferRequest(specialist_id=who, queue=action.queue, note=action.note),
            )
        elif isinstance(action, ReplyStep):
            self.messages += 1
            await handle.execute_update(
                ConversationWorkflow.specialist_reply,
                SpecialistReply(
                    specialist_id=who, message_id=f"s{self.messages}", text=action.text
                ),
            )
        elif isinstance(action, HandBackStep):
            await handle.execute_update(
                ConversationWorkflow.hand_back, HandBackRequest(specialist_id=who, note=action.note)
            )
        else:
            await handle.execute_update(
                ConversationWorkflow.acknowledge_risk, SpecialistAction(specialist_id=who)
            )
