"""What counting annotation work as exposure costs an annotator: `submit_labels` round trips.

One run starts a real Temporal dev server, Apache Kafka and Redis and runs the annotation loop on
one worker, taking `--tasks` items through three annotators (overlap 1), and times per task
(1) baseline — `reveal_text`, an update on the same task that runs no activity: the shape
`submit_labels` had before labels counted toward exposure;
(2) unwired — `submit_labels` with no wellness client (the exposure activity is a no-op hop);
(3) wired — `submit_labels` as `warmline worker` runs it: the activity signals-with-start the
annotator's wellness workflow.
It then reads the annotators' wellness views back to check every task was counted.

    .venv/bin/python -m bench.annotation_submit [--tasks N] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from redis import Redis
from rich.console import Console
from rich.table import Table
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError

from bench.common import percentile, run_on_services
from warmline.annotation.client import AnnotationLoop, start_loop, submit_texts
from warmline.annotation.gold import GoldLabelStore
from warmline.annotation.model import AnnotationPolicy, AnnotatorSpec, TextItem
from warmline.annotation.redact import Redactor
from warmline.events import EventPublisher
from warmline.events.admin import ensure_topics
from warmline.services import Endpoints, LocalServices, ServiceName
from warmline.triage.lexicon import LexiconProvider
from warmline.wellness.client import WellnessClient
from warmline.wellness.policy import WellnessPolicy, WorkerKind
from warmline.wellness.view import WellnessStateStore
from warmline.worker import ACTIVITY_THREADS, Annotation, build_worker

ANNOTATORS = ("an-ada", "an-ben", "an-cai")
EKMAN = ["anger", "disgust", "fear", "joy", "sadness", "surprise", "neutral"]


def _policy(deployment: str) -> AnnotationPolicy:
    return AnnotationPolicy(
        deployment=deployment,
        taxonomy="goemotions/ekman",
        labels=EKMAN,
        model_taxonomy="ekman",
        annotators=[AnnotatorSpec(id=a) for a in ANNOTATORS],
        overlap=1,
        batch_size=1000,
        content_warnings=False,
    )


async def _run(client: Client, loop: AnnotationLoop, tasks: int) -> dict[str, list[float]]:
    """Each annotator in turn takes a task, reveals it, labels it; the two updates are timed."""
    reveal: list[float] = []
    submit: list[float] = []
    for number in range(tasks):
        annotator = ANNOTATORS[number % len(ANNOTATORS)]
        result = await loop.next_task(annotator)
        assert result.task is not None, result.reason
        began = time.perf_counter()
        await loop.reveal(annotator, result.task.task_id)
        reveal.append((time.perf_counter() - began) * 1000)
        began = time.perf_counter()
        await loop.submit(annotator, result.task.task_id, ["joy"])
        submit.append((time.perf_counter() - began) * 1000)
    return {"reveal": reveal, "submit": submit}


async def _measure_async(endpoints: Endpoints, tasks: int) -> dict[str, Any]:
    assert endpoints.temporal is not None
    assert endpoints.kafka is not None
    assert endpoints.redis is not None
    client = await Client.connect(endpoints.temporal, data_converter=pydantic_data_converter)
    run = uuid.uuid4().hex[:8]
    topic = f"bench-annotation-{run}"
    ensure_topics(endpoints.kafka, [topic, f"{topic}-wellness"])
    publisher = EventPublisher.connect(
        endpoints.kafka, topic=topic, wellness_topic=f"{topic}-wellness"
    )
    redis = Redis.from_url(endpoints.redis)
    figures: dict[str, Any] = {"tasks": tasks}
    try:
        for name, wired in (("unwired", False), ("wired", True)):
            task_queue = f"bench-{name}-{run}"
            deployment = f"bench-{name}-{run}"
            views = WellnessStateStore(redis, deployment=deployment)
            exposure = WellnessClient(
                client,
                deployment=deployment,
                policy=WellnessPolicy(),
                task_queue=task_queue,
                kinds=dict.fromkeys(ANNOTATORS, WorkerKind.ANNOTATOR),
            )
            annotation = Annotation(
                gold=GoldLabelStore(redis, deployment=deployment),
                wellness=views,
                redactor=Redactor(),
                exposure=exposure if wired else None,
            )
            with ThreadPoolExecutor(ACTIVITY_THREADS) as executor:
                async with build_worker(
                    client,
                    provider=LexiconProvider(),
                    publisher=publisher,
                    task_queue=task_queue,
                    executor=executor,
                    annotation=annotation,
                ):
                    policy = _policy(deployment)
                    await start_loop(client, policy, task_queue=task_queue)
                    items = [
                        TextItem(item_id=f"bench/{n}", text=f"message {n}", distress=0.5)
                        for n in range(tasks)
                    ]
                    await submit_texts(client, policy, items, task_queue=task_queue)
                    loop = AnnotationLoop(client, deployment)
                    while len(await loop.tasks()) < tasks:  # noqa: ASYNC110 - a query to poll
                        await asyncio.sleep(0.05)
                    times = await _run(client, loop, tasks)
                    await asyncio.sleep(1.0)
                    counted = views.read(list(ANNOTATORS))
                    for workflow_id in [
                        f"annotation/{deployment}",
                        *(exposure.workflow_id(a) for a in ANNOTATORS),
                    ]:
                        # The unwired run started no wellness workflow: nothing to end.
                        with contextlib.suppress(RPCError):
                            await client.get_workflow_handle(workflow_id).terminate()
            figures[name] = {
                "submit_p50_ms": percentile(times["submit"], 0.5),
                "submit_p95_ms": percentile(times["submit"], 0.95),
                "counted": sum(1 for v in counted.values() if v.in_shift),
            }
            if name == "unwired":
                figures["baseline"] = {
                    "reveal_p50_ms": percentile(times["reveal"], 0.5),
                    "reveal_p95_ms": percentile(times["reveal"], 0.95),
                }
        baseline = figures["baseline"]["reveal_p50_ms"]
        figures["ratio_wired_to_baseline_p50"] = figures["wired"]["submit_p50_ms"] / baseline
        figures["ratio_unwired_to_baseline_p50"] = figures["unwired"]["submit_p50_ms"] / baseline
    finally:
        publisher.close()
        redis.close()
    return figures


def _show(summary: dict[str, Any], console: Console) -> None:
    table = Table(title=f"annotation submit latency ({summary['tasks']} tasks)")
    table.add_column("update")
    table.add_column("p50 ms", justify="right")
    table.add_column("p95 ms", justify="right")
    table.add_column("annotators counted", justify="right")
    base = summary["baseline"]
    table.add_row(
        "baseline: reveal_text (no activity)",
        f"{base['reveal_p50_ms']:.1f}",
        f"{base['reveal_p95_ms']:.1f}",
        "-",
    )
    for name in ("unwired", "wired"):
        row = summary[name]
        table.add_row(
            f"submit_labels, {name}",
            f"{row['submit_p50_ms']:.1f}",
            f"{row['submit_p95_ms']:.1f}",
            f"{row['counted']}/{len(ANNOTATORS)}",
        )
    console.print(table)
    console.print(
        f"p50 ratio to the baseline: wired {summary['ratio_wired_to_baseline_p50']:.2f}, "
        f"unwired {summary['ratio_unwired_to_baseline_p50']:.2f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tasks", type=int, default=60)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    def measure(_local: LocalServices, endpoints: Endpoints) -> dict[str, Any]:
        return asyncio.run(_measure_async(endpoints, args.tasks))

    return run_on_services(
        {ServiceName.TEMPORAL, ServiceName.KAFKA, ServiceName.REDIS},
        measure,
        _show,
        as_json=args.json,
    )


if __name__ == "__main__":
    sys.exit(main())
