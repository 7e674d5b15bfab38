"""The feedback loop closed end to end: does annotated traffic make the served model better?

    nice -n 10 .venv/bin/python -m bench.feedback_loop [--noise 0.1] [--annotators 5]
        [--overlap 3] [--rounds 4] [--per-round 675] [--taxonomy original] [--seed 0]
        [--base 1000] [--tune 6000] [--holdout N] [--margin 0.01] [--quick]
        [--json] [--plot docs/images/feedback-loop.png]

Starts a Temporal dev server, Apache Kafka and Redis; a worker that runs the real
`AnnotationWorkflow` and `RetrainingWorkflow`; and the gRPC annotator API in front of the loop.
A first model (v1) is trained on the first `--base` rows of GoEmotions train and published to a
temporary registry. Then, each round:

1. **traffic**: the next `--per-round` rows of the first half of dev are triaged by the model
   the registry serves now; each reading becomes a `message.triaged` event that the peer-support
   example's sampling policy (`warmline.annotation.sampling.decide`: low confidence, crisis, a
   random share) samples or passes over; sampled messages go into the loop with `submit_texts`;
2. **annotation**: `--annotators` simulated annotators work through the gRPC API
   (`warmline.annotation.annotators.work_tasks`), `--overlap` of them per item, each answering
   the row's true labels except that every label is replaced, with probability `--noise`, by a
   random wrong one; batches are measured with Krippendorff's alpha, disagreements go to a senior
   annotator, agreed items become gold labels in the Redis gold-label store;
3. **retraining**: `run_round` on `RetrainingWorkflow` trains a candidate on the base rows plus
   every gold label so far, scores it and the served model on the held-out slice (the second half
   of dev, which nothing else touches) and promotes it or not.

Thresholds are tuned on the `--tune` train rows after the base rows, never on the held-out
slice. Everything is written to a temporary directory; the services are stopped at the end.
`--quick` shrinks every slice so a run takes well under a minute (what the test runs).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
from redis import Redis
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)
from temporalio.service import RPCError

from activities.retraining import RetrainingActivities
from activities.triage import EventStamp, triage_events
from bench.common import run_on_services
from bench.plots import line_chart
from warmline.annotation.annotators import work_tasks
from warmline.annotation.client import AnnotationLoop, start_loop, submit_texts
from warmline.annotation.gold import GoldLabelStore
from warmline.annotation.model import (
    AnnotationPolicy,
    TextItem,
    annotation_workflow_id,
    policy_from_config,
)
from warmline.annotation.redact import Redactor
from warmline.annotation.sampling import decide
from warmline.api.annotator import AnnotatorService
from warmline.api.auth import Authenticator
from warmline.api.desk import Desk
from warmline.api.server import start_server
from warmline.api.v1 import annotator_pb2 as pb
from warmline.api.v1 import annotator_pb2_grpc as pb_grpc
from warmline.config.loader import load_config
from warmline.config.model import Annotator, Metadata, Sampling, Taxonomy, WarmlineConfig
from warmline.config.secrets import SecretRef
from warmline.events import EventPublisher
from warmline.events.admin import ensure_topics
from warmline.liveview import LiveView
from warmline.retraining.client import run_round
from warmline.retraining.contracts import retraining_workflow_id
from warmline.retraining.settings import CRISIS_LABELS, RetrainingSettings
from warmline.retraining.shadow import RegistryProvider
from warmline.services import Endpoints, LocalServices, ServiceName
from warmline.triage import registry
from warmline.triage.local import TAXONOMIES
from warmline.triage.provider import TriageProvider, triage
from warmline.triage.training import train
from warmline.triage.types import TriageRequest
from warmline.wellness.view import WellnessStateStore
from warmline.worker import ACTIVITY_THREADS, Annotation, build_worker

DATA = Path(
    os.environ.get(
        "WARMLINE_GOEMOTIONS",
        Path(__file__).resolve().parents[1].parent / "shared" / "data" / "goemotions",
    )
)
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "peer-support" / "warmline.yaml"
TAXONOMY_CHOICES = ("original", "ekman", "group")
MAX_ANNOTATION_PASSES = 20
"""Pull-label-flush passes per round before the loop is declared stuck (two or three suffice:
labels, then adjudications of the disagreements the last batches sent)."""


class BenchError(Exception):
    """A setting or a data file the benchmark cannot work with; printed without a traceback."""


@dataclass(frozen=True)
class Options:
    noise: tuple[float, ...] = (0.1,)
    """One rate for every annotator, or one per annotator."""
    annotators: int = 5
    overlap: int = 3
    rounds: int = 4
    per_round: int = 675
    taxonomy: str = "original"
    seed: int = 0
    base: int = 1000
    tune: int = 6000
    holdout: int | None = None
    """Held-out rows (from the second half of dev); None: all of them."""
    margin: float = 0.01
    batch_size: int = 20
    data: Path = DATA

    def noise_of(self, index: int) -> float:
        return self.noise[index] if len(self.noise) > 1 else self.noise[0]

    def check(self) -> None:
        if self.annotators < 1:
            raise BenchError("--annotators must be at least 1")
        if not 1 <= self.overlap <= self.annotators:
            raise BenchError("--overlap must be between 1 and --annotators")
        if len(self.noise) not in (1, self.annotators):
            raise BenchError(
                f"--noise takes one rate or one per annotator ({self.annotators}), "
                f"got {len(self.noise)}"
            )
        if any(not 0.0 <= rate <= 1.0 for rate in self.noise):
            raise BenchError("--noise rates must be between 0 and 1")
        if self.rounds < 1 or self.per_round < 1 or self.base < 1 or self.tune < 1:
            raise BenchError("--rounds, --per-round, --base and --tune must be at least 1")
        if self.taxonomy not in TAXONOMY_CHOICES:
            raise BenchError(f"--taxonomy must be one of {', '.join(TAXONOMY_CHOICES)}")


QUICK = {"rounds": 2, "per_round": 40, "base": 300, "tune": 300, "holdout": 300, "batch_size": 10}
"""What `--quick` sets unless given explicitly: a run of well under a minute."""


def quick_options(**fields: Any) -> Options:
    """`--quick`'s slices, with `fields` on top (what the test runs)."""
    return Options(**{**QUICK, **fields})


# --- data ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    item_id: str
    text: str
    labels: tuple[str, ...]


@dataclass
class Slices:
    """Which GoEmotions rows play which role; files are written where retraining reads them."""

    base: Path
    tune: Path
    holdout: Path
    traffic: list[Row]
    sizes: dict[str, int]
    sources: dict[str, str]


def _lines(path: Path) -> list[str]:
    if not path.is_file():
        raise BenchError(f"{path}: no such file; pass --data DIR (the GoEmotions directory)")
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _write(path: Path, rows: Sequence[str]) -> Path:
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def slice_data(options: Options, where: Path) -> Slices:
    names = TAXONOMIES[options.taxonomy]
    train = _lines(options.data / options.taxonomy / "train.tsv")
    dev = _lines(options.data / options.taxonomy / "dev.tsv")
    half = len(dev) // 2
    traffic_lines, holdout_lines = dev[:half], dev[half:]
    if options.holdout is not None:
        holdout_lines = holdout_lines[: options.holdout]
    needed = options.rounds * options.per_round
    if needed > len(traffic_lines):
        raise BenchError(
            f"--rounds x --per-round = {needed} traffic messages, but the first half of dev "
            f"holds {len(traffic_lines)}"
        )
    if options.base + options.tune > len(train):
        raise BenchError(f"--base + --tune exceed the {len(train)} train rows")
    traffic: list[Row] = []
    for line in traffic_lines[:needed]:
        text, indices, row_id = line.split("\t")
        labels = tuple(names[int(i)] for i in indices.split(","))
        traffic.append(Row(item_id=f"goemotions/{row_id}", text=text, labels=labels))
    return Slices(
        base=_write(where / "base.tsv", train[: options.base]),
        tune=_write(where / "tune.tsv", train[options.base : options.base + options.tune]),
        holdout=_write(where / "holdout.tsv", holdout_lines),
        traffic=traffic,
        sizes={
            "base": options.base,
            "tune": options.tune,
            "traffic": needed,
            "holdout": len(holdout_lines),
        },
        sources={
            "base": f"train rows 1-{options.base}",
            "tune": f"train rows {options.base + 1}-{options.base + options.tune}",
            "traffic": f"dev rows 1-{needed}",
            "holdout": f"dev rows {half + 1}-{half + len(holdout_lines)}",
        },
    )


# --- simulated annotators -----------------------------------------------------------------------


@dataclass
class SimulatedAnnotator:
    """Answers an item's true labels, each replaced by a random wrong label with `noise`."""

    annotator_id: str
    token: str
    noise: float
    seed: int
    truth: dict[str, tuple[str, ...]]
    labels: tuple[str, ...]
    answered: int = 0
    wrong: int = 0

    def choose(self, task: pb.AnnotationTask) -> list[str]:
        true = self.truth[task.task_id]
        # Seeded by item and kind: asked again about the same task, the answer is the same.
        draw = random.Random(f"{self.seed}/{self.annotator_id}/{task.task_id}/{task.kind}")  # noqa: S311 - a simulation, not a secret
        chosen: list[str] = []
        for label in true:
            answer = label
            if draw.random() < self.noise:
                wrong = [x for x in self.labels if x not in true and x not in chosen]
                answer = draw.choice(wrong) if wrong else label
            if answer not in chosen:
                chosen.append(answer)
        self.answered += 1
        self.wrong += int(set(chosen) != set(true))
        return chosen


# --- the run ------------------------------------------------------------------------------------


@dataclass
class RoundResult:
    round: int
    traffic: int
    sampled: int
    sources: dict[str, int]
    gold_new: int
    gold_total: int
    gold_exact: float | None
    """Share of this round's gold labels equal to the row's true labels."""
    batches: int
    alpha_mean: float | None
    alpha_min: float | None
    adjudicated: int
    dropped: int
    outcome: str
    reason: str
    candidate_version: str | None
    serving_version: str | None
    macro_f1_before: float | None
    macro_f1_after: float | None
    crisis_recall_before: float | None
    crisis_recall_after: float | None
    gold_trained: int
    gold_skipped: dict[str, int]
    holdout_rows: int
    annotate_seconds: float
    retrain_seconds: float
    passes: int = 0
    labels_submitted: int = 0


@dataclass
class Report:
    options: dict[str, Any]
    rows: dict[str, int]
    row_sources: dict[str, str]
    initial_version: str
    initial_macro_f1: float | None = None
    final_macro_f1: float | None = None
    gold_labels: int = 0
    annotator_error: dict[str, float] = field(default_factory=dict)
    """Share of each annotator's answers that differ from the true labels."""
    rounds: list[RoundResult] = field(default_factory=list)
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def bench_config(options: Options, deployment: str) -> tuple[WarmlineConfig, dict[str, str]]:
    """The peer-support example's configuration with the simulated annotators in place of its
    people, the taxonomy retrained, and the overlap asked for. Returns it with the tokens."""
    names = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", EXAMPLE.read_text("utf-8")))
    config = load_config(EXAMPLE, env={name: f"bench-{uuid.uuid4().hex}" for name in names})
    tokens = {f"an-sim-{i + 1}": f"bench-{uuid.uuid4().hex}" for i in range(options.annotators)}
    seniors = max(1, options.annotators // 3)
    annotators = [
        Annotator(
            id=annotator_id,
            name=f"Simulated annotator {i + 1}",
            senior=i < seniors,
            skills=["emotions", "tone", "crisis"],
            token=SecretRef(f"BENCH_TOKEN_{i + 1}", token),
        )
        for i, (annotator_id, token) in enumerate(tokens.items())
    ]
    annotation = config.annotation.model_copy(
        update={
            "taxonomy": Taxonomy(builtin=f"goemotions/{options.taxonomy}"),
            "label_map": {},
            "annotators": annotators,
            "overlap": options.overlap,
            "batch_size": options.batch_size,
        }
    )
    metadata = Metadata(name=deployment, description="bench/feedback_loop.py")
    return config.model_copy(update={"annotation": annotation, "metadata": metadata}), tokens


async def run(options: Options, temporal: str, kafka: str, redis_url: str) -> Report:
    """One full run against running services; everything it creates is named uniquely."""
    options.check()
    with tempfile.TemporaryDirectory(prefix="warmline-feedback-") as scratch:
        return await _run(options, temporal, kafka, redis_url, Path(scratch))


async def _run(  # noqa: PLR0915 - one story, told in order
    options: Options, temporal: str, kafka: str, redis_url: str, where: Path
) -> Report:
    started = time.perf_counter()
    run_id = uuid.uuid4().hex[:8]
    deployment = f"feedback-{run_id}"
    slices = slice_data(options, where)
    config, tokens = bench_config(options, deployment)
    policy = policy_from_config(config)
    sampling = config.annotation.sampling

    root = where / "registry"
    model = await asyncio.to_thread(train, slices.base, slices.tune, options.taxonomy)
    _, metadata = registry.publish(
        root, model, data={}, metrics={}, command=["bench/feedback_loop.py", "v1"]
    )
    settings = RetrainingSettings(
        deployment=deployment,
        taxonomy=options.taxonomy,
        registry=root,
        base_data=slices.base,
        dev_data=slices.tune,
        holdout_data=slices.holdout,
        holdout_fraction=0.0,
        promotion_margin=options.margin,
        crisis_labels=CRISIS_LABELS[options.taxonomy],
        gold_prefix=f"bench-{run_id}:gold",
        shadow_prefix=f"bench-{run_id}:shadow",
    )
    report = Report(
        options={**asdict(options), "data": str(options.data)},
        rows=slices.sizes,
        row_sources=slices.sources,
        initial_version=metadata.model_version,
    )

    topic = f"bench-events-{run_id}"
    ensure_topics(kafka, [topic, f"{topic}-wellness"])
    publisher = EventPublisher.connect(kafka, topic=topic, wellness_topic=f"{topic}-wellness")
    redis = Redis.from_url(redis_url)
    gold = GoldLabelStore(redis, deployment=deployment, prefix=settings.gold_prefix)
    wellness = WellnessStateStore(redis, deployment=deployment, prefix=f"bench-{run_id}:wellness")
    live_view = LiveView.connect(redis_url, prefix=f"bench-{run_id}")
    client = await Client.connect(
        temporal, data_converter=pydantic_data_converter, runtime=_stderr_runtime()
    )
    task_queue = f"bench-feedback-{run_id}"
    truth = {row.item_id: row.labels for row in slices.traffic}
    labels = tuple(TAXONOMIES[options.taxonomy])
    annotators = [
        SimulatedAnnotator(annotator_id, token, options.noise_of(i), options.seed, truth, labels)
        for i, (annotator_id, token) in enumerate(tokens.items())
    ]
    try:
        with ThreadPoolExecutor(max_workers=ACTIVITY_THREADS) as executor:
            worker = build_worker(
                client,
                provider=RegistryProvider(root, options.taxonomy),
                publisher=publisher,
                task_queue=task_queue,
                executor=executor,
                retraining=RetrainingActivities(client, redis, publisher),
                annotation=Annotation(gold=gold, wellness=wellness, redactor=Redactor()),
            )
            async with worker:
                desk = Desk(client, live_view, config, executor)
                server, port = await start_server(
                    desk,
                    Authenticator.from_config(config),
                    "127.0.0.1:0",
                    annotator=AnnotatorService(client, config),
                )
                channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
                try:
                    await start_loop(client, policy, task_queue=task_queue)
                    loop = AnnotationLoop(client, deployment)
                    stub = pb_grpc.AnnotatorServiceStub(channel)
                    for number in range(1, options.rounds + 1):
                        traffic = slices.traffic[
                            (number - 1) * options.per_round : number * options.per_round
                        ]
                        result = await _round(
                            number,
                            traffic,
                            client=client,
                            policy=policy,
                            sampling=sampling,
                            settings=settings,
                            task_queue=task_queue,
                            loop=loop,
                            stub=stub,
                            annotators=annotators,
                            gold=gold,
                            truth=truth,
                        )
                        report.rounds.append(result)
                        _progress(result)
                finally:
                    await channel.close(grace=None)
                    await server.stop(grace=None)
        # Ended once the worker is gone, so no workflow task of theirs is in flight.
        for workflow_id in (
            annotation_workflow_id(deployment),
            retraining_workflow_id(deployment, options.taxonomy),
        ):
            with contextlib.suppress(RPCError):
                await client.get_workflow_handle(workflow_id).terminate("bench over")
    finally:
        publisher.close()
        live_view.close()
        redis.close()
    first = report.rounds[0] if report.rounds else None
    report.initial_macro_f1 = first.macro_f1_before if first else None
    report.final_macro_f1 = _serving_f1(report.rounds[-1]) if report.rounds else None
    report.gold_labels = report.rounds[-1].gold_total if report.rounds else 0
    report.annotator_error = {
        a.annotator_id: round(a.wrong / a.answered, 4) if a.answered else 0.0 for a in annotators
    }
    report.seconds = round(time.perf_counter() - started, 1)
    return report


def _stderr_runtime() -> Runtime:
    """A Temporal runtime whose core warnings (a large continue-as-new payload, say) go through
    Python logging to stderr: the core prints them to stdout otherwise, into the `--json`."""
    forwarding = LogForwardingConfig(logger=logging.getLogger("temporalio.core"))
    filtered = TelemetryFilter(core_level="WARN", other_level="ERROR")
    return Runtime(telemetry=TelemetryConfig(logging=LoggingConfig(filtered, forwarding)))


def _serving_f1(result: RoundResult) -> float | None:
    """Macro-F1 of the model served after the round."""
    return result.macro_f1_after if result.outcome == "promoted" else result.macro_f1_before


def _progress(result: RoundResult) -> None:
    print(
        f"round {result.round}: {result.sampled}/{result.traffic} sampled, "
        f"{result.gold_total} gold labels (+{result.gold_new}), alpha {result.alpha_mean}, "
        f"candidate macro-F1 {result.macro_f1_after} vs {result.macro_f1_before}: "
        f"{result.outcome} ({result.annotate_seconds} s annotating, "
        f"{result.retrain_seconds} s retraining)",
        file=sys.stderr,
        flush=True,
    )


async def _round(
    number: int,
    traffic: list[Row],
    *,
    client: Client,
    policy: AnnotationPolicy,
    sampling: Sampling,
    settings: RetrainingSettings,
    task_queue: str,
    loop: AnnotationLoop,
    stub: pb_grpc.AnnotatorServiceStub,
    annotators: list[SimulatedAnnotator],
    gold: GoldLabelStore,
    truth: dict[str, tuple[str, ...]],
) -> RoundResult:
    started = time.perf_counter()
    before = await loop.report()
    gold_before = gold.count(settings.taxonomy)
    provider = RegistryProvider(settings.registry, settings.taxonomy)
    items, sources = await asyncio.to_thread(
        _sample, traffic, provider, sampling, policy.tenants[0] if policy.tenants else "bench"
    )
    await submit_texts(client, policy, items, task_queue=task_queue)
    await _wait_for_items(loop, before.items + len(items))

    passes = 0
    submitted = 0
    while True:
        passes += 1
        submitted += await _take_turns(stub, annotators)
        await loop.flush()
        if not await loop.tasks():
            break
        if passes >= MAX_ANNOTATION_PASSES:
            open_tasks = await loop.tasks()
            raise BenchError(
                f"round {number}: {len(open_tasks)} tasks still open after {passes} passes "
                f"(first: {open_tasks[0].task_id}, {open_tasks[0].kind})"
            )
    after = await loop.report()
    annotated = time.perf_counter() - started

    gold_total = gold.count(settings.taxonomy)
    new_labels = gold.read(settings.taxonomy, start=gold_before)
    exact = [set(g.labels) == set(truth[g.item_id]) for g in new_labels]
    batches = after.batches[len(before.batches) :]
    alphas = [b.alpha for b in batches if b.alpha is not None]

    started = time.perf_counter()
    decision = await run_round(client, settings, task_queue=task_queue, reason=f"round {number}")
    account = decision.gold
    return RoundResult(
        round=number,
        traffic=len(traffic),
        sampled=len(items),
        sources=dict(sources),
        gold_new=gold_total - gold_before,
        gold_total=gold_total,
        gold_exact=round(sum(exact) / len(exact), 4) if exact else None,
        batches=len(batches),
        alpha_mean=round(statistics.fmean(alphas), 4) if alphas else None,
        alpha_min=round(min(alphas), 4) if alphas else None,
        adjudicated=sum(b.adjudicated for b in batches),
        dropped=after.dropped - before.dropped,
        outcome=decision.outcome,
        reason=decision.reason,
        candidate_version=decision.candidate_version,
        serving_version=(
            decision.candidate_version
            if decision.outcome == "promoted"
            else decision.previous_version
        ),
        macro_f1_before=decision.macro_f1_before,
        macro_f1_after=decision.macro_f1_after,
        crisis_recall_before=decision.crisis_recall_before,
        crisis_recall_after=decision.crisis_recall_after,
        gold_trained=account.trained if account else 0,
        gold_skipped=dict(account.skipped) if account else {},
        holdout_rows=decision.holdout_rows,
        annotate_seconds=round(annotated, 1),
        retrain_seconds=round(time.perf_counter() - started, 1),
        passes=passes,
        labels_submitted=submitted,
    )


async def _take_turns(
    stub: pb_grpc.AnnotatorServiceStub, annotators: list[SimulatedAnnotator]
) -> int:
    """Annotators take one task each in turn until none has a task left; labels submitted.

    One request at a time, not every annotator at once: the annotation workflow continues as
    new only when no update handler is running, and the server refuses a run's 2,001st update.
    Annotators that never pause keep a handler running at every moment, so the run never gets
    to continue as new and hits that cap (see docs/feedback-loop.md).
    """
    labelled = 0
    active = list(annotators)
    while active:
        still: list[SimulatedAnnotator] = []
        for annotator in active:
            run = await work_tasks(stub, annotator.token, annotator.choose, max_tasks=1)
            labelled += run.labelled
            if run.reason == "limit":
                still.append(annotator)
        active = still
    return labelled


def _sample(
    traffic: list[Row], provider: TriageProvider, sampling: Sampling, tenant: str
) -> tuple[list[TextItem], Counter[str]]:
    """Triage each message with the served model and let the sampling policy pick; the picked
    ones become text items carrying what triage read and why they were sampled."""
    items: list[TextItem] = []
    sources: Counter[str] = Counter()
    for row in traffic:
        conversation = row.item_id.replace("/", "-")
        result = triage(
            provider,
            TriageRequest(
                tenant_id=tenant, conversation_id=conversation, message_id="m1", text=row.text
            ),
        )
        stamp = EventStamp(
            scope=f"bench/{conversation}",
            source=f"/warmline/tenants/{tenant}",
            time=datetime.now(UTC),
        )
        events = triage_events(result, "m1", stamp, conversation)
        requests = [
            request
            for request in (decide(event, sampling, tone_audit_fraction=0.0) for event in events)
            if request is not None
        ]
        if not requests:
            continue
        reasons = list(dict.fromkeys(s for request in requests for s in request.sources))
        sources.update(reason.value for reason in reasons)
        first = requests[0]
        items.append(
            TextItem(
                item_id=row.item_id,
                text=row.text,
                tenant_id=tenant,
                conversation_id=conversation,
                message_id="m1",
                sources=reasons,
                distress=first.distress or 0.0,
                crisis=any(request.crisis for request in requests),
                model_version=first.model_version,
                ai_labels=first.ai_labels,
            )
        )
    return items, sources


async def _wait_for_items(loop: AnnotationLoop, count: int, timeout_s: float = 120.0) -> None:
    """Until the loop has prepared `count` items (each goes through an activity)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        report = await loop.report()
        if report.items >= count:
            return
        await asyncio.sleep(0.1)
    raise BenchError(f"the annotation loop prepared fewer than {count} items in {timeout_s} s")


# --- output -------------------------------------------------------------------------------------


def plot(report: Report, path: Path) -> Path:
    rounds = report.rounds
    x = [0.0, *(float(r.gold_total) for r in rounds)]
    initial = report.initial_macro_f1 or 0.0
    noise = ", ".join(f"{rate:g}" for rate in report.options["noise"])
    return line_chart(
        path,
        x=x,
        series={
            "candidate (base + gold so far)": [
                initial,
                *((r.macro_f1_after or 0.0) for r in rounds),
            ],
            "served model after the round": [
                initial,
                *((_serving_f1(r) or 0.0) for r in rounds),
            ],
        },
        title=(
            f"Feedback loop, GoEmotions {report.options['taxonomy']}: "
            f"{report.options['annotators']} annotators, overlap {report.options['overlap']}, "
            f"noise {noise}"
        ),
        x_label="gold labels from annotated traffic",
        y_label=f"macro-F1 on {report.rows['holdout']} held-out dev rows",
    )


def show(report: Report) -> None:
    print(
        f"rows: {', '.join(f'{k} {v} ({report.row_sources[k]})' for k, v in report.rows.items())}"
    )
    print(f"v1 ({report.initial_version}): macro-F1 {report.initial_macro_f1}")
    header = (
        "round  sampled  gold (new)  exact  alpha  adjud.  candidate F1  served F1  "
        "crisis recall  decision"
    )
    print(header)
    for r in report.rounds:
        print(
            f"{r.round:>5}  {r.sampled:>4}/{r.traffic:<4} {r.gold_total:>5} ({r.gold_new:>4})  "
            f"{_fmt(r.gold_exact)}  {_fmt(r.alpha_mean)}  {r.adjudicated:>6}  "
            f"{_fmt(r.macro_f1_after):>12}  {_fmt(_serving_f1(r)):>9}  "
            f"{_fmt(r.crisis_recall_before)}->{_fmt(r.crisis_recall_after)}  {r.outcome}"
        )
        if r.outcome != "promoted":
            print(f"       {r.reason}")
    print(
        f"macro-F1 {report.initial_macro_f1} -> {report.final_macro_f1} with "
        f"{report.gold_labels} gold labels in {report.seconds} s"
    )


def _fmt(value: float | None) -> str:
    return "  -  " if value is None else f"{value:.4f}"


def parse(argv: Sequence[str] | None = None) -> tuple[Options, argparse.Namespace]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--noise", default="0.1", help="one rate, or one per annotator: 0.1,0.3")
    parser.add_argument("--annotators", type=int, default=Options.annotators)
    parser.add_argument("--overlap", type=int, default=Options.overlap)
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--per-round", type=int, help="traffic messages per round")
    parser.add_argument("--taxonomy", choices=TAXONOMY_CHOICES, default=Options.taxonomy)
    parser.add_argument("--seed", type=int, default=Options.seed)
    parser.add_argument("--base", type=int, help="train rows the first model is trained on")
    parser.add_argument("--tune", type=int, help="train rows thresholds are tuned on")
    parser.add_argument("--holdout", type=int, help="held-out dev rows (default: half of dev)")
    parser.add_argument("--margin", type=float, default=Options.margin)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--quick", action="store_true", help="tiny slices: well under a minute")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--plot", type=Path, help="write the macro-F1 curve as a PNG here")
    args = parser.parse_args(argv)
    try:
        noise = tuple(float(part) for part in str(args.noise).split(",") if part.strip())
    except ValueError:
        parser.error(f"--noise takes numbers such as 0.1 or 0.1,0.3, not {args.noise!r}")
    sized: dict[str, Any] = dict(QUICK) if args.quick else {}
    for name in ("rounds", "per_round", "base", "tune", "holdout"):
        value = getattr(args, name)
        if value is not None:
            sized[name] = value
    options = Options(
        noise=noise,
        annotators=args.annotators,
        overlap=args.overlap,
        taxonomy=args.taxonomy,
        seed=args.seed,
        margin=args.margin,
        data=args.data,
        **sized,
    )
    return options, args


def main(argv: Sequence[str] | None = None) -> int:
    options, args = parse(argv)
    try:
        options.check()
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    def measure(_: LocalServices, endpoints: Endpoints) -> dict[str, Any]:
        assert endpoints.temporal is not None
        assert endpoints.kafka is not None
        assert endpoints.redis is not None
        report = asyncio.run(run(options, endpoints.temporal, endpoints.kafka, endpoints.redis))
        if args.plot is not None:
            plot(report, args.plot)
        return report.as_json()

    def render(summary: dict[str, Any], _: Any) -> None:
        show(_report_from(summary))

    try:
        return run_on_services(
            {ServiceName.TEMPORAL, ServiceName.KAFKA, ServiceName.REDIS},
            measure,
            render,
            as_json=args.json,
        )
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _report_from(summary: dict[str, Any]) -> Report:
    rounds = [RoundResult(**r) for r in summary["rounds"]]
    return Report(**{**summary, "rounds": rounds})


if __name__ == "__main__":
    sys.exit(main())
