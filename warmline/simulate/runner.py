"""Runs a scenario against the real workflows on Temporal's time-skipping test server.

A real worker (triage, roster, escalation, handoff, wellness, annotation, events) serves a fresh
task queue, with wellness-aware routing reading the workers' wellness views; the runner moves the
test server's clock to each step's time in skips, performs the step as a customer, specialist,
supervisor or annotator would, keeps skipping past the scenario's horizon, then reads the domain
and wellness events back from Kafka. Between skips the real exposure tracker folds the new events,
so handled conversations count toward the specialists' exposure as in production. Event offsets
are workflow time since the start, so hours of breaks and check-ins take seconds and the timeline
is the same on every run.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, TypeVar

from redis import Redis
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from activities.routing import ensure_roster
from warmline.annotation.gold import GoldLabelStore
from warmline.annotation.model import (
    AnnotationInput,
    AnnotationReport,
    LabelSubmission,
    NextTaskRequest,
    TextItem,
    annotation_workflow_id,
    policy_from_config,
)
from warmline.annotation.model import AnnotatorSpec as LoopAnnotator
from warmline.config.durations import format_duration
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
from warmline.errors import WarmlineError
from warmline.escalation import (
    AcceptRequest,
    AssignRequest,
    DeclineRequest,
    Offer,
    OfferStatus,
    escalation_workflow_id,
)
from warmline.events import EventPublisher
from warmline.events.admin import ensure_topics
from warmline.events.pump import EventPump, read_until_quiet
from warmline.handoff import renderer_from_config
from warmline.liveview import LiveView
from warmline.reach import check_redis
from warmline.roster import AvailabilityRequest, RosterMember, RosterSettings
from warmline.runs import forget_run
from warmline.runtime import (
    build_provider,
    escalation_policy,
    redactor_for,
    roster_settings,
    wellness_policy,
)
from warmline.services import gave_up_by_test_server, temporal_test_server_path
from warmline.simulate.report import Run, StepError, step_label
from warmline.simulate.scenario import (
    AnnotateStep,
    AssignStep,
    AvailabilityStep,
    BreakStep,
    CheckInStep,
    CloseStep,
    CompleteStep,
    DeclineStep,
    EndBreakStep,
    HandBackStep,
    MessageStep,
    OfferStep,
    ReplyStep,
    Scenario,
    Step,
    TransferStep,
)
from warmline.wellness.client import WellnessClient
from warmline.wellness.policy import WorkerKind
from warmline.wellness.tracker import ExposureCounter, TrackStore
from warmline.wellness.types import BreakRequest, CheckInRequest, EndBreakRequest
from warmline.wellness.view import WellnessStateStore, WorkerWellness
from warmline.worker import ACTIVITY_THREADS, Annotation, Routing, build_worker
from workflows.annotation import AnnotationWorkflow
from workflows.conversation import ConversationWorkflow
from workflows.escalation import EscalationWorkflow
from workflows.roster import RosterWorkflow
from workflows.wellness import WellnessWorkflow

SKIP = timedelta(seconds=5)
"""Workflow time skipped per call while things happen: the exposure tracker and the steps act in
real time, so a skip must not carry the clock far past the events they answer."""
MAX_SKIP = timedelta(minutes=2)
"""Skips double up to this while no event appears, so quiet hours of a shift pass quickly."""
SETTLE_S = 0.05
"""Real time given to the worker between skips, so work a skip triggered gets going."""
VIEW_SETTLE_S = 0.3
"""Real time given to the wellness workflows before a view is read, so a signal the tracker just
sent has reached the view."""
OFFER_WAIT_S = 3.0
"""How long (real time) a step waits for an offer or a handoff it needs to appear."""
ANSWER_WAIT_S = 60.0
"""Real time a step, or a skip of the clock, may take before the run is given up. Both take
seconds at most; Temporal's time-skipping test server can leave a workflow without a further
workflow task (it refuses a completion that cancels a timer which fired while the task ran,
temporalio/sdk-java#3088), and then never answers an update to it: without a bound the command
would wait for ever."""

Conversation = WorkflowHandle[ConversationWorkflow, ConversationOutcome]
T = TypeVar("T")


class StepFailedError(Exception):
    """A step could not be performed (no open offer, refused by the workflow...)."""


class SimulationStalledError(WarmlineError):
    """The test server stopped answering: the run cannot go on, and a second run usually can."""

    def __init__(self, what: str) -> None:
        super().__init__(
            f"{what} within {ANSWER_WAIT_S:g} s of real time: Temporal's time-skipping test "
            "server stopped answering (a fault of that server, temporalio/sdk-java#3088); "
            "run the scenario again"
        )


async def simulate(scenario: Scenario, config: WarmlineConfig, *, kafka: str, redis: str) -> Run:
    """Run `scenario` with `config` against Kafka at `kafka` and Redis at `redis`."""
    run_id = uuid.uuid4().hex[:10]
    task_queue = f"simulate-{run_id}"
    topic = f"simulate-{run_id}"
    wellness_topic = f"simulate-{run_id}-wellness"
    deployment = config.metadata.name
    # A Redis that does not answer would otherwise fail the first activity, in pages of logs.
    await asyncio.to_thread(check_redis, redis)
    # A first publish to a missing topic can hold an activity, and with it the time skipping.
    await asyncio.to_thread(ensure_topics, kafka, [topic, wellness_topic])
    policy = escalation_policy(config, task_queue=task_queue)
    settings = _roster(scenario, config)
    publisher = EventPublisher.connect(kafka, topic=topic, wellness_topic=wellness_topic)
    live_view = LiveView.connect(redis, prefix=f"simulate-{run_id}")
    store = WellnessStateStore.connect(
        redis, deployment=deployment, prefix=f"simulate-{run_id}-wellness"
    )
    redis_client = Redis.from_url(redis)
    routing = Routing(
        roster=settings,
        live_view=live_view,
        renderer=renderer_from_config(config),
        wellness=store,
    )
    annotation = _annotation(scenario, config, redis_client, store, run_id)
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=str(temporal_test_server_path()),
        runtime=_quiet_runtime(),
    )
    pump = EventPump(kafka, topic)
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
                annotation=annotation,
            ):
                kinds = {member.id: WorkerKind.SPECIALIST for member in settings.members}
                kinds |= {a.id: WorkerKind.ANNOTATOR for a in _annotators(scenario, config)}
                wellness = WellnessClient(
                    env.client,
                    deployment=deployment,
                    policy=wellness_policy(config),
                    task_queue=task_queue,
                    kinds=kinds,
                )
                counter = ExposureCounter(
                    wellness,
                    TrackStore(redis_client, deployment=deployment, prefix=f"simulate-{run_id}"),
                )
                pump.handlers.append(counter.handle)
                driver = _Driver(env, config, policy, task_queue, wellness, store, pump)
                await driver.prepare(scenario, settings)
                run.step_errors, run.views = await driver.play(scenario)
                events = await asyncio.to_thread(read_until_quiet, kafka, [topic, wellness_topic])
                run.events = sorted(
                    ((event.time - driver.start, event) for event in events),
                    key=lambda pair: (pair[0], pair[1].time),
                )
    finally:
        await env.shutdown()
        pump.close()
        publisher.close()
        live_view.close()
        store.close()
        # After the worker has stopped, so no activity writes a view after its deletion.
        await forget_run(redis_client, f"simulate-{run_id}", kafka, [topic, wellness_topic])
        redis_client.close()
    return run


async def answered(work: Awaitable[None], what: str) -> None:
    """`work` done, or `SimulationStalledError` saying `what` after `ANSWER_WAIT_S`."""
    try:
        await asyncio.wait_for(work, ANSWER_WAIT_S)
    except TimeoutError:
        raise SimulationStalledError(what) from None
    except RPCError as error:
        if not gave_up_by_test_server(error):
            raise
        raise SimulationStalledError(what) from None


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


def _annotators(scenario: Scenario, config: WarmlineConfig) -> list[LoopAnnotator]:
    """The annotation loop's annotators: the scenario's, else the configuration's."""
    if scenario.annotators is not None:
        return [
            LoopAnnotator(id=a.id, senior=a.senior, skills=a.skills, languages=a.languages)
            for a in scenario.annotators
        ]
    return policy_from_config(config).annotators


def _annotation(
    scenario: Scenario, config: WarmlineConfig, redis: Redis, store: WellnessStateStore, run: str
) -> Annotation | None:
    """The annotation loop's stores, for a scenario with `annotate` steps."""
    if not scenario.annotates:
        return None
    return Annotation(
        gold=GoldLabelStore(redis, deployment=config.metadata.name, prefix=f"simulate-{run}-gold"),
        wellness=store,
        redactor=redactor_for(config),
    )


class _Driver:
    """Moves the clock and performs the steps as customers, specialists, supervisors and
    annotators would."""

    def __init__(
        self,
        env: WorkflowEnvironment,
        config: WarmlineConfig,
        policy: EscalationPolicy,
        tq: str,
        wellness: WellnessClient,
        store: WellnessStateStore,
        pump: EventPump,
    ) -> None:
        self.env = env
        self.client: Client = env.client
        self.config = config
        self.tenant = config.tenants[0].id
        self.country = config.tenants[0].country
        self.policy = policy
        self.task_queue = tq
        self.wellness = wellness
        self.store = store
        self.pump = pump
        self.start = datetime.min
        self.conversations: dict[str, Conversation] = {}
        self.messages = 0
        self.items: dict[str, bool] = {}
        """Annotation items submitted: item id → crisis."""

    @property
    def roster_id(self) -> str:
        if self.policy.routing is None:
            raise RuntimeError("the policy has routing")
        return self.policy.routing.roster_id

    @property
    def annotation_id(self) -> str:
        return annotation_workflow_id(self.config.metadata.name)

    async def prepare(self, scenario: Scenario, settings: RosterSettings) -> None:
        await ensure_roster(self.client, self.roster_id, settings, task_queue=self.task_queue)
        unavailable = {s.id for s in scenario.specialists or [] if not s.available}
        for specialist in unavailable:
            await self._set_availability(specialist, available=False)
        annotators = _annotators(scenario, self.config)
        if scenario.annotates:
            policy = policy_from_config(self.config).model_copy(update={"annotators": annotators})
            await self.client.start_workflow(
                AnnotationWorkflow.run,
                AnnotationInput(policy=policy),
                id=self.annotation_id,
                task_queue=self.task_queue,
            )
        # Everyone available starts a shift, as `SetAvailability` would start it: their exposure,
        # breaks and check-ins run from the scenario's start (a moment before it). One at a time,
        # in id order: the wellness-aware outlook counts the budget's pace until the shift ends,
        # so a shift started later ranks later once the starts are a tenth of a second apart (a
        # loaded machine), and the routing's tie-break on equal outlooks is the id. Started
        # together, which shift ended first was the machine's choice.
        working = [m.id for m in settings.members if m.id not in unavailable]
        for worker in sorted([*working, *(a.id for a in annotators)]):
            await self.wellness.availability(worker, True)
            await self._wait_for_shift(worker)
        self.start = await self.env.get_current_time()

    async def _wait_for_shift(self, worker: str) -> None:
        """A signal's first workflow task may still be pending when a step's update arrives, and
        the update could then run first: the shift must have started before any step. Routing
        reads the view the workflow's activity writes a moment later, and ranks a worker with no
        view as one out of shift, so the view must show the shift too."""
        handle = self.wellness.handle(worker)
        for _ in range(int(OFFER_WAIT_S / 0.05) * 3):
            try:
                state = await handle.query(WellnessWorkflow.state)
            except (RPCError, WorkflowQueryFailedError):
                state = None
            if state is not None and state.shift is not None:
                view = await asyncio.to_thread(self.store.read, [worker])
                if view[worker].in_shift:
                    return
            await asyncio.sleep(0.05)
        raise RuntimeError(f"the shift of {worker} did not start")

    async def play(self, scenario: Scenario) -> tuple[list[StepError], dict[int, WorkerWellness]]:
        errors: list[StepError] = []
        views: dict[int, WorkerWellness] = {}
        # Steps and the moments wellness views are read, in time order (a view after the steps
        # at the same moment).
        timeline: list[tuple[timedelta, int, int]] = [
            (step.at, 0, index) for index, step in enumerate(scenario.steps)
        ] + [
            (e.wellness.at, 1, index)
            for index, e in enumerate(scenario.expect)
            if e.wellness is not None
        ]
        for at, kind, index in sorted(timeline):
            await self.advance_to(self.start + at)
            if kind == 1:
                check = scenario.expect[index].wellness
                if check is not None:
                    views[index] = await self._view(check.worker)
                continue
            step = scenario.steps[index]
            label = step_label(index, step.at, step.kind)
            try:
                await answered(self.perform(step), f"step {label} had no answer")
            except StepFailedError as error:
                if step.refused is None or step.refused not in str(error):
                    errors.append(StepError(index, step.at, step.kind, str(error)))
            else:
                if step.refused is not None:
                    message = "performed, but the scenario expects it to be refused"
                    if step.refused:
                        message += f" ({step.refused!r})"
                    errors.append(StepError(index, step.at, step.kind, message))
            await self.pump.drain()
        await self.advance_to(self.start + scenario.horizon)
        return errors, views

    async def advance_to(self, moment: datetime) -> None:
        skip = SKIP
        while True:
            now = await self.env.get_current_time()
            if now >= moment:
                return
            await answered(
                self.env.sleep(min(skip, moment - now)),
                f"the clock did not move on from {format_duration(now - self.start)}",
            )
            await asyncio.sleep(SETTLE_S)
            seen = await self.pump.drain()
            skip = SKIP if seen else min(skip * 2, MAX_SKIP)

    async def _view(self, worker: str) -> WorkerWellness:
        """The worker's wellness view as routing reads it, once pending work has settled."""
        await self.pump.drain()
        await asyncio.sleep(VIEW_SETTLE_S)
        view = await asyncio.to_thread(self.store.read, [worker])
        return view[worker]

    async def perform(self, step: Step) -> None:
        action = step.action
        try:
            if isinstance(action, MessageStep):
                await self._message(action)
            elif isinstance(action, AvailabilityStep):
                await self._set_availability(action.specialist, available=action.available)
                await self.wellness.availability(action.specialist, action.available)
            elif isinstance(action, AssignStep):
                await self._assign(action)
            elif isinstance(action, CloseStep):
                handle = self._conversation(action.conversation)
                await _unless_ended(
                    handle,
                    f"conversation {action.conversation}",
                    handle.signal(ConversationWorkflow.close, CloseRequest(reason=action.reason)),
                )
            elif isinstance(action, CheckInStep | BreakStep | EndBreakStep):
                await self._wellness_action(action)
            elif isinstance(action, AnnotateStep):
                await self._annotate(action)
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

    async def _wellness_action(self, action: CheckInStep | BreakStep | EndBreakStep) -> None:
        """A worker's own wellness action: returns once routing sees its effect."""
        await self.wellness.ensure(action.worker)
        handle = self.wellness.handle(action.worker)
        if isinstance(action, CheckInStep):
            request = CheckInRequest(mood=action.mood, note=action.note, break_now=action.break_now)
            await handle.execute_update(WellnessWorkflow.submit_checkin, request)
        elif isinstance(action, BreakStep):
            await handle.execute_update(
                WellnessWorkflow.break_now, BreakRequest(minutes=action.minutes)
            )
        else:
            await handle.execute_update(WellnessWorkflow.end_break, EndBreakRequest())

    async def _annotate(self, action: AnnotateStep) -> None:
        """Submit the item (if any), take the annotator's next task, label it, count the work."""
        loop = self.client.get_workflow_handle_for(AnnotationWorkflow.run, self.annotation_id)
        if action.text is not None:
            item = f"simulated-{len(self.items) + 1}"
            self.items[item] = action.crisis
            await loop.signal(
                AnnotationWorkflow.submit_text,
                TextItem(
                    item_id=item,
                    text=action.text,
                    tenant_id=self.tenant,
                    distress=action.distress,
                    crisis=action.crisis,
                ),
            )
            await self._wait_for_task(loop, item)
        result = await loop.execute_update(
            AnnotationWorkflow.next_task, NextTaskRequest(annotator_id=action.annotator)
        )
        task = result.task
        if task is None:
            raise StepFailedError(f"refused: {result.reason}")
        await loop.execute_update(
            AnnotationWorkflow.submit_labels,
            LabelSubmission(
                annotator_id=action.annotator, task_id=task.task_id, labels=action.labels
            ),
        )
        await self.wellness.record_annotation(
            action.annotator,
            task_id=task.task_id,
            minutes=action.minutes,
            distress=task.distress,
            crisis=self.items.get(task.task_id, False),
        )

    async def _wait_for_task(
        self, loop: WorkflowHandle[AnnotationWorkflow, AnnotationReport], item: str
    ) -> None:
        """A submitted text becomes a task once the loop's activity has redacted it."""
        for _ in range(int(OFFER_WAIT_S / 0.1) * 3):
            tasks = await loop.query(AnnotationWorkflow.open_tasks)
            if any(task.task_id == item for task in tasks):
                return
            await asyncio.sleep(0.1)
        raise StepFailedError(f"the annotation item {item} did not become a task")

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
        await _unless_ended(
            handle,
            f"conversation {action.conversation}",
            handle.execute_update(ConversationWorkflow.add_message, message),
        )

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

    async def _escalation_of(
        self, conversation: str, *, wait_s: float = 0.0
    ) -> WorkflowHandle[EscalationWorkflow, Any] | None:
        """The conversation's current escalation; with `wait_s`, waits that long for one that is
        starting a moment after the message that caused it."""
        handle = self._conversation(conversation)
        for attempt in range(max(1, int(wait_s / 0.1))):
            if attempt:
                await asyncio.sleep(0.1)
            sequence = (await handle.query(ConversationWorkflow.view)).escalations
            if sequence:
                return self.client.get_workflow_handle_for(
                    EscalationWorkflow.run,
                    escalation_workflow_id(self.tenant, conversation, sequence),
                )
        return None

    async def _answer_offer(self, kind: str, action: OfferStep) -> None:
        handle = self._conversation(action.conversation)
        escalation = await self._escalation_of(action.conversation)
        offer = None if escalation is None else await self._open_offer(escalation, action)
        if escalation is None or offer is None:
            raise StepFailedError(
                f"{action.specialist} has no open offer of {action.conversation} now"
            )
        what = f"the escalation of {action.conversation}"
        if isinstance(action, DeclineStep):
            await _unless_ended(
                escalation,
                what,
                escalation.execute_update(
                    EscalationWorkflow.decline,
                    DeclineRequest(
                        offer_id=offer.offer_id,
                        specialist_id=offer.specialist_id,
                        reason=action.reason,
                    ),
                ),
            )
            return
        await _unless_ended(
            escalation,
            what,
            escalation.execute_update(
                EscalationWorkflow.accept,
                AcceptRequest(offer_id=offer.offer_id, specialist_id=offer.specialist_id),
            ),
        )
        await self._wait_for_handoff(handle, action.specialist)

    async def _assign(self, action: AssignStep) -> None:
        """A paged supervisor's assignment, through the escalation's real `assign` update; the
        offer it makes is answered by a later `accept` step like any other."""
        escalation = await self._escalation_of(action.conversation, wait_s=OFFER_WAIT_S)
        if escalation is None:
            raise StepFailedError(f"{action.conversation} has not been escalated")
        await _unless_ended(
            escalation,
            f"the escalation of {action.conversation}",
            escalation.execute_update(
                EscalationWorkflow.assign,
                AssignRequest(
                    supervisor_id=action.supervisor,
                    specialist_id=action.specialist,
                    reason=action.reason,
                ),
            ),
        )

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
        await _unless_ended(
            handle,
            f"conversation {action.conversation}",
            self._update_handoff(handle, action),
        )

    async def _update_handoff(self, handle: Conversation, action: Any) -> None:
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


async def _unless_ended(handle: WorkflowHandle[Any, Any], what: str, call: Awaitable[T]) -> T:
    """`call`, an update or signal to `handle`'s workflow; if that workflow has ended, a step
    failure saying so. The server answers a call to an ended workflow NOT_FOUND (the test server
    as `update <uuid> not found`), which tells a scenario's author nothing."""
    try:
        return await call
    except RPCError as error:
        if error.status is not RPCStatusCode.NOT_FOUND:
            raise
        try:
            status = (await handle.describe()).status
        except RPCError:
            raise error from None
        if status is None or status is WorkflowExecutionStatus.RUNNING:
            raise
        raise StepFailedError(
            f"refused: {what} has already ended (its workflow is {status.name.lower()})"
        ) from None
