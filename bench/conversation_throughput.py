"""The conversation-engine benchmark: warmline's ConversationWorkflow against a bare baseline.

One run starts a real Temporal dev server and Apache Kafka, then measures on the same server
(1) throughput — N conversations of M messages sent as fast as bounded concurrency allows — and
(2) message→triage latency at a fixed offered load, for warmline (the real worker, `add_message`
updates, Kafka events) and for a baseline (one signal and one triage activity per message, nothing
else). See docs/benchmarks.md for how each figure is measured and what it was on this machine.

    .venv/bin/python -m bench.conversation_throughput [--conversations N] [--messages M]
        [--rate R] [--duration S] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

from temporalio import activity, workflow

# The baseline workflow lives in this module, so the sandbox re-imports it: everything that is not
# the standard library passes through rather than being imported a second time inside the sandbox.
with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel
    from rich.console import Console
    from rich.table import Table
    from temporalio.client import Client, WorkflowHandle, WorkflowUpdateHandle, WorkflowUpdateStage
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.worker import Worker

    from bench.common import percentile, run_on_services
    from warmline.conversation import (
        CloseRequest,
        ConversationInput,
        ConversationOutcome,
        CustomerMessage,
        EscalationPolicy,
        MessageAccepted,
        RuleSpec,
        workflow_id,
    )
    from warmline.events import EventPublisher
    from warmline.services import Endpoints, LocalServices, ServiceName
    from warmline.triage.lexicon import LexiconProvider
    from warmline.triage.provider import TriageProvider, triage
    from warmline.triage.types import ContextMessage, Role, TriageRequest, TriageResult
    from warmline.worker import ACTIVITY_THREADS, build_worker
    from workflows.conversation import ConversationWorkflow

THROUGHPUT_TARGET = 0.7
"""warmline conversations/s must be at least this fraction of the baseline's (the issue)."""
P99_TARGET_MS = 250.0
"""p99 message→triage at the offered load, on the 2-core reference machine (the issue)."""
CONTEXT_MESSAGES = 5
"""The baseline hands triage as much context as ConversationWorkflow does, so triage costs match."""
WARMUP_CONVERSATIONS = 4

POLICY = EscalationPolicy(
    rules=[
        RuleSpec(
            name="sustained-distress",
            when="distress >= 0.6 for 2 messages",
            queue="care",
            priority=80,
            reason="Distress stayed high for two messages.",
        ),
        RuleSpec(
            name="bereavement",
            when='emotion("grief") > 0.5',
            queue="bereavement",
            priority=70,
            reason="The customer mentions a bereavement.",
        ),
    ],
    inactivity_timeout=timedelta(minutes=30),
    triage_as_local_activity=True,
)
"""A realistic policy, so warmline evaluates rules and sometimes escalates as it would in use."""

TEXTS: tuple[str, ...] = (
    "Hi, where is my parcel? It was due on Tuesday.",
    "Thanks, that is really helpful!",
    "I have been charged twice this month and nobody answers my emails.",
    "Oh great, another hold message. Yeah right, 'we value your call'.",
    "I am so scared and panicking, my card was stolen and money is leaving my account",
    "My husband passed away on Sunday and I need to close his account.",
    "Can I change the delivery address to my office?",
    "This is the third time I explain this. I am really frustrated.",
)


# --- measurement plumbing -----------------------------------------------------------------------


class TriageClock:
    """When each message finished triage, written from the activity threads of both workers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done: dict[tuple[str, str], float] = {}

    def mark(self, conversation_id: str, message_id: str) -> None:
        now = time.perf_counter()
        with self._lock:
            self._done[conversation_id, message_id] = now

    def get(self, conversation_id: str, message_id: str) -> float | None:
        with self._lock:
            return self._done.get((conversation_id, message_id))


class TimedProvider:
    """A triage provider that notes when its inner provider finished reading each message.

    Both sides triage through one of these, so "triaged" is the same instant on both: the provider
    returned inside the activity (the crisis screen, microseconds of regex, runs just after).
    """

    def __init__(self, inner: TriageProvider, clock: TriageClock) -> None:
        self._inner = inner
        self._clock = clock

    @property
    def name(self) -> str:
        return self._inner.name

    @property
    def model_version(self) -> str:
        return self._inner.model_version

    def triage(self, request: TriageRequest) -> TriageResult:
        result = self._inner.triage(request)
        self._clock.mark(request.conversation_id, request.message_id)
        return result


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds used so far by this process (client + worker) and by the two services."""

    bench: float
    temporal: float
    kafka: float

    @classmethod
    def take(cls, pids: dict[ServiceName, int]) -> CpuSample:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return cls(
            bench=usage.ru_utime + usage.ru_stime,
            temporal=_process_cpu(pids.get(ServiceName.TEMPORAL)),
            kafka=_process_cpu(pids.get(ServiceName.KAFKA)),
        )

    def since(self, earlier: CpuSample) -> CpuSample:
        return CpuSample(
            bench=self.bench - earlier.bench,
            temporal=self.temporal - earlier.temporal,
            kafka=self.kafka - earlier.kafka,
        )


def _process_cpu(pid: int | None) -> float:
    """User + system CPU seconds of a process and its waited-for children, from /proc."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After the command name: utime, stime, cutime, cstime are fields 14-17 of stat(5).
    ticks = sum(int(value) for value in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


# --- the baseline: a bare workflow, one signal and one triage activity per message ---------------


class BaselineInput(BaseModel):
    tenant_id: str
    conversation_id: str


class BaselineActivities:
    """The same triage function warmline's activity calls, built once with its provider."""

    def __init__(self, provider: TriageProvider) -> None:
        self._provider = provider

    @activity.defn(name="bench_baseline_triage")
    def triage_message(self, request: TriageRequest) -> TriageResult:
        return triage(self._provider, request)


@workflow.defn
class BaselineConversationWorkflow:
    """Messages arrive by signal and are triaged one at a time, in order; `close` ends the run."""

    def __init__(self) -> None:
        self._pending: list[CustomerMessage] = []
        self._context: list[ContextMessage] = []
        self._closed = False
        self._triaged = 0

    @workflow.run
    async def run(self, params: BaselineInput) -> int:
        while True:
            await workflow.wait_condition(lambda: bool(self._pending) or self._closed)
            while self._pending:
                message = self._pending.pop(0)
                await workflow.execute_activity_method(
                    BaselineActivities.triage_message,
                    TriageRequest(
                        tenant_id=params.tenant_id,
                        conversation_id=params.conversation_id,
                        message_id=message.message_id,
                        text=message.text,
                        context=self._context,
                    ),
                    start_to_close_timeout=timedelta(seconds=30),
                )
                turn = ContextMessage(role=Role.CUSTOMER, text=message.text)
                self._context = [*self._context, turn][-CONTEXT_MESSAGES:]
                self._triaged += 1
            if self._closed:
                return self._triaged

    @workflow.signal
    def message(self, message: CustomerMessage) -> None:
        self._pending.append(message)

    @workflow.signal
    def close(self) -> None:
        self._closed = True


# --- the two sides, behind one interface --------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One message of the latency phase."""

    conversation_id: str
    message_id: str
    sent_at: float
    answered_at: float | None
    """When the caller got the triage answer back (warmline's update); None for a signal."""


class Conversation(Protocol):
    conversation_id: str

    async def send(self, message: CustomerMessage) -> None:
        """Hand the message over as fast as the engine accepts it (no waiting for triage)."""

    async def send_timed(self, message: CustomerMessage) -> Sample:
        """Send the message and wait as long as the caller would; note the times."""

    async def close(self) -> None:
        """Close the conversation and wait until every message is triaged and the run ended."""


class Side(Protocol):
    name: str
    clock: TriageClock

    def running(self) -> AbstractAsyncContextManager[None]:
        """Runs this side's worker while entered."""

    async def open(self, conversation_id: str) -> Conversation: ...


class WarmlineConversation:
    def __init__(self, handle: WorkflowHandle[Any, ConversationOutcome], conversation_id: str):
        self.conversation_id = conversation_id
        self._handle = handle
        self._updates: list[WorkflowUpdateHandle[MessageAccepted]] = []

    async def send(self, message: CustomerMessage) -> None:
        # Accepted means validated and in the history, like a signal; the answer is awaited later.
        update = await self._handle.start_update(
            ConversationWorkflow.add_message,
            message,
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )
        self._updates.append(update)

    async def send_timed(self, message: CustomerMessage) -> Sample:
        sent_at = time.perf_counter()
        await self._handle.execute_update(ConversationWorkflow.add_message, message)
        return Sample(self.conversation_id, message.message_id, sent_at, time.perf_counter())

    async def close(self) -> None:
        for update in self._updates:
            await update.result()
        await self._handle.signal(ConversationWorkflow.close, CloseRequest(reason="resolved"))
        await self._handle.result()


class WarmlineSide:
    """The real ConversationWorkflow on the real worker, publishing to a fresh Kafka topic."""

    name = "warmline"

    def __init__(self, client: Client, kafka: str, task_queue: str) -> None:
        self.clock = TriageClock()
        self.topic = f"bench-events-{uuid.uuid4().hex[:8]}"
        self._client = client
        self._kafka = kafka
        self._task_queue = task_queue

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        publisher = EventPublisher.connect(self._kafka, topic=self.topic)
        try:
            with ThreadPoolExecutor(max_workers=ACTIVITY_THREADS) as executor:
                worker = build_worker(
                    client=self._client,
                    provider=TimedProvider(LexiconProvider(), self.clock),
                    publisher=publisher,
                    task_queue=self._task_queue,
                    executor=executor,
                )
                async with worker:
                    yield
        finally:
            publisher.close()

    async def open(self, conversation_id: str) -> Conversation:
        handle = await self._client.start_workflow(
            ConversationWorkflow.run,
            ConversationInput(tenant_id="bench", conversation_id=conversation_id, policy=POLICY),
            id=workflow_id("bench", conversation_id),
            task_queue=self._task_queue,
        )
        return WarmlineConversation(handle, conversation_id)


class BaselineConversation:
    def __init__(
        self, handle: WorkflowHandle[Any, int], conversation_id: str, clock: TriageClock
    ) -> None:
        self.conversation_id = conversation_id
        self._handle = handle
        self._clock = clock

    async def send(self, message: CustomerMessage) -> None:
        await self._handle.signal(BaselineConversationWorkflow.message, message)

    async def send_timed(self, message: CustomerMessage) -> Sample:
        sent_at = time.perf_counter()
        await self._handle.signal(BaselineConversationWorkflow.message, message)
        return Sample(self.conversation_id, message.message_id, sent_at, None)

    async def close(self) -> None:
        await self._handle.signal(BaselineConversationWorkflow.close)
        await self._handle.result()


class BaselineSide:
    """A bare workflow on its own task queue, with the worker settings warmline's worker uses."""

    name = "baseline"

    def __init__(self, client: Client, task_queue: str) -> None:
        self.clock = TriageClock()
        self._client = client
        self._task_queue = task_queue

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        activities = BaselineActivities(TimedProvider(LexiconProvider(), self.clock))
        with ThreadPoolExecutor(max_workers=ACTIVITY_THREADS) as executor:
            worker = Worker(
                self._client,
                task_queue=self._task_queue,
                workflows=[BaselineConversationWorkflow],
                activities=[activities.triage_message],
                activity_executor=executor,
                max_concurrent_activities=ACTIVITY_THREADS,
            )
            async with worker:
                yield

    async def open(self, conversation_id: str) -> Conversation:
        handle = await self._client.start_workflow(
            BaselineConversationWorkflow.run,
            BaselineInput(tenant_id="bench", conversation_id=conversation_id),
            id=f"bench-baseline/{conversation_id}",
            task_queue=self._task_queue,
        )
        return BaselineConversation(handle, conversation_id, self.clock)


# --- the two phases -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Throughput:
    conversations: int
    messages: int
    seconds: float
    conversations_per_s: float
    messages_per_s: float
    cpu_s: dict[str, float]


@dataclass(frozen=True)
class Latency:
    offered_per_s: float
    messages: int
    seconds: float
    max_send_lag_ms: float
    """How far the load generator fell behind its schedule (0 means the load was as offered)."""
    triaged_p50_ms: float
    triaged_p99_ms: float
    """Send → the provider returned inside the activity: the same instant on both sides."""
    answered_p50_ms: float | None
    answered_p99_ms: float | None
    """Send → the update returned with the triage answer (warmline only; signals return nothing)."""
    cpu_s: dict[str, float]


def _text(n: int) -> str:
    return TEXTS[n % len(TEXTS)]


async def run_throughput(
    side: Side,
    *,
    run_id: str,
    conversations: int,
    messages: int,
    concurrency: int,
    pids: dict[ServiceName, int],
) -> Throughput:
    """Start, fill and close `conversations` conversations, at most `concurrency` at a time."""
    gate = asyncio.Semaphore(concurrency)

    async def one(n: int) -> None:
        async with gate:
            conversation = await side.open(f"{run_id}-{n}")
            for m in range(messages):
                await conversation.send(CustomerMessage(message_id=f"m{m}", text=_text(n + m)))
            await conversation.close()

    cpu = CpuSample.take(pids)
    started = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(conversations)))
    seconds = time.perf_counter() - started
    return Throughput(
        conversations=conversations,
        messages=conversations * messages,
        seconds=seconds,
        conversations_per_s=conversations / seconds,
        messages_per_s=conversations * messages / seconds,
        cpu_s=asdict(CpuSample.take(pids).since(cpu)),
    )


async def run_latency(
    side: Side,
    *,
    run_id: str,
    rate: float,
    duration: float,
    conversations: int,
    pids: dict[ServiceName, int],
) -> Latency:
    """Offer `rate` messages/s for `duration` s, round-robin over open conversations (open loop)."""
    opened = await asyncio.gather(*(side.open(f"{run_id}-{n}") for n in range(conversations)))
    total = max(1, round(rate * duration))
    tasks: list[asyncio.Task[Sample]] = []
    max_lag = 0.0
    cpu = CpuSample.take(pids)
    started = time.perf_counter()
    for i in range(total):
        due = started + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        max_lag = max(max_lag, time.perf_counter() - due)
        conversation = opened[i % conversations]
        message = CustomerMessage(message_id=f"m{i // conversations}", text=_text(i))
        tasks.append(asyncio.create_task(conversation.send_timed(message)))
    samples = await asyncio.gather(*tasks)
    # Closing waits for every run to finish, so every baseline activity has completed by now.
    await asyncio.gather(*(conversation.close() for conversation in opened))
    seconds = time.perf_counter() - started
    cpu_used = CpuSample.take(pids).since(cpu)

    triaged: list[float] = []
    answered: list[float] = []
    for sample in samples:
        done = side.clock.get(sample.conversation_id, sample.message_id)
        if done is None:
            raise RuntimeError(f"{side.name}: no triage recorded for {sample.message_id}")
        triaged.append((done - sample.sent_at) * 1000)
        if sample.answered_at is not None:
            answered.append((sample.answered_at - sample.sent_at) * 1000)
    return Latency(
        offered_per_s=rate,
        messages=total,
        seconds=seconds,
        max_send_lag_ms=max_lag * 1000,
        triaged_p50_ms=percentile(triaged, 0.50),
        triaged_p99_ms=percentile(triaged, 0.99),
        answered_p50_ms=percentile(answered, 0.50) if answered else None,
        answered_p99_ms=percentile(answered, 0.99) if answered else None,
        cpu_s=asdict(cpu_used),
    )


@dataclass(frozen=True)
class SideResult:
    throughput: Throughput
    latency: Latency


async def measure(
    side: Side, args: argparse.Namespace, pids: dict[ServiceName, int], console: Console
) -> SideResult:
    """Warm the side up, then run both phases on it, with its worker running throughout."""
    run_id = uuid.uuid4().hex[:6]
    async with side.running():
        with console.status(f"{side.name}: warming up"):
            await run_throughput(
                side,
                run_id=f"{run_id}-warm",
                conversations=WARMUP_CONVERSATIONS,
                messages=2,
                concurrency=WARMUP_CONVERSATIONS,
                pids=pids,
            )
        label = f"{args.conversations} conversations × {args.messages} messages"
        with console.status(f"{side.name}: throughput, {label}"):
            throughput = await run_throughput(
                side,
                run_id=f"{run_id}-tp",
                conversations=args.conversations,
                messages=args.messages,
                concurrency=args.concurrency,
                pids=pids,
            )
        with console.status(
            f"{side.name}: latency, {args.rate:g} messages/s for {args.duration:g} s"
        ):
            latency = await run_latency(
                side,
                run_id=f"{run_id}-lat",
                rate=args.rate,
                duration=args.duration,
                conversations=args.latency_conversations,
                pids=pids,
            )
    console.log(f"{side.name}: done")
    return SideResult(throughput=throughput, latency=latency)


# --- the report ---------------------------------------------------------------------------------


def report(results: dict[str, SideResult], args: argparse.Namespace) -> dict[str, Any]:
    warmline, baseline = results["warmline"], results["baseline"]
    ratio = warmline.throughput.conversations_per_s / baseline.throughput.conversations_per_s
    p99 = warmline.latency.answered_p99_ms
    return {
        "settings": {
            "conversations": args.conversations,
            "messages": args.messages,
            "concurrency": args.concurrency,
            "rate": args.rate,
            "duration_s": args.duration,
            "latency_conversations": args.latency_conversations,
            "cpus": os.cpu_count(),
        },
        "warmline": asdict(warmline),
        "baseline": asdict(baseline),
        "throughput_ratio": ratio,
        "targets": {
            "throughput_ratio_min": THROUGHPUT_TARGET,
            "throughput_met": ratio >= THROUGHPUT_TARGET,
            "p99_ms_max": P99_TARGET_MS,
            "p99_met": p99 is not None and p99 <= P99_TARGET_MS,
        },
    }


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} ms"


def print_table(summary: dict[str, Any], console: Console) -> None:
    sides = ("warmline", "baseline")
    figures: dict[str, dict[str, Any]] = {side: summary[side] for side in sides}
    settings = summary["settings"]
    table = Table(title="Conversation engine: warmline vs bare Temporal baseline")
    table.add_column("")
    for side in sides:
        table.add_column(side, justify="right")

    def row(label: str, render: Any) -> None:
        table.add_row(label, *(render(figures[side]) for side in sides))

    row("conversations/s", lambda f: f"{f['throughput']['conversations_per_s']:.2f}")
    row("messages/s", lambda f: f"{f['throughput']['messages_per_s']:.1f}")
    row("throughput wall time", lambda f: f"{f['throughput']['seconds']:.1f} s")
    row(
        "  CPU s bench/temporal/kafka",
        lambda f: "/".join(f"{v:.1f}" for v in f["throughput"]["cpu_s"].values()),
    )
    load = f"at {settings['rate']:g} msg/s"
    row(f"send→triaged p50 {load}", lambda f: _ms(f["latency"]["triaged_p50_ms"]))
    row(f"send→triaged p99 {load}", lambda f: _ms(f["latency"]["triaged_p99_ms"]))
    row(f"update answered p50 {load}", lambda f: _ms(f["latency"]["answered_p50_ms"]))
    row(f"update answered p99 {load}", lambda f: _ms(f["latency"]["answered_p99_ms"]))
    row("  load generator max lag", lambda f: _ms(f["latency"]["max_send_lag_ms"]))
    row(
        "  CPU s bench/temporal/kafka",
        lambda f: "/".join(f"{v:.1f}" for v in f["latency"]["cpu_s"].values()),
    )
    console.print(table)
    targets = summary["targets"]
    met = {True: "met", False: "NOT met"}
    console.print(
        f"throughput ratio (warmline ÷ baseline conv/s): {summary['throughput_ratio']:.2f} "
        f"— target ≥ {targets['throughput_ratio_min']}: {met[targets['throughput_met']]}"
    )
    console.print(
        f"warmline p99 message→triage (update answered): "
        f"{_ms(figures['warmline']['latency']['answered_p99_ms'])} "
        f"— target ≤ {targets['p99_ms_max']:.0f} ms: {met[targets['p99_met']]}"
    )


# --- entry point --------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.conversation_throughput",
        description="warmline's ConversationWorkflow against a bare Temporal baseline.",
    )
    parser.add_argument("--conversations", type=int, default=100, help="throughput phase (100)")
    parser.add_argument("--messages", type=int, default=6, help="per conversation (6)")
    parser.add_argument(
        "--concurrency", type=int, default=10, help="conversations in flight, throughput (10)"
    )
    parser.add_argument("--rate", type=float, default=20.0, help="offered messages/s (20)")
    parser.add_argument("--duration", type=float, default=20.0, help="latency phase, s (20)")
    parser.add_argument(
        "--latency-conversations",
        type=int,
        default=20,
        help="open conversations sharing the offered load (20)",
    )
    parser.add_argument(
        "--order",
        choices=["baseline-first", "warmline-first"],
        default="baseline-first",
        help="which side runs first (baseline-first)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    return parser.parse_args(argv)


async def run(
    args: argparse.Namespace, temporal: str, kafka: str, pids: dict[ServiceName, int]
) -> dict[str, Any]:
    console = Console(stderr=True)
    client = await Client.connect(temporal, data_converter=pydantic_data_converter)
    suffix = uuid.uuid4().hex[:8]
    sides: list[Side] = [
        BaselineSide(client, f"bench-baseline-{suffix}"),
        WarmlineSide(client, kafka, f"bench-warmline-{suffix}"),
    ]
    if args.order == "warmline-first":
        sides.reverse()
    results = {side.name: await measure(side, args, pids, console) for side in sides}
    return report(results, args)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # The sandbox imports each workflow's module afresh for every workflow run. Measure both sides
    # as deployed, where modules have cached bytecode, even if PYTHONDONTWRITEBYTECODE is set here.
    sys.dont_write_bytecode = False

    def measure(local: LocalServices, endpoints: Endpoints) -> dict[str, Any]:
        assert endpoints.temporal is not None
        assert endpoints.kafka is not None
        pids = {name: service.process.pid for name, service in local.running.items()}
        return asyncio.run(run(args, endpoints.temporal, endpoints.kafka, pids))

    return run_on_services(
        {ServiceName.TEMPORAL, ServiceName.KAFKA}, measure, print_table, as_json=args.json
    )


if __name__ == "__main__":
    sys.exit(main())
