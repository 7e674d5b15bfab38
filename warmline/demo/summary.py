"""What the demo reports: counts read back from the events topic, and the measured latencies."""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Iterable, Sequence

from kafka import KafkaConsumer
from pydantic import BaseModel, ConfigDict

from warmline.annotation.model import AnnotationReport, ItemKind
from warmline.events import DomainEvent, EventType, from_record

READ_TIMEOUT_S = 20.0
"""How long to wait for the last events of the run to arrive on the topic."""


class Latencies(BaseModel):
    """Milliseconds: message to triage decision, and escalation to accept."""

    model_config = ConfigDict(frozen=True)

    triage_p50: float | None
    triage_p99: float | None
    accept_p50: float | None
    accept_p99: float | None


class WellnessSummary(BaseModel):
    """What the wellness workflows did with the run's work, from their events."""

    model_config = ConfigDict(frozen=True)

    exposure_minutes: dict[str, float]
    """Each person's (specialists' and annotators') intensity-weighted minutes at the end."""
    breaks: int
    checkins_requested: int
    checkins_submitted: int
    budget_exceeded: int
    rotations: int


class AnnotationSummary(BaseModel):
    """What the annotation loop made of the run's sampled messages and replies."""

    model_config = ConfigDict(frozen=True)

    items: int
    """Messages and AI replies the sampling policy picked (after the loop's own dedupe)."""
    tone_audits: int
    """Of `items`, AI replies audited for tone."""
    gold_labels: int
    batches: int
    alpha: list[float | None]
    """Krippendorff's alpha of each measured batch, in order (None: undefined)."""
    adjudicated: int
    """Items whose agreement fell below the threshold and went to adjudication."""
    open_tasks: int
    """Tasks still unlabelled when the demo stopped waiting."""


def annotation_summary(report: AnnotationReport) -> AnnotationSummary:
    return AnnotationSummary(
        items=report.items,
        tone_audits=sum(b.items for b in report.batches if b.kind is ItemKind.TONE),
        gold_labels=report.gold,
        batches=len(report.batches),
        alpha=[None if b.alpha is None else round(b.alpha, 3) for b in report.batches],
        adjudicated=sum(b.adjudicated for b in report.batches),
        open_tasks=report.open_tasks,
    )


class Summary(BaseModel):
    """The demo's report; `--json` prints exactly this."""

    model_config = ConfigDict(frozen=True)

    conversations: int
    messages: int
    escalations: dict[str, int]
    """Escalations by the queue they started in."""
    reroutes: int
    """Re-escalations: an escalation moved along its queue's chain."""
    sla_breaches: int
    handoffs: int
    crises: int
    """Conversations in which the crisis screen fired."""
    latency_ms: Latencies
    wellness: WellnessSummary
    annotation: AnnotationSummary
    events: dict[str, int]
    """Every event of the run, counted by CloudEvents type."""
    duration_s: float


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The nearest-rank percentile of `values`, or None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return round(ordered[rank - 1], 1)


def summarise(
    events: Iterable[DomainEvent],
    *,
    triage_ms: Sequence[float],
    annotation: AnnotationSummary,
    duration_s: float,
) -> Summary:
    """Count what happened from the events; take the triage latencies the customers measured and
    the annotation loop's own report."""
    events = list(events)
    by_type = Counter(str(e.type) for e in events)
    escalations = Counter(
        str(e.data["queue"]) for e in events if e.type == EventType.CONVERSATION_ESCALATED
    )
    reroutes = [e for e in events if e.type == EventType.ESCALATION_REROUTED]
    pages = by_type[EventType.SUPERVISOR_PAGED]
    accept_ms = [float(e.data["waited_ms"]) for e in events if e.type == EventType.HANDOFF_ACCEPTED]
    exposure = {
        e.subject: round(float(e.data["exposure_minutes"]), 2)
        for e in sorted(events, key=lambda e: e.time)
        if e.type == EventType.WELLNESS_EXPOSURE_UPDATED
    }
    return Summary(
        conversations=by_type[EventType.CONVERSATION_STARTED],
        messages=by_type[EventType.MESSAGE_TRIAGED],
        escalations=dict(sorted(escalations.items())),
        reroutes=len(reroutes),
        # Every breach either moves the escalation along its chain or pages the supervisor.
        sla_breaches=sum(e.data.get("reason") == "sla_missed" for e in reroutes) + pages,
        handoffs=by_type[EventType.HANDOFF_ACCEPTED],
        crises=len({e.subject for e in events if e.type == EventType.CRISIS_DETECTED}),
        latency_ms=Latencies(
            triage_p50=percentile(triage_ms, 0.5),
            triage_p99=percentile(triage_ms, 0.99),
            accept_p50=percentile(accept_ms, 0.5),
            accept_p99=percentile(accept_ms, 0.99),
        ),
        wellness=WellnessSummary(
            exposure_minutes=dict(sorted(exposure.items())),
            breaks=by_type[EventType.WELLNESS_BREAK_STARTED],
            checkins_requested=by_type[EventType.WELLNESS_CHECKIN_REQUESTED],
            checkins_submitted=by_type[EventType.WELLNESS_CHECKIN_SUBMITTED],
            budget_exceeded=by_type[EventType.WELLNESS_BUDGET_EXCEEDED],
            rotations=by_type[EventType.WELLNESS_ROTATION_STARTED],
        ),
        annotation=annotation,
        events=dict(sorted(by_type.items())),
        duration_s=round(duration_s, 1),
    )


def read_events(bootstrap: str, topic: str, *, conversations: set[str]) -> list[DomainEvent]:
    """Every event on `topic`, read until each conversation's `closed` event has arrived.

    Blocking (kafka-python): call it through `asyncio.to_thread`.
    """
    consumer = KafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    events: list[DomainEvent] = []
    closed: set[str] = set()
    deadline = time.monotonic() + READ_TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            batch = consumer.poll(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    event = from_record(record.key, list(record.headers), record.value)
                    events.append(event)
                    if event.type == EventType.CONVERSATION_CLOSED:
                        closed.add(event.subject)
            if not batch and conversations <= closed:
                break
    finally:
        consumer.close()
    return events


def render(summary: Summary) -> str:
    """The summary as a readable plain-text table."""
    latency = summary.latency_ms
    annotation = summary.annotation
    alphas = ", ".join("-" if a is None else f"{a:.2f}" for a in annotation.alpha) or "-"

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:,.0f} ms"

    rows = [
        ("conversations", str(summary.conversations)),
        ("messages triaged", str(summary.messages)),
        ("escalations", str(sum(summary.escalations.values()))),
        *((f"  to {queue}", str(count)) for queue, count in summary.escalations.items()),
        ("re-escalations", str(summary.reroutes)),
        ("SLA breaches", str(summary.sla_breaches)),
        ("handoffs", str(summary.handoffs)),
        ("crises", str(summary.crises)),
        ("triage latency p50 / p99", f"{ms(latency.triage_p50)} / {ms(latency.triage_p99)}"),
        ("accept latency p50 / p99", f"{ms(latency.accept_p50)} / {ms(latency.accept_p99)}"),
        ("wellness breaks", str(summary.wellness.breaks)),
        (
            "check-ins requested / answered",
            f"{summary.wellness.checkins_requested} / {summary.wellness.checkins_submitted}",
        ),
        ("budgets exceeded", str(summary.wellness.budget_exceeded)),
        ("rotations off intense queues", str(summary.wellness.rotations)),
        ("annotation items (tone audits)", f"{annotation.items} ({annotation.tone_audits})"),
        ("gold labels", str(annotation.gold_labels)),
        ("agreement per batch (alpha)", alphas),
        ("sent to adjudication", str(annotation.adjudicated)),
        ("events", str(sum(summary.events.values()))),
        ("duration", f"{summary.duration_s:.1f} s"),
    ]
    width = max(len(label) for label, _ in rows)
    lines = [f"{label:<{width}}  {value}" for label, value in rows]
    lines.append("")
    lines.append("exposure by person (intensity-weighted minutes)")
    exposure = summary.wellness.exposure_minutes
    name_width = max((len(name) for name in exposure), default=0)
    lines.extend(f"  {name:<{name_width}}  {minutes:>6.2f}" for name, minutes in exposure.items())
    lines.append("")
    lines.append("events by type")
    kinds = {kind.removeprefix("io.warmline."): count for kind, count in summary.events.items()}
    kind_width = max((len(kind) for kind in kinds), default=0)
    lines.extend(f"  {kind:<{kind_width}}  {count:>5}" for kind, count in kinds.items())
    return "\n".join(lines)
