"""Run the demo: services, the in-process worker, customers, specialists, then the summary."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import random
import signal
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import FrameType
from typing import Any

from redis import Redis
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError

from activities.routing import ensure_roster
from warmline.annotation.client import AnnotationLoop, apply_policy, submit_item
from warmline.annotation.gold import GoldLabelStore
from warmline.annotation.model import (
    AnnotationPolicy,
    annotation_workflow_id,
    policy_from_config,
)
from warmline.annotation.sampling import decide
from warmline.config.loader import load_config
from warmline.config.model import WarmlineConfig
from warmline.conversation import (
    CloseRequest,
    ConversationInput,
    ConversationOutcome,
    CustomerMessage,
    EscalationPolicy,
    workflow_id,
)
from warmline.demo.annotators import Annotator, labels_by_text
from warmline.demo.scripts import SCRIPTS, Script
from warmline.demo.specialists import Desk, Specialist
from warmline.demo.summary import (
    AnnotationSummary,
    Summary,
    annotation_summary,
    read_events,
    summarise,
)
from warmline.errors import ServiceError
from warmline.events import DomainEvent, EventPublisher
from warmline.events.admin import ensure_topics
from warmline.events.pump import EventPump, read_until_quiet
from warmline.handoff import renderer_from_config
from warmline.liveview import LiveView
from warmline.reach import check_kafka, check_redis, check_temporal, temporal_client
from warmline.runs import forget_run
from warmline.runtime import (
    build_provider,
    escalation_policy,
    redactor_for,
    roster_settings,
    wellness_policy,
    worker_kinds,
)
from warmline.services import Endpoints, LocalServices, ServiceName
from warmline.wellness.client import WellnessClient
from warmline.wellness.tracker import ExposureCounter, TrackStore
from warmline.wellness.view import WellnessStateStore
from warmline.worker import ACTIVITY_THREADS, Annotation, Routing, build_worker
from workflows.conversation import ConversationWorkflow

CONCURRENCY = 8
"""Conversations in flight at once: enough to keep every specialist busy on two cores."""
TYPING_S = (0.1, 0.6)
"""The pause between a customer's messages."""
CONVERSATION_TIMEOUT_S = 60.0
"""An escalated conversation nobody finished by then is closed by the customer leaving."""

PUMP_IDLE_S = 0.2
"""How long the event pump rests after finding no new events."""
ANNOTATION_WAIT_S = 20.0
"""How long the annotators may go on after the last conversation to finish the open tasks."""
ANNOTATION_POLL_S = 0.5

SHUTDOWN_S = 10.0
"""How long an interrupted demo waits for its worker to finish before it exits anyway."""

Conversation = WorkflowHandle[ConversationWorkflow, ConversationOutcome]


def bundled_config() -> Path:
    """The demo's own configuration, shipped inside the package."""
    return Path(str(resources.files("warmline.demo").joinpath("demo.yaml")))


def demo_tokens(config_path: Path) -> dict[str, str]:
    """A throwaway token for every `${WARMLINE_DEMO_TOKEN_...}` secret the configuration names
    (none for a file that cannot be read: loading it then says why, at its position)."""
    try:
        text = config_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    names = {part.split("}", 1)[0] for part in text.split("${")[1:]}
    return {name: uuid.uuid4().hex for name in names if name.startswith("WARMLINE_DEMO_TOKEN_")}


@dataclass(frozen=True)
class DemoOptions:
    conversations: int = 50
    seed: int = 7
    config: Path | None = None
    temporal: str | None = None
    kafka: str | None = None
    redis: str | None = None


@dataclass
class Progress:
    """Callbacks the command line hooks its progress bar to."""

    status: Callable[[str], None] = lambda _text: None
    started: Callable[[int], None] = lambda _total: None
    advance: Callable[[], None] = lambda: None


@dataclass
class Run:
    """One run's names and measurements."""

    tenant: str
    """The tenant every conversation belongs to: the configuration's first."""
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    triage_ms: list[float] = field(default_factory=list)

    @property
    def task_queue(self) -> str:
        return f"warmline-demo-{self.run_id}"

    @property
    def topic(self) -> str:
        return f"warmline.demo.{self.run_id}.events"

    @property
    def wellness_topic(self) -> str:
        return f"warmline.demo.{self.run_id}.wellness"


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM reached the demo: it unwinds as Ctrl-C does, and the command exits with
    the shell's status for that signal (130 after Ctrl-C, 143 after SIGTERM), as a job stopped
    before its end does."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.exit_status = 128 + signum


def run_demo(options: DemoOptions, progress: Progress | None = None) -> Summary:
    """Run the whole demo and return its summary; services started here are always stopped.

    Whatever `options` gives no address for is started embedded, and stopped at the end, after
    an error, on Ctrl-C and on SIGTERM.
    """
    progress = progress or Progress()
    given = {
        ServiceName.TEMPORAL: options.temporal,
        ServiceName.KAFKA: options.kafka,
        ServiceName.REDIS: options.redis,
    }
    missing = {name for name, address in given.items() if address is None}
    # The configuration and the services given by address are checked first, so a mistake in
    # either costs no start-up of the rest.
    config_path = options.config or bundled_config()
    # Secrets of another --config come from the environment; the demo's own are throwaway.
    config = load_config(config_path, env={**os.environ, **demo_tokens(config_path)})
    if options.temporal is not None:
        check_temporal(options.temporal)
    if options.kafka is not None:
        check_kafka(options.kafka)
    if options.redis is not None:
        check_redis(options.redis)
    local = LocalServices(only=missing, embedded=True)
    with stopped_on_signal(local):
        try:
            if missing:
                progress.status(f"starting {', '.join(sorted(missing))}")
            started = local.start() if missing else Endpoints()
            endpoints = Endpoints(
                temporal=options.temporal or started.temporal,
                kafka=options.kafka or started.kafka,
                redis=options.redis or started.redis,
            )
            run = Run(tenant=config.tenants[0].id)
            try:
                summary = run_bounded(_run(options, config, endpoints, progress, run))
            except BaseException:
                if options.temporal is not None:
                    end_abandoned_run(options.temporal, run.task_queue)
                raise
        except KeyboardInterrupt:
            local.stop()
            local.cleanup()
            raise
        except BaseException as error:
            # After a failure the services' logs stay in their scratch directory as evidence.
            if local.log_paths:
                kept = next(iter(local.log_paths.values())).parent
                error.add_note(f"the embedded services' logs are kept in {kept}")
            raise
        finally:
            local.stop()
    local.cleanup()
    return summary


def run_bounded(main: Coroutine[Any, Any, Summary]) -> Summary:
    """Run `main` on a fresh event loop; on an interrupt give it `SHUTDOWN_S` to unwind, no more.

    `asyncio.run` would wait for every task without limit, and a worker whose server has just been
    stopped can take a long time to give up.
    """
    loop = asyncio.new_event_loop()
    task = loop.create_task(main)
    try:
        return loop.run_until_complete(task)
    except KeyboardInterrupt:
        # Interrupted: the half-finished updates of simulated people are not worth a traceback.
        loop.set_exception_handler(lambda _loop, _context: None)
        task.cancel()
        loop.run_until_complete(asyncio.wait([task], timeout=SHUTDOWN_S))
        raise
    finally:
        if task.done():
            loop.close()


def forward_sdk_core_logs() -> None:
    """Send the Temporal SDK core's own log lines (written straight to the console otherwise,
    e.g. "Failing workflow task ... Worker shutting down" as a stopped demo's worker winds down)
    through Python's `temporalio` logger, which `stopped_on_signal` quiets when the demo stops.

    For the `warmline demo` process: it sets the default runtime, so it runs before any client.
    """
    from temporalio.runtime import (
        LogForwardingConfig,
        LoggingConfig,
        Runtime,
        TelemetryConfig,
    )

    forwarding = LogForwardingConfig(logger=logging.getLogger("temporalio.core"))
    logging_config = LoggingConfig(filter=LoggingConfig.default.filter, forwarding=forwarding)
    Runtime.set_default(
        Runtime(telemetry=TelemetryConfig(logging=logging_config)), error_if_already_set=False
    )


@contextmanager
def stopped_on_signal(local: LocalServices) -> Iterator[None]:
    """On SIGTERM or Ctrl-C, stop the services first, then unwind like Ctrl-C (`Interrupted`).

    The services go first because unwinding waits for the in-process worker, which may itself wait
    on them; with them gone it finishes promptly. From then on the worker's activities fail or are
    cancelled as expected, so the SDK's log of each (a warning with its traceback) is kept quiet.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    sdk_log = logging.getLogger("temporalio")
    sdk_level = sdk_log.level

    def interrupt(signum: int, _frame: FrameType | None) -> None:
        sdk_log.setLevel(logging.CRITICAL + 1)
        local.stop()
        raise Interrupted(signum)

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sdk_log.setLevel(sdk_level)


async def _run(
    options: DemoOptions,
    config: WarmlineConfig,
    endpoints: Endpoints,
    progress: Progress,
    run: Run,
) -> Summary:
    if not (endpoints.temporal and endpoints.kafka and endpoints.redis):
        raise ServiceError("the demo needs Temporal, Kafka and Redis addresses")
    began = time.monotonic()
    client = await temporal_client(endpoints.temporal)
    publisher = EventPublisher.connect(
        endpoints.kafka, topic=run.topic, wellness_topic=run.wellness_topic
    )
    live_view = LiveView.connect(endpoints.redis, prefix=f"warmline-demo-{run.run_id}")
    # Routing reads the workers' wellness views of this run only (a prefix of its own).
    wellness = WellnessStateStore.connect(
        endpoints.redis,
        deployment=config.metadata.name,
        prefix=f"warmline-demo-{run.run_id}-wellness",
    )
    routing = Routing(
        roster=roster_settings(config),
        live_view=live_view,
        renderer=renderer_from_config(config),
        wellness=wellness,
    )
    policy = escalation_policy(config, task_queue=run.task_queue)
    if policy.routing is None:
        raise ServiceError("the demo configuration has no routing")
    roster_id = policy.routing.roster_id
    tracks = Redis.from_url(endpoints.redis)
    care = _care(client, config, run, wellness, tracks)
    # The pump reads the run's topic from its start: it must exist first.
    await asyncio.to_thread(ensure_topics, endpoints.kafka, [run.topic, run.wellness_topic])
    # Exposure is counted from the run's events as `warmline wellness-tracker` counts it, and
    # the annotation policy samples them as `warmline annotate sample` does.
    pump = await asyncio.to_thread(EventPump, endpoints.kafka, run.topic)
    counter = ExposureCounter(
        care.wellness,
        TrackStore(tracks, deployment=care.deployment, prefix=f"warmline-demo-{run.run_id}"),
    )
    pump.handlers += [counter.handle, _sampler(client, config, care.policy, run)]
    try:
        with ThreadPoolExecutor(max_workers=ACTIVITY_THREADS) as executor:
            worker = build_worker(
                client,
                provider=build_provider(config.triage.provider),
                publisher=publisher,
                task_queue=run.task_queue,
                executor=executor,
                routing=routing,
                annotation=care.annotation,
            )
            async with worker:
                await ensure_roster(client, roster_id, routing.roster, task_queue=run.task_queue)
                await apply_policy(client, care.policy, task_queue=run.task_queue)
                # Everyone starts a shift, as `SetAvailability` would start it.
                for person in care.workers:
                    await care.wellness.availability(person, True)
                parts = (options, config, client, live_view, policy, run, progress)
                replay = functools.partial(_replay, *parts, care.wellness)
                conversation_ids, labelled = await _play(
                    replay,
                    seed=options.seed,
                    config=config,
                    client=client,
                    care=care,
                    pump=pump,
                    progress=progress,
                )
                progress.status("reading the events back")
                events = await asyncio.to_thread(
                    read_events, endpoints.kafka, run.topic, conversations=conversation_ids
                )
                # Every conversation has closed: what is on the topic now is all there will be.
                await pump.drain()
                events += await asyncio.to_thread(
                    read_until_quiet, endpoints.kafka, [run.wellness_topic]
                )
        # After the worker has stopped, so no activity of theirs is still running.
        await _end_workflows(
            [
                client.get_workflow_handle(roster_id),
                client.get_workflow_handle(annotation_workflow_id(care.deployment)),
                *(care.wellness.handle(person) for person in care.workers),
            ]
        )
    finally:
        publisher.close()
        live_view.close()
        wellness.close()
        pump.close()
        # The worker has stopped: no activity writes a view after this.
        await forget_run(
            tracks, f"warmline-demo-{run.run_id}", endpoints.kafka, [run.topic, run.wellness_topic]
        )
        tracks.close()
    return summarise(
        events,
        triage_ms=run.triage_ms,
        annotation=labelled,
        duration_s=time.monotonic() - began,
    )


async def _replay(
    options: DemoOptions,
    config: WarmlineConfig,
    client: Client,
    live_view: LiveView,
    policy: EscalationPolicy,
    run: Run,
    progress: Progress,
    wellness: WellnessClient,
) -> set[str]:
    """Play the conversations with the specialists at work; return the conversation ids."""
    desk = Desk(client=client, live_view=live_view, wellness=wellness)
    specialists = [
        asyncio.create_task(Specialist(s.id, desk, seed=options.seed).run())
        for s in config.routing.specialists
    ]
    plan = list(plan_conversations(options))
    progress.started(len(plan))
    progress.status("replaying conversations")
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(conversation_id: str, script: Script, rng: random.Random) -> None:
        async with gate:
            await _converse(client, desk, policy, run, conversation_id, script, rng)
        progress.advance()

    try:
        async with asyncio.TaskGroup() as group:
            for index, (conversation_id, script) in enumerate(plan):
                rng = random.Random(f"{options.seed}:{index}")  # noqa: S311 - a simulation, not security
                group.create_task(one(conversation_id, script, rng))
    finally:
        for task in specialists:
            task.cancel()
        await asyncio.gather(*specialists, return_exceptions=True)
    return {conversation_id for conversation_id, _ in plan}


@dataclass(frozen=True)
class Care:
    """The run's wellness and annotation side, under a deployment name of the run's own, so that
    the long-running workflows of runs against shared services stay apart."""

    deployment: str
    wellness: WellnessClient
    annotation: Annotation
    policy: AnnotationPolicy
    workers: list[str]
    """Everyone the wellness policy covers: the specialists and the annotators."""


def _care(
    client: Client, config: WarmlineConfig, run: Run, views: WellnessStateStore, redis: Redis
) -> Care:
    deployment = f"{config.metadata.name}-demo-{run.run_id}"
    kinds = worker_kinds(config)
    wellness = WellnessClient(
        client,
        deployment=deployment,
        policy=wellness_policy(config),
        task_queue=run.task_queue,
        kinds=kinds,
    )
    annotation = Annotation(
        gold=GoldLabelStore(redis, deployment=deployment, prefix=f"warmline-demo-{run.run_id}"),
        wellness=views,
        redactor=redactor_for(config),
        exposure=wellness,
    )
    policy = policy_from_config(config).model_copy(update={"deployment": deployment})
    return Care(deployment, wellness, annotation, policy, list(kinds))


def _sampler(
    client: Client, config: WarmlineConfig, policy: AnnotationPolicy, run: Run
) -> Callable[[DomainEvent], Coroutine[Any, Any, None]]:
    """An event handler that hands the annotation loop what the sampling policy picks."""
    sampling = config.annotation.sampling
    tone_fraction = config.annotation.tone_audit_fraction

    async def sample(event: DomainEvent) -> None:
        request = decide(event, sampling, tone_audit_fraction=tone_fraction)
        if request is not None:
            await submit_item(client, policy, request, task_queue=run.task_queue)

    return sample


async def _play(
    replay: Callable[[], Awaitable[set[str]]],
    *,
    seed: int,
    config: WarmlineConfig,
    client: Client,
    care: Care,
    pump: EventPump,
    progress: Progress,
) -> tuple[set[str], AnnotationSummary]:
    """`replay` (the conversations with the specialists at work) with the annotators and the event
    pump at work too; then the annotators finish the open tasks. Returns the conversation ids and
    the annotation."""
    truths = await asyncio.to_thread(labels_by_text, SCRIPTS, care.annotation.redactor)
    loop = AnnotationLoop(client, care.deployment)
    annotators = [
        asyncio.create_task(Annotator(a.id, loop, truths, seed=seed, wellness=care.wellness).run())
        for a in config.annotation.annotators
    ]
    stop = asyncio.Event()
    pumping = asyncio.create_task(_pump_until(pump, stop))
    try:
        conversation_ids = await replay()
        progress.status("annotating the last items")
        return conversation_ids, await _annotated(loop)
    finally:
        for task in annotators:
            task.cancel()
        await asyncio.gather(*annotators, return_exceptions=True)
        stop.set()
        await pumping


async def _annotated(loop: AnnotationLoop) -> AnnotationSummary:
    """Let the annotators finish the open tasks, measure the last (partial) batch, wait for any
    adjudication that opens, and report."""
    await _until_labelled(loop)
    await loop.flush()
    await _until_labelled(loop)
    return annotation_summary(await loop.report())


async def _until_labelled(loop: AnnotationLoop) -> None:
    """Wait until no task has been open for two looks in a row (a sampled item may still be on
    its way to becoming tasks), up to `ANNOTATION_WAIT_S`."""
    quiet = 0
    for _ in range(int(ANNOTATION_WAIT_S / ANNOTATION_POLL_S)):
        report = await loop.report()
        quiet = 0 if report.open_tasks else quiet + 1
        if quiet >= 2:
            return
        await asyncio.sleep(ANNOTATION_POLL_S)


async def _pump_until(pump: EventPump, stop: asyncio.Event) -> None:
    """Count exposure and sample items while the run plays, so routing sees breaks and budgets."""
    while not stop.is_set():
        if not await pump.drain():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), PUMP_IDLE_S)


async def _end_workflows(handles: Iterable[WorkflowHandle[Any, Any]]) -> None:
    """End the run's long-running workflows (roster, wellness, annotation): on shared services
    nothing of a finished run lingers. All at once, as an interrupted run has only seconds left."""

    async def end(handle: WorkflowHandle[Any, Any]) -> None:
        with contextlib.suppress(RPCError):
            await handle.terminate(reason="the demo ended")

    await asyncio.gather(*(end(handle) for handle in handles))


def end_abandoned_run(temporal: str, task_queue: str) -> None:
    """End every workflow still running on the task queue of a run that was interrupted or
    failed, on a Temporal the demo did not start: no worker will serve that queue again, and its
    conversations, escalations, roster, wellness and annotation workflows would run for good.

    On a loop of its own, after the run's, which an interrupt leaves only seconds to unwind.
    """

    async def end() -> None:
        client = await temporal_client(temporal)
        query = f"TaskQueue = '{task_queue}' AND ExecutionStatus = 'Running'"
        running = [
            client.get_workflow_handle(found.id, run_id=found.run_id)
            async for found in client.list_workflows(query)
        ]
        await _end_workflows(running)

    # What cannot be ended now (Temporal gone too) is not worth hiding the run's own error for.
    with contextlib.suppress(ServiceError, RPCError, TimeoutError):
        asyncio.run(asyncio.wait_for(end(), SHUTDOWN_S))


def plan_conversations(options: DemoOptions) -> Iterator[tuple[str, Script]]:
    """`N` conversations cycling through every script in a seeded order (a crisis comes early)."""
    rng = random.Random(options.seed)  # noqa: S311 - a simulation, not security
    order = list(SCRIPTS)
    rng.shuffle(order)
    run_tag = uuid.uuid4().hex[:6]
    for index in range(options.conversations):
        script = order[index % len(order)]
        yield f"demo-{run_tag}-{index + 1:03d}-{script.name}", script


async def _converse(
    client: Client,
    desk: Desk,
    policy: EscalationPolicy,
    run: Run,
    conversation_id: str,
    script: Script,
    rng: random.Random,
) -> None:
    """One customer: send the script's messages, then leave or wait for the specialist."""
    handle: Conversation = await client.start_workflow(
        ConversationWorkflow.run,
        ConversationInput(
            tenant_id=run.tenant,
            conversation_id=conversation_id,
            country=script.country,
            policy=policy,
        ),
        id=workflow_id(run.tenant, conversation_id),
        task_queue=run.task_queue,
    )
    done = desk.customer_done(conversation_id)
    escalated = False
    try:
        for number, text in enumerate(script.messages, start=1):
            sent = time.perf_counter()
            try:
                answer = await handle.execute_update(
                    ConversationWorkflow.add_message,
                    CustomerMessage(message_id=f"m{number}", text=text),
                )
            except (WorkflowUpdateFailedError, RPCError):
                break  # The specialist already closed the conversation.
            run.triage_ms.append((time.perf_counter() - sent) * 1000)
            escalated = escalated or answer.escalated
            await asyncio.sleep(rng.uniform(*TYPING_S))
    finally:
        done.set()
    if not escalated:
        await handle.signal(ConversationWorkflow.close, CloseRequest(reason="resolved"))
    try:
        await asyncio.wait_for(handle.result(), CONVERSATION_TIMEOUT_S)
    except TimeoutError:
        await handle.signal(ConversationWorkflow.close, CloseRequest(reason="customer_left"))
        await handle.result()
