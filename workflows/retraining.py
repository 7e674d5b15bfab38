"""RetrainingWorkflow: one per deployment and taxonomy, turning new gold labels into candidates.

It wakes when told that gold labels were added (a signal), when asked for a round (a signal from
the schedule, or the `run_round` update that returns the decision), and every `check_interval`.
It counts the gold labels in the store (an activity); with at least `after_gold_labels` new ones,
or when asked, it fixes how many labels the round reads, trains a candidate on them, scores it
and the current model on the held-out slice, optionally keeps it in shadow for `shadow_period`,
and promotes or rejects it; the decision is answered, and its event then published with retries
until Kafka takes it, however long it is down. Rounds run one at a time; a label is read by the
round that counted it and never again as new, so a repeated signal or a retried activity never
trains twice on the same labels. A round that fails for good (data that cannot make a round, a
broken registry) is not tried again by itself until the gold-label count changes; a `run_round`
request or new settings try at once; a round that fails while its candidate is in shadow ends
that shadow. Round ids are scoped to the workflow execution (its id and first run id), so a
workflow started again under the same id never reuses an earlier execution's candidate nor
repeats its event ids. `ScheduledRetrainingWorkflow` is what the Temporal Schedule
starts: it asks the retraining workflow for a round and ends.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from activities.events import EventActivities, EventBatch
    from warmline.events import DomainEvent
    from warmline.retraining.contracts import (
        ConcludedRound,
        ConcludeRequest,
        CountRequest,
        EvaluateRequest,
        GoldLabelsAdded,
        RetrainingInput,
        RetrainingStatus,
        RoundRequest,
        ScheduledRound,
        ShadowRequest,
        SignalRequest,
        TrainRequest,
    )
    from warmline.retraining.rounds import Candidate, RoundDecision, ShadowStats, Verdict
    from warmline.retraining.settings import RetrainingSettings

from workflows.scope import execution_scope

CONTINUE_AS_NEW_AFTER = 500
"""Wake-ups per run (each a timer or signal and a count activity)."""
MAX_QUEUED = 20
"""Requested rounds that may wait at once; `run_round` refuses more."""
COUNT_TIMEOUT = timedelta(seconds=30)
TRAIN_TIMEOUT = timedelta(hours=2)
EVALUATE_TIMEOUT = timedelta(hours=1)
HEARTBEAT_TIMEOUT = timedelta(minutes=2)
STEP_TIMEOUT = timedelta(minutes=2)
PERMANENT = ["TrainingDataError", "ModelLoadError", "RetrainingDisabledError"]
"""Errors a retry cannot fix: bad data or a broken registry. The round fails and says why."""
STORE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=10,
)
"""Redis, Kafka and the registry's disk: brief outages, retried for about three minutes."""
DURABLE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
)
"""A decision's event must reach Kafka: retried until the broker is back, however long."""
TRAIN_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=10),
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=3,
    non_retryable_error_types=PERMANENT,
)
"""A lost worker mid-training: try again twice; the candidate of the round is found, not redone."""
ROUND_IDS_PATCH = "retraining-round-ids-per-execution"
"""From this change on, round ids start with the execution scope (`<workflow id>@<first run
id>/round-N`) instead of the workflow id alone."""
NO_RETRY_PATCH = "retraining-waits-for-new-gold-after-failure"
"""From this change on, a round that failed for good is not run again by a wake-up until the
gold-label count changes."""
DURABLE_EVENT_PATCH = "retraining-publishes-decision-durably"
"""From this change on, a round decides (`decide_round`) and then publishes the decision's event
on its own (`publish_events`, retried until Kafka is back) after answering who asked. Before,
`conclude_round` did both in one step retried for three minutes: a longer Kafka outage reported
a promotion that had moved `CURRENT` as a failed round, never sent `model.promoted`, and left
its gold labels new for the next round."""
NOTICE_PATCH = "retraining-carries-a-gold-label-notice-across-continue-as-new"
"""From this change on, a `gold_labels_added` signal the run has not counted yet when it
continues as new (one that arrived during its last round) is carried to the next run, which
counts at once. Before, it was dropped: the labels waited for the next run's periodic check,
`check_interval` (an hour by default) later."""
FAILED_SHADOW_PATCH = "retraining-ends-the-shadow-of-a-failed-round"
"""From this change on, a round that fails after its candidate went into shadow ends that shadow
(`end_shadow`). Before, `SHADOW` kept naming a candidate no round would ever decide, and every
worker scored each message with it until another candidate's shadow replaced it."""


@workflow.defn
class RetrainingWorkflow:
    @workflow.init
    def __init__(self, params: RetrainingInput) -> None:
        self._settings = params.settings
        self._trained_through = params.trained_through
        self._rounds = params.rounds
        self._last = params.last_decision
        self._failed_at = params.failed_at
        self._notified = params.notified
        self._queued: list[tuple[int | None, RoundRequest]] = []
        """Requested rounds not started yet: (ticket of a waiting update or None, request)."""
        self._answers: dict[int, RoundDecision] = {}
        self._tickets = 0
        self._running = False
        self._shadow: str | None = None
        self._publishing: str | None = None

    @workflow.run
    async def run(self, params: RetrainingInput) -> None:
        wakeups = 0
        while True:
            if self._history_full(wakeups) and not self._queued:
                # An update arriving now waits for a round: serve it before moving on.
                await workflow.wait_condition(
                    lambda: workflow.all_handlers_finished() or bool(self._queued)
                )
                if not self._queued:
                    break
            wakeups += 1
            with contextlib.suppress(TimeoutError):
                # Timing out is the periodic check: count even without a signal.
                await workflow.wait_condition(
                    lambda: self._notified or bool(self._queued),
                    timeout=self._settings.check_interval,
                )
            self._notified = False
            requests, self._queued = self._queued, []
            unpublished: DomainEvent | None = None
            try:
                total: int = await workflow.execute_activity(
                    "count_gold_labels",
                    CountRequest(settings=self._settings),
                    result_type=int,
                    start_to_close_timeout=COUNT_TIMEOUT,
                    retry_policy=STORE_RETRY,
                )
            except ActivityError as error:
                # The store is out for minutes: try again at the next wake-up, answer who asked.
                reason = f"cannot count gold labels: {_reason(error)}"
                workflow.logger.error("retraining: %s", reason)
                failed = RoundDecision(
                    round_id=self._round_id(self._rounds + 1),
                    taxonomy=self._settings.taxonomy,
                    outcome="failed",
                    reason=reason,
                )
                self._last = failed
                self._answer(requests, failed)
                continue
            new = total - self._trained_through
            threshold = self._settings.after_gold_labels
            due = threshold is not None and new >= threshold
            if requests and not due and new <= 0 and not any(r.force for _, r in requests):
                decision = RoundDecision(
                    round_id=self._round_id(self._rounds),
                    taxonomy=self._settings.taxonomy,
                    outcome="skipped",
                    reason=f"no new gold label since the last round (read through {total})",
                )
            elif (due or requests) and not self._waits_for_new_gold(total, requests):
                decision, unpublished = await self._round(total)
            else:
                continue
            self._answer(requests, decision)
            if unpublished is not None:
                # The decision is taken and answered; its event follows once Kafka takes it.
                await self._publish(unpublished)
        workflow.continue_as_new(
            RetrainingInput(
                settings=self._settings,
                trained_through=self._trained_through,
                rounds=self._rounds,
                last_decision=self._last,
                failed_at=self._failed_at,
                notified=self._carries_notice(),
            )
        )

    def _carries_notice(self) -> bool:
        """Whether the next run must count at once: gold labels were announced after this run's
        last count (during its last round, or right as it ended)."""
        return workflow.patched(NOTICE_PATCH) and self._notified

    def _answer(
        self, requests: list[tuple[int | None, RoundRequest]], decision: RoundDecision
    ) -> None:
        for ticket, _ in requests:
            if ticket is not None:
                self._answers[ticket] = decision

    @staticmethod
    def _history_full(wakeups: int) -> bool:
        return wakeups >= CONTINUE_AS_NEW_AFTER or workflow.info().is_continue_as_new_suggested()

    @staticmethod
    def _round_id(number: int) -> str:
        """Unique across executions: a workflow started again under the same id (after one was
        terminated) counts rounds from 1 again, and must neither find the earlier execution's
        candidates nor repeat its event ids."""
        if workflow.patched(ROUND_IDS_PATCH):
            return f"{execution_scope()}/round-{number}"
        return f"{workflow.info().workflow_id}/round-{number}"

    def _waits_for_new_gold(
        self, total: int, requests: list[tuple[int | None, RoundRequest]]
    ) -> bool:
        """The last round failed for good on exactly these gold labels, and nobody waits for an
        answer: trying again would only fail again, so only a change of the count (or a
        `run_round` request, or new settings) runs a round."""
        asked = any(ticket is not None or r.trigger == "request" for ticket, r in requests)
        return total == self._failed_at and not asked and workflow.patched(NO_RETRY_PATCH)

    async def _round(self, gold_end: int) -> tuple[RoundDecision, DomainEvent | None]:
        """Run a round on the gold labels below `gold_end`: its decision, and the decision's
        event when the workflow still has to publish it."""
        self._rounds += 1
        self._running = True
        settings = self._settings
        round_id = self._round_id(self._rounds)
        decision: RoundDecision
        event: DomainEvent | None = None
        in_shadow: ShadowRequest | None = None
        """The candidate's shadow, once `start_shadow` was asked for (it may have written
        `SHADOW` before failing)."""
        try:
            candidate: Candidate = await workflow.execute_activity(
                "train_candidate",
                TrainRequest(settings=settings, round_id=round_id, gold_end=gold_end),
                result_type=Candidate,
                start_to_close_timeout=TRAIN_TIMEOUT,
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=TRAIN_RETRY,
            )
            verdict: Verdict = await workflow.execute_activity(
                "evaluate_candidate",
                EvaluateRequest(settings=settings, candidate=candidate),
                result_type=Verdict,
                start_to_close_timeout=EVALUATE_TIMEOUT,
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=TRAIN_RETRY,
            )
            shadow: ShadowStats | None = None
            if verdict.judgement.promote and settings.shadow:
                self._shadow = candidate.version
                shadow_request = ShadowRequest(
                    settings=settings, round_id=round_id, version=candidate.version
                )
                in_shadow = shadow_request
                await workflow.execute_activity(
                    "start_shadow",
                    shadow_request,
                    start_to_close_timeout=STEP_TIMEOUT,
                    retry_policy=STORE_RETRY,
                )
                await workflow.sleep(settings.shadow_period)
                shadow = await workflow.execute_activity(
                    "read_shadow",
                    shadow_request,
                    result_type=ShadowStats,
                    start_to_close_timeout=STEP_TIMEOUT,
                    retry_policy=STORE_RETRY,
                )
            conclude = ConcludeRequest(
                settings=settings, verdict=verdict, shadow=shadow, time=workflow.now()
            )
            if workflow.patched(DURABLE_EVENT_PATCH):
                concluded: ConcludedRound = await workflow.execute_activity(
                    "decide_round",
                    conclude,
                    result_type=ConcludedRound,
                    start_to_close_timeout=STEP_TIMEOUT,
                    retry_policy=STORE_RETRY,
                )
                decision, event = concluded.decision, concluded.event
            else:
                decision = await workflow.execute_activity(
                    "conclude_round",
                    conclude,
                    result_type=RoundDecision,
                    start_to_close_timeout=STEP_TIMEOUT,
                    retry_policy=STORE_RETRY,
                )
            # The labels are read once the decision is taken, whenever its event goes out.
            self._trained_through = gold_end
            self._failed_at = None
        except ActivityError as error:
            reason = _reason(error)
            workflow.logger.error("retraining round %s failed: %s", round_id, reason)
            # The labels stay new: a passing fault is tried again at the next wake-up; one no
            # retry can fix waits for the gold-label count to change.
            permanent = _permanent(error) and workflow.patched(NO_RETRY_PATCH)
            self._failed_at = gold_end if permanent else None
            if permanent:
                reason += (
                    f"; no round runs by itself again until the gold-label count changes from "
                    f"{gold_end} (`warmline triage retrain` tries at once)"
                )
            decision = RoundDecision(
                round_id=round_id,
                taxonomy=settings.taxonomy,
                outcome="failed",
                reason=reason,
            )
            if in_shadow is not None and workflow.patched(FAILED_SHADOW_PATCH):
                await self._end_shadow(in_shadow)
        finally:
            self._running = False
            self._shadow = None
        self._last = decision
        return decision, event

    async def _end_shadow(self, request: ShadowRequest) -> None:
        """End the shadow of a candidate whose round failed: no round will decide it. A failure
        to do so is logged; the round's failure is what it reports."""
        try:
            await workflow.execute_activity(
                "end_shadow",
                request,
                start_to_close_timeout=STEP_TIMEOUT,
                retry_policy=STORE_RETRY,
            )
        except ActivityError as error:
            if is_cancelled_exception(error):
                raise
            workflow.logger.error(
                "retraining: the shadow of %s (round %s) was not ended: %s",
                request.version,
                request.round_id,
                _reason(error),
            )

    async def _publish(self, event: DomainEvent) -> None:
        """Publish a decision's event, retrying until Kafka takes it; its id is fixed by the
        round, so an attempt that reached Kafka unacknowledged is dropped as a duplicate."""
        self._publishing = event.id
        try:
            await workflow.execute_activity_method(
                EventActivities.publish_events,
                EventBatch(events=[event]),
                start_to_close_timeout=STEP_TIMEOUT,
                retry_policy=DURABLE_RETRY,
            )
        except ActivityError as error:
            if is_cancelled_exception(error):
                raise
            # Only an error no retry can fix ends the retries; the decision stands regardless.
            workflow.logger.error(
                "retraining: the %s event %s was not published: %s",
                event.type,
                event.id,
                _reason(error),
            )
        finally:
            self._publishing = None

    @workflow.signal
    def gold_labels_added(self, added: GoldLabelsAdded) -> None:
        """New gold labels were recorded; the next wake-up counts them (repeats are harmless)."""
        self._notified = True

    @workflow.signal
    def retrain_now(self, request: RoundRequest) -> None:
        """Run a round at the next wake-up (the schedule's trigger)."""
        self._queued.append((None, request))

    @workflow.signal
    def configure(self, settings: RetrainingSettings) -> None:
        """New settings from a (re)started worker's configuration, used from the next round."""
        if (settings.deployment, settings.taxonomy) != (
            self._settings.deployment,
            self._settings.taxonomy,
        ):
            workflow.logger.warning(
                "settings for %s/%s ignored by the workflow of %s/%s",
                settings.deployment,
                settings.taxonomy,
                self._settings.deployment,
                self._settings.taxonomy,
            )
            return
        if settings != self._settings:
            # The data or registry may be fixed now: a round that failed for good may pass.
            self._failed_at = None
        self._settings = settings

    @workflow.update
    async def run_round(self, request: RoundRequest) -> RoundDecision:
        """Run a round now and answer with its decision (macro-F1 before and after)."""
        ticket = self._tickets
        self._tickets += 1
        self._queued.append((ticket, request))
        await workflow.wait_condition(lambda: ticket in self._answers)
        return self._answers.pop(ticket)

    @run_round.validator
    def _validate_run_round(self, request: RoundRequest) -> None:
        if len(self._queued) >= MAX_QUEUED:
            raise ValueError(
                f"{len(self._queued)} rounds are already waiting; ask again once they are decided"
            )

    @workflow.query
    def status(self) -> RetrainingStatus:
        return RetrainingStatus(
            deployment=self._settings.deployment,
            taxonomy=self._settings.taxonomy,
            trained_through=self._trained_through,
            rounds=self._rounds,
            running=self._running,
            in_shadow=self._shadow,
            last_decision=self._last,
            failed_at=self._failed_at,
            publishing=self._publishing,
        )


def _reason(error: ActivityError) -> str:
    cause = error.cause
    return cause.message if isinstance(cause, ApplicationError) else str(cause or error)


def _permanent(error: ActivityError) -> bool:
    """The activity failed with an error no retry can fix (its non-retryable application error:
    bad data, a broken registry, a shrunk gold-label store), not a passing fault."""
    cause = error.cause
    return isinstance(cause, ApplicationError) and (cause.non_retryable or cause.type in PERMANENT)


@workflow.defn
class ScheduledRetrainingWorkflow:
    """Started by the retraining schedule: asks the retraining workflow for a round."""

    @workflow.run
    async def run(self, params: ScheduledRound) -> None:
        await workflow.execute_activity(
            "request_round",
            SignalRequest(
                settings=params.settings,
                task_queue=workflow.info().task_queue,
                request=RoundRequest(trigger="schedule", reason="scheduled retraining"),
            ),
            start_to_close_timeout=STEP_TIMEOUT,
            retry_policy=STORE_RETRY,
        )
