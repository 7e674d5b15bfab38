"""The event-backbone benchmark: warmline's publisher against a bare kafka-python producer.

One run starts a real Apache Kafka broker and Redis and measures
(1) throughput — events/s through `EventPublisher.publish` (CloudEvents binary encoding, keyed by
subject, flushed per call as the publishing activity does) against a bare `KafkaProducer` with the
same settings sending a hand-built record of the same size, the same number of events per flush;
(2) latency — at a fixed offered rate, from the `publish_events` activity (run in Temporal's
activity environment) to a connector's handler (the SDK runner with Redis dedupe).

    .venv/bin/python -m bench.event_publisher [--events N] [--batch B] [--rate R]
        [--duration S] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaProducer
from rich.console import Console
from rich.table import Table
from temporalio.testing import ActivityEnvironment

from activities.events import EventActivities, EventBatch
from bench.common import percentile, run_on_services
from connectors.sdk import Connector, Event, handles
from connectors.sdk.runner import RunnerSettings
from connectors.sdk.testkit import ConnectorHarness
from warmline.events.catalog import MessageTriaged
from warmline.events.envelope import DomainEvent, event_id
from warmline.events.publisher import PRODUCER_SETTINGS, EventPublisher
from warmline.events.types import EventType
from warmline.services import Endpoints, LocalServices, ServiceName

THROUGHPUT_TARGET = 0.8
"""warmline events/s must be at least this fraction of the bare producer's (the issue)."""

DATA: dict[str, Any] = {
    "message_id": "m1",
    "emotions": [{"label": "gratitude", "score": 0.82}, {"label": "joy", "score": 0.31}],
    "distress": 0.05,
    "risk_flags": [],
    "crisis": False,
    "confidence": 0.77,
    "rationale": "thanks the agent; no negative cue",
    "model_version": "lexicon:2026-10",
}


def make_events(count: int, *, scope: str) -> list[DomainEvent]:
    now = datetime.now(UTC)
    return [
        DomainEvent(
            id=event_id(scope, f"m{n}"),
            type=EventType.MESSAGE_TRIAGED,
            source="/warmline/tenants/bench",
            subject=f"conversation-{n % 50}",
            time=now,
            data={**DATA, "message_id": f"m{n}"},
        )
        for n in range(count)
    ]


# --- throughput ---------------------------------------------------------------------------------


def warmline_throughput(bootstrap: str, events: list[DomainEvent], batch: int) -> float:
    publisher = EventPublisher.connect(bootstrap, topic=f"bench-warmline-{uuid.uuid4().hex[:6]}")
    try:
        publisher.publish(events[:batch])
        started = time.perf_counter()
        for start in range(0, len(events), batch):
            publisher.publish(events[start : start + batch])
        return len(events) / (time.perf_counter() - started)
    finally:
        publisher.close()


def bare_throughput(bootstrap: str, events: list[DomainEvent], batch: int) -> float:
    """The same settings as `EventPublisher.connect`, a record of the same size built by hand."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, **PRODUCER_SETTINGS)
    topic = f"bench-bare-{uuid.uuid4().hex[:6]}"

    def send(chunk: list[DomainEvent]) -> None:
        futures = [
            producer.send(
                topic,
                key=e.subject.encode(),
                value=json.dumps(e.data).encode(),
                headers=[
                    ("ce_id", e.id.encode()),
                    ("ce_type", e.type.value.encode()),
                    ("ce_source", e.source.encode()),
                    ("ce_subject", e.subject.encode()),
                    ("ce_time", e.time.isoformat().encode()),
                    ("ce_specversion", b"1.0"),
                    ("content-type", b"application/json"),
                ],
            )
            for e in chunk
        ]
        producer.flush()
        for future in futures:
            future.get()

    try:
        send(events[:batch])
        started = time.perf_counter()
        for start in range(0, len(events), batch):
            send(events[start : start + batch])
        return len(events) / (time.perf_counter() - started)
    finally:
        producer.close()


# --- latency: the emitting activity → a connector's handler ------------------------------------


class Stopwatch(Connector):
    """Notes when each event reached its handler."""

    type_name = "stopwatch"

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.arrived: dict[str, float] = {}

    @handles(EventType.MESSAGE_TRIAGED)
    async def on_triaged(self, event: Event[MessageTriaged]) -> None:
        self.arrived[event.id] = time.perf_counter()


async def latency(
    bootstrap: str, redis: str, rate: float, duration: float
) -> dict[str, float | int]:
    settings = RunnerSettings()
    async with ConnectorHarness(
        Stopwatch, {}, kafka=bootstrap, redis=redis, runner=settings
    ) as kit:
        publisher = EventPublisher.connect(bootstrap, topic=kit.topic)
        activities = EventActivities(publisher)
        environment = ActivityEnvironment()
        count = int(rate * duration)
        events = make_events(count, scope=f"latency-{uuid.uuid4().hex[:6]}")
        sent: dict[str, float] = {}
        warm = make_events(1, scope="warm")
        await asyncio.to_thread(environment.run, activities.publish_events, EventBatch(events=warm))
        await kit.wait_handled(1, within=60)

        def emit() -> None:
            begin = time.perf_counter()
            for n, event in enumerate(events):
                due = begin + n / rate
                pause = due - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                sent[event.id] = time.perf_counter()
                environment.run(activities.publish_events, EventBatch(events=[event]))

        await asyncio.to_thread(emit)
        await kit.wait_handled(count + 1, within=60)
        publisher.close()
        connector = kit.connector
        assert isinstance(connector, Stopwatch)
        delays = [(connector.arrived[i] - sent[i]) * 1000 for i in sent]
    return {
        "events": count,
        "offered_per_s": rate,
        "p50_ms": percentile(delays, 0.5),
        "p99_ms": percentile(delays, 0.99),
        "max_ms": max(delays),
    }


# --- the run ------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=20_000, help="throughput phase (20000)")
    parser.add_argument(
        "--batch",
        type=int,
        nargs="+",
        default=[1, 100],
        help="events per publish call, one phase each (1: one per activity; 100: bulk)",
    )
    parser.add_argument("--rate", type=float, default=200.0, help="latency phase events/s (200)")
    parser.add_argument("--duration", type=float, default=20.0, help="latency phase seconds (20)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser.parse_args(argv)


def run(args: argparse.Namespace, kafka: str, redis: str) -> dict[str, Any]:
    console = Console(stderr=True)
    phases: list[dict[str, Any]] = []
    for batch in args.batch:
        count = args.events if batch > 1 else max(1000, args.events // 10)
        events = make_events(count, scope=f"throughput-{batch}-{uuid.uuid4().hex[:6]}")
        with console.status(f"throughput, {batch} event(s) per flush"):
            bare = bare_throughput(kafka, events, batch)
            warm = warmline_throughput(kafka, events, batch)
        phases.append(
            {
                "batch": batch,
                "events": count,
                "warmline_per_s": warm,
                "bare_per_s": bare,
                "ratio": warm / bare,
            }
        )
    with console.status(f"latency at {args.rate:.0f} events/s"):
        measured = asyncio.run(latency(kafka, redis, args.rate, args.duration))
    worst = min(p["ratio"] for p in phases)
    return {
        "throughput": phases,
        "latency_ms": measured,
        "throughput_ratio": worst,
        "targets": {"throughput_ratio_min": THROUGHPUT_TARGET, "met": worst >= THROUGHPUT_TARGET},
    }


def print_table(summary: dict[str, Any], console: Console) -> None:
    table = Table(title="event publisher")
    for column in ("events per flush", "events", "warmline ev/s", "bare ev/s", "ratio"):
        table.add_column(column, justify="right")
    for phase in summary["throughput"]:
        table.add_row(
            str(phase["batch"]),
            str(phase["events"]),
            f"{phase['warmline_per_s']:.0f}",
            f"{phase['bare_per_s']:.0f}",
            f"{phase['ratio']:.2f}",
        )
    console.print(table)
    latency_ms = summary["latency_ms"]
    console.print(
        f"activity → connector handler at {latency_ms['offered_per_s']:.0f} events/s: "
        f"p50 {latency_ms['p50_ms']:.1f} ms, p99 {latency_ms['p99_ms']:.1f} ms"
    )
    target = summary["targets"]
    verdict = "met" if target["met"] else "NOT met"
    console.print(f"throughput ratio {summary['throughput_ratio']:.2f} (target ≥ 0.8): {verdict}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)

    def measure(_: LocalServices, endpoints: Endpoints) -> dict[str, Any]:
        assert endpoints.kafka is not None
        assert endpoints.redis is not None
        return run(args, endpoints.kafka, endpoints.redis)

    return run_on_services(
        {ServiceName.KAFKA, ServiceName.REDIS}, measure, print_table, as_json=args.json
    )


if __name__ == "__main__":
    sys.exit(main())
