"""Scoring a local model on a labelled TSV file: F1 overall and per label, and latency per message.

`evaluate` sends every message, one at a time, through the path the conversation engine takes
(`warmline.triage.provider.triage`: the local provider, then the crisis screen) and times each
call. A label counts as predicted when its score in the `TriageResult` is 0.5 or more, which is
exactly how a rule such as `emotion("grief") > 0.5` reads it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, PrivateAttr

from warmline.triage.errors import TrainingDataError
from warmline.triage.local import LocalModel, LocalProvider
from warmline.triage.provider import triage
from warmline.triage.types import TriageRequest

BoolArray = npt.NDArray[np.bool_]

_WARM_UP = 20
"""Messages run untimed first, so one-off costs (first allocations, caches) stay out of p99."""


class LabelScores(BaseModel):
    """Precision, recall and F1 of one label, and how many rows carry it (support)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    precision: float
    recall: float
    f1: float
    support: int


class Latency(BaseModel):
    """Milliseconds per message through the real inference path, one message at a time.

    `p50`/`p99` are wall-clock time, what a caller waits. `cpu_p50`/`cpu_p99` are the CPU time the
    thread spent on each message, the work itself: on a shared machine the wall-clock tail also
    holds the time other processes had the core.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    p50: float
    p99: float
    mean: float
    cpu_p50: float
    cpu_p99: float
    messages: int


class Evaluation(BaseModel):
    """What `warmline triage eval --json` prints, and what the registry records per data file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    taxonomy: str
    model_version: str
    data_file: str
    data_sha256: str
    rows: int
    skipped: dict[str, int]
    macro_f1: float
    micro_f1: float
    per_label: dict[str, LabelScores]
    latency_ms: Latency | None = None
    measured_at: datetime
    _decisions: BoolArray | None = PrivateAttr(default=None)

    @property
    def decisions(self) -> BoolArray | None:
        """The rows x labels decisions scored (a label present at a calibrated score of 0.5, as
        triage reports it); None for an evaluation read back from JSON, which never holds them."""
        return self._decisions


def f1_scores(truth: BoolArray, predicted: BoolArray) -> tuple[float, float, list[float]]:
    """Macro F1 (every label; one never true nor predicted scores 0), micro F1, F1 per label."""
    macro, micro, per_label = label_scores(truth, predicted)
    return macro, micro, [scores.f1 for scores in per_label]


def label_scores(truth: BoolArray, predicted: BoolArray) -> tuple[float, float, list[LabelScores]]:
    """Macro F1, micro F1 and precision/recall/F1/support per label of rows x labels matrices.

    A label with no true and no predicted row scores 0 on every measure, so it lowers the macro
    average rather than vanishing from it (scikit-learn's `zero_division=0`).
    """
    tp = (truth & predicted).sum(axis=0).astype(np.float64)
    fp = (~truth & predicted).sum(axis=0).astype(np.float64)
    fn = (truth & ~predicted).sum(axis=0).astype(np.float64)
    precision = np.divide(tp, tp + fp, out=np.zeros_like(tp), where=tp + fp > 0)
    recall = np.divide(tp, tp + fn, out=np.zeros_like(tp), where=tp + fn > 0)
    denominator = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    total = 2 * tp.sum() + fp.sum() + fn.sum()
    micro = float(2 * tp.sum() / total) if total else 0.0
    per_label = [
        LabelScores(precision=float(p), recall=float(r), f1=float(f), support=int(s))
        for p, r, f, s in zip(precision, recall, f1, tp + fn, strict=True)
    ]
    return float(f1.mean()), micro, per_label


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def evaluate(
    model: LocalModel,
    texts: Sequence[str],
    truth: BoolArray,
    *,
    data_file: str,
    data_sha256: str,
    skipped: dict[str, int] | None = None,
) -> Evaluation:
    """Score `model` on labelled texts, each read and timed alone through `triage()`."""
    if truth.shape != (len(texts), len(model.labels)):
        raise TrainingDataError(
            f"{data_file}: {truth.shape[1]} labels per row, the model has {len(model.labels)}"
        )
    provider = LocalProvider(model)
    column = {label: i for i, label in enumerate(model.labels)}
    predicted = np.zeros_like(truth)
    times: list[float] = []
    cpu_times: list[float] = []
    warm_up = min(_WARM_UP, len(texts))
    for number, text in enumerate([*texts[:warm_up], *texts]):
        request = TriageRequest(
            tenant_id="eval", conversation_id="eval", message_id=str(number), text=text
        )
        cpu_start = time.thread_time_ns()
        start = time.perf_counter_ns()
        result = triage(provider, request)
        elapsed = time.perf_counter_ns() - start
        cpu = time.thread_time_ns() - cpu_start
        if number < warm_up:
            continue
        row = number - warm_up
        times.append(elapsed / 1e6)
        cpu_times.append(cpu / 1e6)
        for emotion in result.emotions:
            if emotion.score >= 0.5:
                predicted[row, column[emotion.label]] = True
    macro, micro, per_label = label_scores(truth, predicted)
    times.sort()
    cpu_times.sort()
    evaluation = Evaluation(
        taxonomy=model.card.taxonomy,
        model_version=model.model_version,
        data_file=data_file,
        data_sha256=data_sha256,
        rows=len(texts),
        skipped=dict(skipped or {}),
        macro_f1=round(macro, 4),
        micro_f1=round(micro, 4),
        per_label={
            label: LabelScores(
                precision=round(s.precision, 4),
                recall=round(s.recall, 4),
                f1=round(s.f1, 4),
                support=s.support,
            )
            for label, s in zip(model.labels, per_label, strict=True)
        },
        latency_ms=Latency(
            p50=round(percentile(times, 0.50), 3),
            p99=round(percentile(times, 0.99), 3),
            mean=round(sum(times) / len(times), 3),
            cpu_p50=round(percentile(cpu_times, 0.50), 3),
            cpu_p99=round(percentile(cpu_times, 0.99), 3),
            messages=len(times),
        ),
        measured_at=datetime.now(UTC),
    )
    evaluation._decisions = predicted
    return evaluation


def render(evaluation: Evaluation) -> str:
    """The evaluation as a plain-text report: overall scores, a per-label table, latency."""
    lines = [
        f"model     {evaluation.model_version} ({evaluation.taxonomy})",
        f"data      {evaluation.data_file} ({evaluation.rows} rows, sha256 "
        f"{evaluation.data_sha256[:12]})",
        f"macro-F1  {evaluation.macro_f1:.4f}",
        f"micro-F1  {evaluation.micro_f1:.4f}",
    ]
    if evaluation.latency_ms is not None:
        latency = evaluation.latency_ms
        lines.append(
            f"latency   p50 {latency.p50:.3f} ms, p99 {latency.p99:.3f} ms per message "
            f"({latency.messages} messages, one at a time); CPU time p50 "
            f"{latency.cpu_p50:.3f} ms, p99 {latency.cpu_p99:.3f} ms"
        )
    width = max(len("label"), *(len(label) for label in evaluation.per_label))
    lines += ["", f"{'label':<{width}}  precision  recall      f1  support"]
    for label, s in evaluation.per_label.items():
        lines.append(
            f"{label:<{width}}  {s.precision:9.4f}  {s.recall:6.4f}  {s.f1:6.4f}  {s.support:7d}"
        )
    return "\n".join(lines)
