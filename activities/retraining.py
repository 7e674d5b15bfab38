"""The retraining activities: count gold labels, train and score a candidate, shadow, decide.

Deciding (`decide_round`) returns the decision's event rather than publishing it: the workflow
publishes it with the shared `publish_events` activity, retried until Kafka is back.

Training and scoring are CPU-bound and blocking: sync activities on the worker's thread pool that
heartbeat from a side thread while scikit-learn works. Permanent problems (unreadable data, a
broken registry) become non-retryable `ApplicationError`s named after their type; the workflow
reports them as a failed round.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from redis import Redis
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from warmline.annotation.gold import GoldLabel, GoldLabelStore
from warmline.events import DomainEvent, EventPublisher, EventType, event_id
from warmline.retraining import promotion, rounds
from warmline.retraining.client import signal_round
from warmline.retraining.contracts import (
    ConcludedRound,
    ConcludeRequest,
    CountRequest,
    EvaluateRequest,
    ShadowRequest,
    SignalRequest,
    TrainRequest,
)
from warmline.retraining.rounds import Candidate, RoundDecision, ShadowStats, Verdict
from warmline.retraining.settings import RetrainingSettings
from warmline.retraining.shadow import ShadowLog
from warmline.triage.errors import ModelLoadError, TrainingDataError

HEARTBEAT_EVERY = 10.0
"""Seconds between heartbeats while a step runs (the workflow allows two minutes)."""

T = TypeVar("T")


@contextmanager
def heartbeating() -> Iterator[Callable[[str], None]]:
    """Heartbeat from a side thread until the block ends; yields a progress callback."""
    stop = threading.Event()
    state = {"step": "starting"}
    context = contextvars.copy_context()

    def beat() -> None:
        while not stop.wait(HEARTBEAT_EVERY):
            activity.heartbeat(state["step"])

    thread = threading.Thread(target=context.run, args=(beat,), daemon=True)
    thread.start()

    def progress(step: str) -> None:
        state["step"] = step
        activity.logger.info("%s", step)
        activity.heartbeat(step)

    try:
        yield progress
    finally:
        stop.set()
        thread.join()


def _permanent(call: Callable[[], T]) -> T:
    """Run `call`, turning errors no retry can fix into non-retryable application errors."""
    try:
        return call()
    except (TrainingDataError, ModelLoadError, promotion.RollbackError) as exc:
        raise ApplicationError(str(exc), type=type(exc).__name__, non_retryable=True) from exc


def model_event(
    event_type: EventType,
    settings: RetrainingSettings,
    step: str,
    request: ConcludeRequest,
    data: dict[str, Any],
) -> DomainEvent:
    """A model lifecycle event, keyed by `<deployment>/<taxonomy>`, id fixed by round and step."""
    return DomainEvent(
        id=event_id(request.verdict.candidate.round_id, step),
        type=event_type,
        source=f"/warmline/deployments/{settings.deployment}",
        subject=f"{settings.deployment}/{settings.taxonomy}",
        time=request.time,
        data=data,
    )


def decision_event(request: ConcludeRequest, decision: RoundDecision) -> DomainEvent:
    """The `model.promoted` or `model.rejected` event of a round's decision."""
    settings = request.settings
    verdict = request.verdict
    common: dict[str, Any] = {
        "model_version": decision.model_version,
        "taxonomy": settings.taxonomy,
        "version": decision.candidate_version,
        "round_id": decision.round_id,
        "macro_f1": decision.macro_f1_after,
        "crisis_recall": decision.crisis_recall_after,
        "margin": verdict.margin,
        "gold_labels": decision.gold.trained if decision.gold else 0,
        "gold_skipped": decision.gold.skipped if decision.gold else {},
        "holdout_rows": decision.holdout_rows,
    }
    current = verdict.current_score
    if decision.outcome == "promoted":
        return model_event(
            EventType.MODEL_PROMOTED,
            settings,
            "promoted",
            request,
            {
                **common,
                "previous_version": current.model_version if current else None,
                "previous_registry_version": decision.previous_version,
                "previous_macro_f1": decision.macro_f1_before,
                "previous_crisis_recall": decision.crisis_recall_before,
                "shadow": decision.shadow.model_dump() if decision.shadow else None,
            },
        )
    return model_event(
        EventType.MODEL_REJECTED,
        settings,
        "rejected",
        request,
        {
            **common,
            "reason": decision.reason,
            "current_version": (
                current.model_version
                if current is not None and current.version == decision.previous_version
                # Not the version it was judged against (a stale verdict): the one that keeps
                # serving.
                else rounds.model_version_of(settings, decision.previous_version)
            ),
            "current_macro_f1": decision.macro_f1_before,
            "current_crisis_recall": decision.crisis_recall_before,
        },
    )


class RetrainingActivities:
    """Built once by the worker with its Temporal client, Redis client and event publisher."""

    def __init__(self, client: Client, redis: Redis, publisher: EventPublisher) -> None:
        self._client = client
        self._redis = redis
        self._publisher = publisher

    def _gold(self, settings: RetrainingSettings) -> GoldLabelStore:
        return GoldLabelStore(
            self._redis, deployment=settings.deployment, prefix=settings.gold_prefix
        )

    def _read_gold(self, settings: RetrainingSettings, end: int) -> list[GoldLabel]:
        labels = self._gold(settings).read(settings.taxonomy, start=0, limit=end)
        if len(labels) != end:
            raise ApplicationError(
                f"the gold-label store of {settings.deployment}/{settings.taxonomy} holds "
                f"{len(labels)} labels, the round counted {end}; was the stream trimmed?",
                type="GoldStoreShrank",
                non_retryable=True,
            )
        return labels

    @activity.defn(name="count_gold_labels")
    def count_gold_labels(self, request: CountRequest) -> int:
        return self._gold(request.settings).count(request.settings.taxonomy)

    @activity.defn(name="train_candidate")
    def train_candidate(self, request: TrainRequest) -> Candidate:
        settings = request.settings
        gold = self._read_gold(settings, request.gold_end)
        with heartbeating() as progress:
            candidate = _permanent(
                lambda: rounds.train_candidate(
                    settings, gold, round_id=request.round_id, progress=progress
                )
            )
        account = candidate.gold
        activity.logger.info(
            "candidate %s of %s: %d gold labels read, %d trained on, %d held out, skipped %s; "
            "data rows skipped %s",
            candidate.version,
            request.round_id,
            account.read,
            account.trained,
            account.held_out,
            account.skipped or "none",
            candidate.skipped,
        )
        return candidate

    @activity.defn(name="evaluate_candidate")
    def evaluate_candidate(self, request: EvaluateRequest) -> Verdict:
        settings = request.settings
        gold = self._read_gold(settings, request.candidate.gold_end)
        with heartbeating() as progress:
            return _permanent(
                lambda: rounds.evaluate_candidate(
                    settings, request.candidate, gold, progress=progress
                )
            )

    def _shadow_log(self, settings: RetrainingSettings) -> ShadowLog:
        return ShadowLog(self._redis, deployment=settings.deployment, prefix=settings.shadow_prefix)

    @activity.defn(name="start_shadow")
    def start_shadow(self, request: ShadowRequest) -> None:
        settings = request.settings
        log = self._shadow_log(settings)
        if promotion.shadow_version(settings.registry, settings.taxonomy) != request.version:
            # Counters start from zero with the shadow, not again on a retried attempt.
            log.reset(settings.taxonomy, request.version)
        promotion.start_shadow(settings.registry, settings.taxonomy, request.version)
        promotion.note(
            settings.registry,
            settings.taxonomy,
            promotion.Action.SHADOW_STARTED,
            request.version,
            actor=f"retraining:{request.round_id}",
            reason=f"scores live traffic for {settings.shadow_period} before its promotion",
        )

    @activity.defn(name="end_shadow")
    def end_shadow(self, request: ShadowRequest) -> None:
        """End the shadow of a candidate whose round failed before deciding it (a Redis outage
        when its counters were read, a registry damaged during its shadow): nothing will promote
        or reject it, and every worker would otherwise score each message with it for good. A
        shadow another round started since is left alone."""
        settings = request.settings

        def end() -> None:
            with promotion.moving(settings.registry, settings.taxonomy):
                promotion.clear_shadow(settings.registry, settings.taxonomy, request.version)

        _permanent(end)

    @activity.defn(name="read_shadow")
    def read_shadow(self, request: ShadowRequest) -> ShadowStats:
        settings = request.settings
        return self._shadow_log(settings).read(settings.taxonomy, request.version)

    @activity.defn(name="decide_round")
    def decide_round(self, request: ConcludeRequest) -> ConcludedRound:
        """Promote or reject the candidate and record it; the workflow publishes the event.

        Idempotent: a retried attempt whose earlier one promoted answers from `HISTORY.jsonl`.
        Publishing is not part of it, so a Kafka outage cannot turn a decision already taken
        into a failed round (the workflow retries the event until Kafka is back).
        """
        settings = request.settings
        decision = _permanent(
            lambda: rounds.conclude(settings, request.verdict, shadow=request.shadow)
        )
        return ConcludedRound(decision=decision, event=decision_event(request, decision))

    @activity.defn(name="conclude_round")
    def conclude_round(self, request: ConcludeRequest) -> RoundDecision:
        """`decide_round` and the event's publishing in one attempt: what workflows that have not
        reached the `retraining-publishes-decision-durably` patch call (a workflow that scheduled
        it before the change still finds it). A publish that fails retries the whole step."""
        concluded = self.decide_round(request)
        self._publisher.publish([concluded.event])
        return concluded.decision

    @activity.defn(name="request_round")
    async def request_round(self, request: SignalRequest) -> None:
        await signal_round(
            self._client, request.settings, request.request, task_queue=request.task_queue
        )

    @property
    def activities(self) -> list[Callable[..., Any]]:
        """Every activity, for the worker's list."""
        return [
            self.count_gold_labels,
            self.train_candidate,
            self.evaluate_candidate,
            self.start_shadow,
            self.read_shadow,
            self.end_shadow,
            self.decide_round,
            self.conclude_round,
            self.request_round,
        ]
