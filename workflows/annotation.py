"""AnnotationWorkflow: one per deployment, the human feedback loop that teaches triage.

Sampled items arrive by signal (`submit_item` from the sampler, `submit_text` from callers that
hold redacted text); an activity fetches and redacts the message and the item becomes a task for
`overlap` annotators. Annotators pull tasks through the `next_task` update, which reads their
wellness state (an activity) so nobody unavailable or on a break gets work and nobody over budget
gets a high-distress item; they submit labels, skip with a reason or flag an item as distressing.
Labelled items are measured in batches with Krippendorff's alpha; below the threshold, items the
annotators disagreed on go to adjudication. Gold labels are recorded in the gold-label store and
emitted as events, and the retraining workflow is told of them; tone audits of AI replies feed a
reply-quality rate per model version. Each annotator's time with a task counts toward their
exposure in their wellness workflow. Everything that touches the outside world is an activity.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.scope import execution_scope

with workflow.unsafe.imports_passed_through():
    from activities.annotation import (
        AgreementCall,
        AnnotationActivities,
        ExposureCall,
        GoldCall,
        GoldNotice,
        PrepareCall,
        TextCall,
        WellnessCall,
        item_id,
    )
    from activities.events import EventActivities, EventBatch
    from warmline.annotation.agreement import majority, unanimous, votes
    from warmline.annotation.gold import GoldLabel
    from warmline.annotation.model import (
        CRISIS_SKILL,
        EMOTION_SKILL,
        INPUT_BYTES_MAX,
        MAX_LABELS,
        MAX_REASON_CHARS,
        TONE_SKILL,
        AnnotationCarry,
        AnnotationInput,
        AnnotationPolicy,
        AnnotationReport,
        AnnotationWork,
        AnnotatorBatchStat,
        BatchReport,
        ExposureStat,
        FlagRequest,
        FlagResult,
        FlushResult,
        ItemKind,
        ItemRequest,
        LabelSubmission,
        NextTaskRequest,
        NextTaskResult,
        PreparedItem,
        ReplyQuality,
        RevealRequest,
        SkipRequest,
        Source,
        SubmitResult,
        Task,
        TaskKind,
        TaskView,
        TextItem,
        exposure_band,
        json_bytes,
    )
    from warmline.events import DomainEvent, EventType, event_id

ACTIVITY_TIMEOUT = timedelta(seconds=30)
READ_RETRY = RetryPolicy(maximum_attempts=3, initial_interval=timedelta(milliseconds=200))
"""Wellness reads answer an annotator waiting on `next_task`: fail fast rather than hang."""
DURABLE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
)
"""Preparing items, gold labels, events and exposure must never be lost: retry until the backend
is back."""
NOTIFY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
)
"""Telling retraining of gold labels is a nudge: its periodic check counts them anyway."""
EXPOSURE_PATCH = "annotation-exposure"
"""From this change on, labels (and flags) count toward the annotator's wellness exposure."""
RETRAINING_PATCH = "annotation-notifies-retraining"
"""From this change on, recorded gold labels are announced to the retraining workflow."""
REACHABLE_PATCH = "annotation-overlap-reachable"
"""From this change on, a label task that can no longer get `required` labels (its eligible
annotators skipped it, or a crisis flag narrowed who may take it) asks for what it can still get,
and is dropped when that is nothing."""
ADJUDICATOR_PATCH = "annotation-adjudicator-eligibility"
"""From this change on, a senior annotator adjudicates only items they could label (skill,
language, crisis training)."""
ADJUDICATION_ROUNDS_PATCH = "annotation-adjudication-rounds"
"""From this change on, the seniors who did not label an item are preferred as its adjudicators
only while one of them has not skipped it; then the seniors who labelled it may settle it."""
POLICY_REACHABLE_PATCH = "annotation-policy-reachable"
"""From this change on, a redeployed policy settles the open label tasks it leaves unable to get
`required` labels (annotators who left, or lost the item's skill or language), as a skip does."""
LATE_CORRECTION_PATCH = "annotation-late-correction"
"""From this change on, a specialist's correction of an item labelled but not yet measured joins
the item, and so the gold label's provenance."""
STOP_KEEPS_LABELS_PATCH = "annotation-stop-keeps-labels"
"""From this change on, `stop` settles the labels already in before the run ends: labelled items
whose batch is not full are measured, open tasks with some labels are measured with the labels
they have (under-overlapped), and open adjudications are settled by majority."""
LAPSED_ADJUDICATION_PATCH = "annotation-lapsed-adjudication"
"""From this change on, an adjudicator whose lease lapsed may still send their adjudication while
nobody else holds it (before, a senior who had labelled the item got `duplicate` or
`AlreadyExists`, and the adjudication was not recorded)."""
BACKLOG_PATCH = "annotation-backlog-within-a-budget"
"""From this change on, the open work the loop holds (open tasks, labelled items waiting for their
batch, submissions carried over) stays within `backlog_bytes` of serialized JSON (`BACKLOG_BYTES`,
1 MB): a new item that does not fit is shed and counted, newest first, except that a crisis item
takes the place of the newest untouched non-crisis tasks; and a continue-as-new input over
`INPUT_BYTES_MAX` lets go of the oldest halves of the recent-history memories until it fits.
Before, the backlog was carried whole, and past 2 MB the continue-as-new failed."""
SKIPPED_ITEM_PATCH = "annotation-skipped-item-not-adjudicated"
"""From this change on, an annotator who skipped an item's label task is not offered its
adjudication (it keeps the task id); before, a senior who skipped an item was the first asked to
settle it, and a late retry of their skip skipped the adjudication they held."""
DEPARTED_HOLDS_PATCH = "annotation-departed-holds-released"
"""From this change on, a redeployed policy releases the tasks held by those it no longer names
(annotators who left the roster, supervisors no longer adjudicating): the slots go to those left,
and a task the departed held is settled with the labels it can still get. Before, their hold
counted as a label to come; it lapsed only after the lease, and a task nobody else could label
then stayed open for good."""
ORPHANED_ADJUDICATION_PATCH = "annotation-policy-settles-adjudications"
"""From this change on, a redeployed policy that leaves an open adjudication nobody to settle it
(its seniors left, or lost the item's skill or language; supervisors no longer adjudicate; or
`adjudication.by: majority`) settles it by majority, as when nobody could adjudicate the item from
the start (no majority: dropped). Before, it stayed open, offered to nobody, until the loop
stopped."""
FLUSH_WAIT_PATCH = "annotation-flush-while-rolling-over"
"""From this change on, a flush that arrives while the run waits for its running updates to
finish (to continue as new, or to end after `stop`) is measured first. Before, the flush waited
for the loop and the loop for the flush: the run never rolled over, and once it had accepted
`updates_per_run` updates it refused every call for good."""
DONE_KEPT = 2000
"""Finished tasks remembered (with who labelled them) so a late duplicate is recognised."""
SEEN_KEPT = 5000
"""Sampled item ids remembered so an item is not annotated twice; the gold-label store records
an item once in any case. Bounded, but 5,000 ids of a tenant and two UUIDs are some 470 KB, and
the memories together up to 2 MB: see `INPUT_BYTES_MAX`."""
BATCHES_KEPT = 200
_T = TypeVar("_T")
FLAG_WARNING = "This message reads as highly distressed"


class Rejected:
    """`ApplicationError` types an update refuses with; the API maps them to status codes."""

    INVALID_ARGUMENT = "InvalidArgument"
    NOT_FOUND = "NotFound"
    PERMISSION_DENIED = "PermissionDenied"
    FAILED_PRECONDITION = "FailedPrecondition"
    ALREADY_EXISTS = "AlreadyExists"
    UNAVAILABLE = "Unavailable"
    """The loop is rolling over to a fresh run (continue-as-new); retry in a moment."""


def _reject(message: str, kind: str) -> ApplicationError:
    return ApplicationError(message, type=kind, non_retryable=True)


@workflow.defn
class AnnotationWorkflow:
    @workflow.init
    def __init__(self, params: AnnotationInput) -> None:
        carry = params.carry or AnnotationCarry()
        self._policy: AnnotationPolicy = params.policy
        self._tasks: dict[str, Task] = {task.task_id: task for task in carry.tasks}
        self._labelled: list[Task] = [t for t in carry.labelled if t.kind is TaskKind.LABEL]
        self._resolved_later: list[Task] = [
            t for t in carry.labelled if t.kind is TaskKind.ADJUDICATION
        ]
        self._flagged_keys: dict[str, None] = dict.fromkeys(carry.flagged)
        self._seen: dict[str, None] = dict.fromkeys(carry.seen)
        self._done: dict[str, dict[str, list[str]]] = dict(carry.done)
        self._done_distress: dict[str, float] = dict(carry.done_distress)
        self._batch = carry.batch
        self._gold = carry.gold
        self._dropped = carry.dropped
        self._flags = carry.flags
        self._items = carry.items
        self._shed = carry.shed
        self._backlog_budget = params.backlog_bytes
        self._sizes: dict[str, tuple[Task, int]] = {}
        """Each held task's serialized size, with the task it was measured on (tasks are
        immutable and replaced on every change, so a stale entry is never read)."""
        self._batches: list[BatchReport] = list(carry.batches)
        self._exposure: dict[tuple[str, str], ExposureStat] = {
            (stat.annotator_id, stat.band.value): stat for stat in carry.exposure
        }
        self._quality: dict[str, ReplyQuality] = {q.model_version: q for q in carry.reply_quality}
        self._pending: list[ItemRequest | TextItem] = [
            *carry.pending_items,
            *carry.pending_texts,
        ]
        self._worked: dict[str, AnnotationWork] = {
            f"{work.task_id}|{work.annotator_id}": work for work in carry.worked
        }
        self._skipped: dict[str, None] = dict.fromkeys(carry.skipped)
        """Recent skips (`task id|annotator`): a retried skip succeeds quietly."""
        self._unannounced = 0
        """Gold labels recorded since the retraining workflow was last told."""
        self._flush_requested = False
        self._stopping = False
        self._updates_per_run = params.updates_per_run
        self._updates = 0
        """Updates this run accepted; at `updates_per_run` it refuses more and rolls over."""

    @workflow.run
    async def run(self, params: AnnotationInput) -> AnnotationReport:
        while True:
            await workflow.wait_condition(
                lambda: (
                    bool(self._pending)
                    or self._flush_requested
                    or self._stopping
                    or self._batch_ready()
                    or self._rollover_due()
                    or workflow.info().is_continue_as_new_suggested()
                )
            )
            while self._pending:
                await self._prepare(self._pending.pop(0))
            while self._batch_ready():
                await self._measure_batches(only_full=True)
            if self._flush_requested:
                await self._measure_batches(only_full=False)
                self._flush_requested = False
            await self._announce_gold()
            if self._stopping:
                # Labels accepted before the stop may still be arriving in their handlers.
                if not await self._handlers_finished():
                    continue
                if self._unsettled() and workflow.patched(STOP_KEEPS_LABELS_PATCH):
                    await self._settle_for_stop()
                    # Flags are still accepted while stopping; theirs must finish too.
                    await workflow.wait_condition(workflow.all_handlers_finished)
                return self.report()
            if (
                self._rollover_due() or workflow.info().is_continue_as_new_suggested()
            ) and not self._pending:
                if not await self._handlers_finished():
                    continue
                workflow.continue_as_new(self._next_input())

    async def _handlers_finished(self) -> bool:
        """Wait for the running updates to finish, as the run must before it ends or continues as
        new; False when a flush came meanwhile: it waits for the loop to measure, so the loop
        goes round again to do that first (before FLUSH_WAIT_PATCH, neither ever finished)."""
        await workflow.wait_condition(
            lambda: workflow.all_handlers_finished() or self._flush_requested
        )
        if workflow.all_handlers_finished():
            return True
        if workflow.patched(FLUSH_WAIT_PATCH):
            return False
        await workflow.wait_condition(workflow.all_handlers_finished)
        return True

    # --- signals ----------------------------------------------------------------------------------

    @workflow.signal
    def submit_item(self, request: ItemRequest) -> None:
        """Annotate a sampled message (or, for a tone audit, a conversation's AI replies)."""
        self._pending.append(request)

    @workflow.signal
    def submit_text(self, item: TextItem) -> None:
        """Annotate a text the caller holds; it is redacted again before anyone sees it."""
        self._pending.append(item)

    @workflow.signal
    def set_policy(self, policy: AnnotationPolicy) -> None:
        """A redeployed configuration: new annotators, thresholds and sampling shares apply to
        what happens from now on (open tasks keep their overlap, unless too few of those able
        to label them are left: then they ask for what they can still get, as after a skip)."""
        if policy.deployment != self._policy.deployment:
            workflow.logger.warning(
                "policy of %r ignored by the loop of %r", policy.deployment, self._policy.deployment
            )
            return
        self._policy = policy
        departed = [t for t in self._tasks.values() if not all(map(self._is_worker, t.assigned))]
        if departed and workflow.patched(DEPARTED_HOLDS_PATCH):
            for task in departed:
                self._release_departed(task)
        adjudications = [t for t in self._tasks.values() if t.kind is TaskKind.ADJUDICATION]
        if adjudications and workflow.patched(ORPHANED_ADJUDICATION_PATCH):
            by_majority = self._policy.adjudication_by == "majority"
            for task in adjudications:
                if by_majority or self._adjudicators_left(task) == 0:
                    self._settle_orphaned(task)
        short = [t for t in self._tasks.values() if self._reachable(t) < t.required]
        if short and workflow.patched(POLICY_REACHABLE_PATCH):
            for task in short:
                self._settle_reachable(task)

    def _release_departed(self, task: Task) -> None:
        """Take the task back from its holders the policy no longer names: they cannot be offered
        work or send it any more (`_is_worker`), so their slots go to those left. What they
        labelled stays; they may still flag an item they labelled."""
        gone = [a for a in task.assigned if not self._is_worker(a)]
        workflow.logger.info(
            "%s taken back from %s (no longer on the roster)", task.task_id, ", ".join(gone)
        )
        self._replace(
            task,
            assigned={a: t for a, t in task.assigned.items() if a not in gone},
            exposure={a: e for a, e in task.exposure.items() if a not in gone or a in task.labels},
            budget={a: b for a, b in task.budget.items() if a not in gone or a in task.labels},
            lapsed={a: t for a, t in task.lapsed.items() if a not in gone},
        )

    def _settle_orphaned(self, task: Task) -> None:
        """An adjudication nobody may settle any more (or whose policy now says `majority`) goes
        by majority, as `_adjudicate` does when nobody can adjudicate: resolved with the other
        settled adjudications (`_resolved_later`, with no adjudicator's labels: `_measure_batches`
        takes the majority), or dropped when there is none. A holder who may no longer settle it
        loses it; what they send is refused."""
        workflow.logger.warning(
            "nobody left to adjudicate %s under the redeployed policy; settled by majority "
            "(dropped when there is none)",
            task.task_id,
        )
        if not majority(task.origin):
            self._drop(task)
            return
        del self._tasks[task.task_id]
        self._remember(task)
        self._resolved_later.append(task.model_copy(update={"assigned": {}, "labels": {}}))

    @workflow.signal
    def stop(self) -> None:
        """Finish the loop; used by tests and decommissioning. New labels, skips, reveals and
        flushes are refused from now on; the labels already in are settled before the run ends
        (see `_settle_for_stop`), and open tasks nobody labelled are abandoned."""
        self._stopping = True

    # --- updates ----------------------------------------------------------------------------------

    @workflow.update
    async def next_task(self, request: NextTaskRequest) -> NextTaskResult:
        self._updates += 1
        annotator = request.annotator_id
        held = self._held(annotator)
        if held is not None:
            return NextTaskResult(task=self._view(held, annotator))
        states = await workflow.execute_activity_method(
            AnnotationActivities.read_wellness,
            WellnessCall(worker_ids=[annotator]),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=READ_RETRY,
        )
        # Another call of the same annotator's may have assigned them a task during the read.
        # Nothing below awaits, so the choice and the assignment are one atomic step.
        held = self._held(annotator)
        if held is not None:
            return NextTaskResult(task=self._view(held, annotator))
        state = states.states[annotator]
        # Views recorded before `available` existed read as available: older histories take the
        # same path, and nothing here schedules a command, so no patch is needed.
        if not state.available:
            return NextTaskResult(
                reason="you are unavailable: no new tasks until you (or HR) say you are available"
            )
        if not state.may_take_any:
            return NextTaskResult(reason="you are on a break: no new tasks until it ends")
        self._expire_leases()
        held_back = False
        for task in self._tasks.values():
            if not self._eligible(task, annotator):
                continue
            if self._intense(task.item) and not state.may_take_intense:
                held_back = True
                continue
            assigned = self._replace(
                task,
                assigned={**task.assigned, annotator: workflow.now()},
                exposure={**task.exposure, annotator: state.exposure_minutes},
                budget={**task.budget, annotator: state.budget_minutes or 0.0},
            )
            return NextTaskResult(task=self._view(assigned, annotator))
        reason = "no open task for you right now"
        if held_back:
            reason += " (high-distress items are held back while your exposure is high)"
        return NextTaskResult(reason=reason)

    def _held(self, annotator: str) -> Task | None:
        return next((t for t in self._tasks.values() if annotator in t.assigned), None)

    def _work(self, task: Task, annotator: str) -> AnnotationWork | None:
        """The annotator's time with the task (they hold it, or held an adjudication until its
        lease lapsed), for their wellness workflow; None for supervisors adjudicating (wellness
        covers specialists and annotators) and for runs begun before exposure was counted."""
        handed_out = task.assigned.get(annotator) or task.lapsed.get(annotator)
        if (
            handed_out is None
            or self._policy.annotator(annotator) is None
            or not workflow.patched(EXPOSURE_PATCH)
        ):
            return None
        # Past the lease the task could have been taken back: that time is not reading time.
        elapsed = (workflow.now() - handed_out).total_seconds()
        seconds = min(max(elapsed, 0.0), float(self._policy.lease_seconds))
        work = AnnotationWork(
            annotator_id=annotator,
            task_id=task.task_id,
            kind=task.kind,
            minutes=round(seconds / 60, 3),
            distress=task.item.distress,
            crisis=task.item.crisis,
            flagged=annotator in task.flagged,
        )
        self._worked[f"{task.task_id}|{annotator}"] = work
        while len(self._worked) > DONE_KEPT:
            del self._worked[next(iter(self._worked))]
        return work

    async def _record_exposure(self, call: ExposureCall) -> None:
        await workflow.execute_activity_method(
            AnnotationActivities.record_exposure,
            call,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=DURABLE_RETRY,
        )

    @next_task.validator
    def _validate_next_task(self, request: NextTaskRequest) -> None:
        self._accepting()
        self._refuse_while_stopping()
        if not self._is_worker(request.annotator_id):
            raise _reject("you are not an annotator of this deployment", Rejected.PERMISSION_DENIED)

    @workflow.update
    async def submit_labels(self, submission: LabelSubmission) -> SubmitResult:
        self._updates += 1
        annotator, task_id = submission.annotator_id, submission.task_id
        labels = list(dict.fromkeys(submission.labels))
        # An adjudicator whose lease lapsed (recorded only from LAPSED_ADJUDICATION_PATCH on)
        # sends the adjudication, not a repeat of the labels they gave the item.
        lapsed = self._lapsed_adjudication(task_id, annotator)
        earlier = None if lapsed is not None else self._earlier_labels(task_id, annotator)
        if earlier is not None:
            return SubmitResult(task_id=task_id, duplicate=True)
        task = self._tasks[task_id]
        work = self._work(task, annotator)
        labelled = self._replace(
            task,
            assigned={a: t for a, t in task.assigned.items() if a != annotator},
            labels={**task.labels, annotator: labels},
            lapsed={a: t for a, t in task.lapsed.items() if a != annotator},
        )
        if labelled.labelled:
            del self._tasks[task_id]
            self._remember(labelled)
            if labelled.kind is TaskKind.ADJUDICATION:
                self._resolved_later.append(labelled)
            else:
                self._labelled.append(labelled)
        if work is not None:
            # The labels are in: a repeat while this waits is answered as a duplicate.
            await self._record_exposure(ExposureCall(work=work))
        return SubmitResult(task_id=task_id)

    @submit_labels.validator
    def _validate_submit(self, submission: LabelSubmission) -> None:
        self._accepting()
        annotator, task_id = submission.annotator_id, submission.task_id
        if not submission.labels:
            raise _reject("choose at least one label", Rejected.INVALID_ARGUMENT)
        if len(submission.labels) > MAX_LABELS:
            raise _reject(f"choose at most {MAX_LABELS} labels", Rejected.INVALID_ARGUMENT)
        lapsed = self._lapsed_adjudication(task_id, annotator)
        if lapsed is None:
            earlier = self._earlier_labels(task_id, annotator)
            if earlier is not None:
                # A repeat is answered even while stopping: those labels are in, and kept.
                if sorted(set(earlier)) != sorted(set(submission.labels)):
                    raise _reject(
                        "you already submitted different labels for this task; they cannot change",
                        Rejected.ALREADY_EXISTS,
                    )
                return
        self._refuse_while_stopping()
        if lapsed is not None:
            if not self._may_take_back(lapsed, annotator):
                minutes = self._policy.lease_seconds // 60
                raise _reject(
                    f"your hold on this adjudication lapsed ({minutes} minutes without labels) "
                    "and it is no longer yours to settle; ask for a new task",
                    Rejected.PERMISSION_DENIED,
                )
            task = lapsed
        else:
            task = self._owned(task_id, annotator)
        allowed = self._policy.labels_for(task.item.kind)
        unknown = [label for label in submission.labels if label not in allowed]
        if unknown:
            raise _reject(
                f"label(s) {', '.join(map(repr, unknown))} are not in the taxonomy "
                f"({', '.join(allowed)})",
                Rejected.INVALID_ARGUMENT,
            )
        tone = task.item.kind is ItemKind.TONE
        if tone and "appropriate" in submission.labels and len(set(submission.labels)) > 1:
            raise _reject(
                "'appropriate' cannot be combined with a finding", Rejected.INVALID_ARGUMENT
            )

    @workflow.update
    async def skip_task(self, request: SkipRequest) -> None:
        """The task goes back to the pool for someone else, never to the caller again.

        A skip counts toward exposure only when the annotator flagged the item first."""
        self._updates += 1
        task = self._tasks.get(request.task_id)
        if task is None or request.annotator_id not in task.assigned:
            # A retried skip that already went through (the validator lets no other one by).
            return
        key = f"{request.task_id}|{request.annotator_id}"
        self._skipped[key] = None
        while len(self._skipped) > DONE_KEPT:
            del self._skipped[next(iter(self._skipped))]
        flagged = request.annotator_id in task.flagged
        work = self._work(task, request.annotator_id) if flagged else None
        skipped = self._replace(
            task,
            assigned={a: t for a, t in task.assigned.items() if a != request.annotator_id},
            excluded=[*task.excluded, request.annotator_id],
            exposure={a: e for a, e in task.exposure.items() if a != request.annotator_id},
        )
        if task.kind is TaskKind.ADJUDICATION:
            rounds = len(task.excluded) + 1
            if rounds >= self._policy.max_rounds or self._adjudicators_left(task) <= 1:
                self._drop(task)
        else:
            self._settle_reachable(skipped)
        if work is not None:
            await self._record_exposure(ExposureCall(work=work))

    @skip_task.validator
    def _validate_skip(self, request: SkipRequest) -> None:
        self._accepting()
        if not request.reason.strip():
            raise _reject("give a reason for skipping", Rejected.INVALID_ARGUMENT)
        if len(request.reason) > MAX_REASON_CHARS:
            raise _reject(
                f"the reason is limited to {MAX_REASON_CHARS} characters", Rejected.INVALID_ARGUMENT
            )
        if self._skipped_before(request.task_id, request.annotator_id):
            return
        if self._earlier_labels(request.task_id, request.annotator_id) is not None:
            raise _reject("you already labelled this task", Rejected.FAILED_PRECONDITION)
        self._refuse_while_stopping()
        self._owned(request.task_id, request.annotator_id)

    def _skipped_before(self, task_id: str, annotator: str) -> bool:
        """Whether a skip is a retry of one that went through (its reply may have been lost):
        the caller no longer holds the task and skipped it, whether it is still open or not."""
        task = self._tasks.get(task_id)
        if task is not None and annotator in task.assigned:
            return False
        return (task is not None and annotator in task.excluded) or (
            f"{task_id}|{annotator}" in self._skipped
        )

    @workflow.update
    async def flag_distressing(self, request: FlagRequest) -> FlagResult:
        self._updates += 1
        task = self._tasks.get(request.task_id)
        item = task.item if task is not None else None
        # An original labeller flagging the item while it awaits adjudication is not part of the
        # adjudication: their flag weighs on their own labels' record below.
        if task is not None and (
            request.annotator_id in task.assigned or request.annotator_id in task.labels
        ):
            if request.annotator_id in task.flagged:
                return FlagResult(task_id=request.task_id, duplicate=True)
            self._replace(task, flagged=[*task.flagged, request.annotator_id])
        key = f"{request.task_id}|{request.annotator_id}"
        if key in self._flagged_keys:
            return FlagResult(task_id=request.task_id, duplicate=True)
        self._flagged_keys[key] = None
        self._flags += 1
        # A finished item is gone from the open tasks; the caller's counted work remembers
        # whether it was a crisis (supervisors adjudicating have none: wellness leaves them out).
        counted = self._worked.get(key)
        crisis = item.crisis if item else counted is not None and counted.crisis
        await self._publish(
            [
                self._event(
                    EventType.WELLNESS_ITEM_FLAGGED,
                    f"flag/{key}",
                    request.annotator_id,
                    {
                        "task_id": request.task_id,
                        "distress": item.distress
                        if item
                        else self._done_distress.get(request.task_id, 0.0),
                        "crisis": crisis,
                    },
                )
            ]
        )
        # Flagged while held, the flag weighs in when the labels are sent; flagged after, the
        # labels' record is topped up to what a flagged item weighs.
        if counted is not None and not counted.flagged and workflow.patched(EXPOSURE_PATCH):
            flagged = counted.model_copy(update={"flagged": True})
            self._worked[key] = flagged
            await self._record_exposure(ExposureCall(work=flagged, late_flag=True))
        return FlagResult(task_id=request.task_id)

    @flag_distressing.validator
    def _validate_flag(self, request: FlagRequest) -> None:
        self._accepting()
        if len(request.note) > MAX_REASON_CHARS:
            raise _reject(
                f"the note is limited to {MAX_REASON_CHARS} characters", Rejected.INVALID_ARGUMENT
            )
        if f"{request.task_id}|{request.annotator_id}" in self._flagged_keys:
            # A retry of a flag that went through (its reply may have been lost), also once the
            # caller skipped the task or their hold lapsed: the handler answers it `duplicate`.
            return
        if self._earlier_labels(request.task_id, request.annotator_id) is not None:
            return
        self._owned(request.task_id, request.annotator_id)

    @workflow.update
    def reveal_text(self, request: RevealRequest) -> TaskView:
        """The annotator opts in to read a blurred item."""
        self._updates += 1
        task = self._tasks[request.task_id]
        if request.annotator_id not in task.revealed:
            task = self._replace(task, revealed=[*task.revealed, request.annotator_id])
        return self._view(task, request.annotator_id)

    @reveal_text.validator
    def _validate_reveal(self, request: RevealRequest) -> None:
        self._accepting()
        self._refuse_while_stopping()
        self._owned(request.task_id, request.annotator_id)

    @workflow.update
    async def flush(self) -> FlushResult:
        """Measure the labelled items now, even if a batch is not full (supervisors, tests)."""
        self._updates += 1
        before = self._batch
        self._flush_requested = True
        await workflow.wait_condition(lambda: not self._flush_requested)
        return FlushResult(batches=self._batch - before)

    @flush.validator
    def _validate_flush(self) -> None:
        self._accepting()
        # The stop measures every label in; a flush waiting on the loop would wait for good.
        self._refuse_while_stopping()

    def _rollover_due(self) -> bool:
        return self._updates >= self._updates_per_run

    def _accepting(self) -> None:
        """Refuse new updates once the run has accepted `updates_per_run`: it can only continue
        as new when no handler runs, and with several annotators busy one always is, until the
        server refuses the run's updates altogether. The count lives in the run's own state (the
        server's continue-as-new suggestion can differ between a speculative task, where a
        validator runs, and the next one). Refused updates leave no history; the client retries
        them on the fresh run."""
        if self._rollover_due():
            raise _reject(
                "the annotation loop is rolling over to a fresh run; retry in a moment",
                Rejected.UNAVAILABLE,
            )

    def _refuse_while_stopping(self) -> None:
        """Nothing is taken once `stop` came: refused before it is acknowledged, not lost."""
        if self._stopping:
            raise _reject("the annotation loop is stopping", Rejected.FAILED_PRECONDITION)

    @workflow.query
    def report(self) -> AnnotationReport:
        return AnnotationReport(
            items=self._items,
            open_tasks=len(self._tasks),
            gold=self._gold,
            dropped=self._dropped,
            batches=self._batches,
            exposure=list(self._exposure.values()),
            reply_quality=list(self._quality.values()),
            flags=self._flags,
            shed=self._shed,
        )

    @workflow.query
    def open_tasks(self) -> list[Task]:
        return list(self._tasks.values())

    # --- items and tasks ------------------------------------------------------------------------

    async def _prepare(self, request: ItemRequest | TextItem) -> None:
        if isinstance(request, TextItem):
            if request.item_id in self._seen:
                return
            item = await workflow.execute_activity_method(
                AnnotationActivities.prepare_text,
                TextCall(item=request),
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=DURABLE_RETRY,
            )
            self._add_items([item])
            return
        if request.message_id is not None:
            # A message sampled again (a crisis flag and low confidence, say) needs no second
            # fetch: an open task only gains the reason, a finished one is not annotated twice.
            known = item_id(
                request.tenant_id, request.conversation_id, request.message_id, request.kind
            )
            open_task = self._tasks.get(known)
            if open_task is not None:
                self._merge(open_task, request.sources, request.crisis, request.candidate_labels)
                return
            if known in self._seen:
                self._merge_late(known, request.sources, request.candidate_labels)
                return
        prepared = await workflow.execute_activity_method(
            AnnotationActivities.prepare_items,
            PrepareCall(request=request, tone_audit_fraction=self._policy.tone_audit_fraction),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=DURABLE_RETRY,
        )
        if prepared.problem:
            workflow.logger.info("item not annotated: %s", prepared.problem)
        self._add_items(prepared.items)

    def _add_items(self, items: Iterable[PreparedItem]) -> None:
        for item in items:
            open_task = self._tasks.get(item.item_id)
            if open_task is not None:
                self._merge(open_task, item.sources, item.crisis, item.candidate_labels)
                continue
            if item.item_id in self._seen:
                self._merge_late(item.item_id, item.sources, item.candidate_labels)
                continue
            able = len([a for a in self._policy.annotators if self._may_label(item, a.id)])
            task = Task(
                task_id=item.item_id,
                item=item,
                required=min(self._policy.overlap, max(able, 1)),
                created_at=workflow.now(),
            )
            if able and not self._room_for(task):
                continue
            self._remember_seen(item.item_id)
            self._items += 1
            if able == 0:
                workflow.logger.warning(
                    "no annotator has the skill and language for %s; dropped", item.item_id
                )
                self._dropped += 1
                continue
            self._tasks[item.item_id] = task

    # --- the backlog's budget -------------------------------------------------------------------

    def _task_bytes(self, task: Task) -> int:
        cached = self._sizes.get(task.task_id)
        if cached is not None and cached[0] is task:
            return cached[1]
        size = json_bytes(task)
        self._sizes[task.task_id] = (task, size)
        return size

    def _backlog(self) -> int:
        """The open work held, in serialized bytes: open tasks and labelled items waiting for
        their batch (or their adjudication's result), as a continue-as-new would carry them."""
        held = [*self._tasks.values(), *self._labelled, *self._resolved_later]
        if len(self._sizes) > 2 * len(held) + 100:
            ids = {task.task_id for task in held}
            self._sizes = {k: v for k, v in self._sizes.items() if k in ids}
        return sum(self._task_bytes(task) for task in held)

    def _room_for(self, task: Task) -> bool:
        """Whether the new task fits in the backlog's budget. One that does not is shed (counted
        and logged), unless it is a crisis item and giving up the newest untouched non-crisis
        tasks (no labels, nobody holding or having flagged them) makes room: those are shed
        instead, and may be sampled again."""
        size = self._task_bytes(task)
        backlog = self._backlog()
        budget = self._backlog_budget
        if backlog + size <= budget or not workflow.patched(BACKLOG_PATCH):
            return True
        given_up: list[Task] = []
        if task.item.crisis:
            freed = 0
            for held in reversed(list(self._tasks.values())):
                if backlog + size - freed <= budget:
                    break
                if self._untouched(held):
                    given_up.append(held)
                    freed += self._task_bytes(held)
            if backlog + size - freed > budget:
                given_up = []
        if not given_up:
            self._shed += 1
            workflow.logger.warning(
                "backlog full (%d of %d bytes held, %d more needed): %s shed, not taken",
                backlog,
                budget,
                size,
                task.task_id,
            )
            return False
        for held in given_up:
            del self._tasks[held.task_id]
            self._seen.pop(held.task_id, None)
            self._shed += 1
            workflow.logger.warning(
                "backlog full: %s shed to make room for crisis item %s", held.task_id, task.task_id
            )
        return True

    @staticmethod
    def _untouched(task: Task) -> bool:
        """An open label task no annotator has begun: nothing of anyone's would be lost."""
        return (
            task.kind is TaskKind.LABEL
            and not task.item.crisis
            and not (task.labels or task.assigned or task.flagged or task.revealed)
        )

    def _carried_pending(self) -> list[ItemRequest | TextItem]:
        """Submissions not prepared yet, as the next run takes them: those that fit in what the
        backlog's budget leaves, crisis ones first, the rest (the newest) shed."""
        room = self._backlog_budget - self._backlog()
        sizes = [json_bytes(p) for p in self._pending]
        order = sorted(range(len(self._pending)), key=lambda i: not self._pending[i].crisis)
        kept: set[int] = set()
        for index in order:
            if sizes[index] <= room:
                kept.add(index)
                room -= sizes[index]
        if len(kept) == len(self._pending) or not workflow.patched(BACKLOG_PATCH):
            return list(self._pending)
        shed = len(self._pending) - len(kept)
        self._shed += shed
        workflow.logger.warning(
            "backlog full: %d submission(s) not prepared yet shed as the loop continues as new",
            shed,
        )
        return [p for i, p in enumerate(self._pending) if i in kept]

    def _next_input(self) -> AnnotationInput:
        """The continue-as-new input: within `INPUT_BYTES_MAX`, or the recent-history memories
        (seen items, finished tasks, work, skips, flags) lose their oldest halves until it is."""
        params = AnnotationInput(
            policy=self._policy,
            carry=self._carry(),
            updates_per_run=self._updates_per_run,
            backlog_bytes=self._backlog_budget,
        )
        size = json_bytes(params)
        if size <= INPUT_BYTES_MAX or not workflow.patched(BACKLOG_PATCH):
            return params
        trimmed = within_input_limit(params)
        workflow.logger.warning(
            "continue-as-new input of %d bytes over %d: the oldest recent-history entries let go "
            "(%d bytes now)",
            size,
            INPUT_BYTES_MAX,
            json_bytes(trimmed),
        )
        return trimmed

    def _merge(
        self, task: Task, sources: list[Source], crisis: bool, candidate_labels: list[str]
    ) -> None:
        merged = task.item.model_copy(
            update={
                "sources": list(dict.fromkeys([*task.item.sources, *sources])),
                "crisis": task.item.crisis or crisis,
                "candidate_labels": task.item.candidate_labels or candidate_labels,
            }
        )
        updated = self._replace(task, item=merged)
        if merged.crisis and not task.item.crisis:
            # Crisis items go to the crisis-trained: fewer may be able to take it now.
            self._settle_reachable(updated)

    def _merge_late(self, item_id: str, sources: list[Source], candidate_labels: list[str]) -> None:
        """A specialist's correction of an item already labelled: while its labels wait to be
        measured (or its adjudication to be resolved) it joins the item like an open task's, so
        the gold label's provenance keeps it. Once the gold label is recorded it is not kept:
        the store and the event record an item once."""
        if not candidate_labels:
            return
        for waiting in (self._labelled, self._resolved_later):
            for index, task in enumerate(waiting):
                if task.task_id != item_id:
                    continue
                if task.item.candidate_labels or not workflow.patched(LATE_CORRECTION_PATCH):
                    return
                item = task.item.model_copy(
                    update={
                        "sources": list(dict.fromkeys([*task.item.sources, *sources])),
                        "candidate_labels": candidate_labels,
                    }
                )
                waiting[index] = task.model_copy(update={"item": item})
                return
        workflow.logger.info(
            "a correction of %s came after the item was settled (gold label or dropped); not kept",
            item_id,
        )

    def _settle_reachable(self, task: Task) -> None:
        """A label task asks only for the labels it can still get: its labels so far and the
        eligible annotators who have not labelled or skipped it. Fewer than `required`, it is
        under-overlapped (measured once those have labelled it, at once if they all have); none
        at all, it is dropped. Adjudications have their own rounds (see `skip_task`)."""
        if task.kind is not TaskKind.LABEL or task.task_id not in self._tasks:
            return
        reachable = self._reachable(task)
        if reachable >= task.required or not workflow.patched(REACHABLE_PATCH):
            return
        if reachable == 0:
            workflow.logger.warning(
                "nobody left to label %s (every eligible annotator skipped it); dropped",
                task.task_id,
            )
            self._drop(task)
            return
        workflow.logger.warning(
            "%s is under-overlapped: %d of %d labels can still be had",
            task.task_id,
            reachable,
            task.required,
        )
        lowered = self._replace(task, required=reachable)
        if lowered.labelled:
            del self._tasks[lowered.task_id]
            self._remember(lowered)
            self._labelled.append(lowered)

    def _reachable(self, task: Task) -> int:
        """The labels a label task can still get: its labels so far and the eligible annotators
        (holders included) who have not labelled or skipped it; adjudications count as able."""
        if task.kind is not TaskKind.LABEL:
            return task.required
        able = {a.id for a in self._policy.annotators if self._may_label(task.item, a.id)}
        left = (able | set(task.assigned)) - set(task.labels) - set(task.excluded)
        return len(task.labels) + len(left)

    def _eligible(self, task: Task, annotator: str) -> bool:
        if annotator in task.labels or annotator in task.excluded or task.full:
            return False
        if task.kind is TaskKind.ADJUDICATION:
            return self._may_adjudicate(task, annotator)
        return self._may_label(task.item, annotator)

    def _may_label(self, item: PreparedItem, annotator: str) -> bool:
        """Skill and language; crisis items only for the crisis-skilled, if anyone is."""
        spec = self._policy.annotator(annotator)
        if spec is None:
            return False
        skill = TONE_SKILL if item.kind is ItemKind.TONE else EMOTION_SKILL
        if skill not in spec.skills:
            return False
        crisis_trained = [a for a in self._policy.annotators if CRISIS_SKILL in a.skills]
        if item.crisis and crisis_trained and CRISIS_SKILL not in spec.skills:
            return False
        language = item.language.split("-")[0]
        return any(lang.split("-")[0] == language for lang in spec.languages)

    def _may_adjudicate(self, task: Task, annotator: str) -> bool:
        """One of the task's adjudicators, preferring those who did not label the item."""
        adjudicators = self._adjudicators(task)
        if annotator not in adjudicators:
            return False
        if self._policy.adjudication_by == "supervisor" or annotator not in task.origin:
            return True
        outsiders = [a for a in adjudicators if a not in task.origin]
        if not outsiders:
            return True
        # Those who skipped are not asked again: with every outsider gone, the adjudication would
        # otherwise stay open, offered to nobody, for as many rounds as are left.
        return all(a in task.excluded for a in outsiders) and workflow.patched(
            ADJUDICATION_ROUNDS_PATCH
        )

    def _adjudicators(self, task: Task) -> list[str]:
        """Who may settle the item: the supervisors when the configuration says so (it gives
        them no languages or skills), else the senior annotators who could label it; never
        someone who skipped the item's label task."""
        if self._policy.adjudication_by == "supervisor":
            chosen = list(self._policy.supervisors)
        else:
            seniors = [a.id for a in self._policy.annotators if a.senior]
            able = [a for a in seniors if self._may_label(task.item, a)]
            chosen = able if able != seniors and workflow.patched(ADJUDICATOR_PATCH) else seniors
        declined = self._declined(task, chosen)
        if declined and workflow.patched(SKIPPED_ITEM_PATCH):
            return [a for a in chosen if a not in declined]
        return chosen

    def _declined(self, task: Task, candidates: list[str]) -> set[str]:
        """The candidates who skipped the item's label task (an adjudication keeps its task id).
        Who skipped the adjudication itself is in its `excluded`, or still holds it while
        `skip_task` settles their skip."""
        return {
            a
            for a in candidates
            if a not in task.excluded
            and a not in task.assigned
            and f"{task.task_id}|{a}" in self._skipped
        }

    def _adjudicators_left(self, task: Task) -> int:
        return len([c for c in self._adjudicators(task) if c not in task.excluded])

    def _intense(self, item: PreparedItem) -> bool:
        return item.crisis or item.distress >= self._policy.blur_above_distress

    def _expire_leases(self) -> None:
        lease = timedelta(seconds=self._policy.lease_seconds)
        now = workflow.now()
        for task in list(self._tasks.values()):
            lapsed = {a: at for a, at in task.assigned.items() if now - at > lease}
            if not lapsed:
                continue
            changes: dict[str, Any] = {
                "assigned": {a: t for a, t in task.assigned.items() if a not in lapsed}
            }
            # Remembered so that a senior who labelled the item is not answered `duplicate` for
            # the adjudication they send late (see `_lapsed_adjudication`).
            if task.kind is TaskKind.ADJUDICATION and workflow.patched(LAPSED_ADJUDICATION_PATCH):
                changes["lapsed"] = {**task.lapsed, **lapsed}
            self._replace(task, **changes)

    def _lapsed_adjudication(self, task_id: str, annotator: str) -> Task | None:
        """The open adjudication the annotator held until their lease lapsed, if so."""
        task = self._tasks.get(task_id)
        if (
            task is None
            or task.kind is not TaskKind.ADJUDICATION
            or annotator not in task.lapsed
            or annotator in task.assigned
        ):
            return None
        return task

    def _may_take_back(self, task: Task, annotator: str) -> bool:
        """Whether an adjudicator whose lease lapsed may still settle the task: nobody else holds
        it, and they would be offered it now. Read in a validator, so without `workflow.patched`:
        `_may_adjudicate`'s rules on their newest paths."""
        if task.full or annotator in task.excluded or annotator in task.labels:
            return False
        if self._policy.adjudication_by == "supervisor":
            return annotator in self._policy.supervisors
        seniors = [a.id for a in self._policy.annotators if a.senior]
        able = [a for a in seniors if self._may_label(task.item, a)]
        declined = self._declined(task, able)
        able = [a for a in able if a not in declined]
        if annotator not in able:
            return False
        outsiders = [a for a in able if a not in task.origin]
        return annotator not in task.origin or all(a in task.excluded for a in outsiders)

    def _view(self, task: Task, annotator: str) -> TaskView:
        item = task.item
        policy = self._policy
        warn = policy.content_warnings and self._intense(item)
        blurred = (
            policy.content_warnings
            and item.distress >= policy.blur_above_distress
            and annotator not in task.revealed
        )
        warning = ""
        if warn:
            warning = f"{FLAG_WARNING} (distress {item.distress:.2f})"
            if item.risk_flags:
                warning += f" and was flagged for {', '.join(item.risk_flags)}"
            warning += ". Take a break whenever you need one."
        return TaskView(
            task_id=task.task_id,
            kind=task.kind,
            item_kind=item.kind,
            text="" if blurred else item.text,
            blurred=blurred,
            content_warning=warning,
            labels=list(policy.labels_for(item.kind)),
            prior=task.prior,
            distress=item.distress,
            language=item.language,
            assigned_at=task.assigned.get(annotator, workflow.now()),
        )

    def _owned(self, task_id: str, annotator: str) -> Task:
        task = self._tasks.get(task_id)
        if task is None:
            raise _reject(f"no open task {task_id!r}", Rejected.NOT_FOUND)
        if annotator not in task.assigned:
            raise _reject(
                "this task is not assigned to you (or your assignment lapsed); ask for a new one",
                Rejected.PERMISSION_DENIED,
            )
        return task

    def _earlier_labels(self, task_id: str, annotator: str) -> list[str] | None:
        """The labels the annotator already submitted for `task_id`, if any.

        An adjudication reuses its item's task id, so the labels it settles (`origin`) are
        earlier submissions under that id too, except for the adjudicator holding it: what they
        send now is the adjudication."""
        task = self._tasks.get(task_id)
        if task is None:
            return self._done.get(task_id, {}).get(annotator)
        if annotator in task.labels:
            return task.labels[annotator]
        if task.kind is TaskKind.ADJUDICATION and annotator not in task.assigned:
            return task.origin.get(annotator)
        return None

    def _replace(self, task: Task, **changes: Any) -> Task:
        updated = task.model_copy(update=changes)
        if task.task_id in self._tasks:
            self._tasks[task.task_id] = updated
        return updated

    def _remember(self, task: Task) -> None:
        self._done[task.task_id] = {**self._done.get(task.task_id, {}), **task.labels}
        self._done_distress[task.task_id] = task.item.distress
        while len(self._done) > DONE_KEPT:
            del self._done[next(iter(self._done))]
        while len(self._done_distress) > DONE_KEPT:
            del self._done_distress[next(iter(self._done_distress))]

    def _remember_seen(self, item_id: str) -> None:
        self._seen[item_id] = None
        while len(self._seen) > SEEN_KEPT:
            del self._seen[next(iter(self._seen))]

    def _is_worker(self, worker_id: str) -> bool:
        return self._policy.annotator(worker_id) is not None or (
            self._policy.adjudication_by == "supervisor" and worker_id in self._policy.supervisors
        )

    def _drop(self, task: Task) -> None:
        """Give up on an open task; an adjudication's labellers count against what more than
        half of them chose (none: nobody agreed)."""
        self._tasks.pop(task.task_id, None)
        self._remember(task)
        self._count_agreement(task, majority(task.origin or task.labels))
        self._dropped += 1

    # --- batches, adjudication, gold ------------------------------------------------------------

    def _batch_ready(self) -> bool:
        if self._resolved_later:
            return True
        size = self._policy.batch_size
        return any(len(self._of_kind(kind)) >= size for kind in ItemKind)

    def _unsettled(self) -> bool:
        """Whether labels are in that no gold label, audit or drop has settled yet."""
        return bool(self._labelled or self._resolved_later) or any(
            task.labels or task.kind is TaskKind.ADJUDICATION for task in self._tasks.values()
        )

    async def _settle_for_stop(self) -> None:
        """Nothing acknowledged is lost when the loop stops: every labelled item is measured
        (a part batch too), an open task with some labels is measured with the labels it has
        (under-overlapped, as when the others skip it), and an open adjudication is settled by
        majority, as when nobody is left to adjudicate (no majority: dropped). Tasks nobody
        labelled are abandoned; they stay in the report's `open_tasks`."""
        for task in list(self._tasks.values()):
            if task.kind is TaskKind.LABEL and task.labels:
                workflow.logger.warning(
                    "%s measured as the loop stops with %d of %d labels",
                    task.task_id,
                    len(task.labels),
                    task.required,
                )
                del self._tasks[task.task_id]
                settled = task.model_copy(update={"required": len(task.labels), "assigned": {}})
                self._remember(settled)
                self._labelled.append(settled)
        await self._measure_batches(only_full=False)
        for task in [t for t in self._tasks.values() if t.kind is TaskKind.ADJUDICATION]:
            del self._tasks[task.task_id]
            self._remember(task)
            chosen = majority(task.origin)
            if chosen:
                await self._resolve(task.item, chosen, task, task.alpha, adjudicated=True)
            else:
                self._count_agreement(task, [])
                self._dropped += 1
        await self._announce_gold()

    def _of_kind(self, kind: ItemKind) -> list[Task]:
        return [task for task in self._labelled if task.item.kind is kind]

    async def _measure_batches(self, *, only_full: bool) -> None:
        adjudicated, self._resolved_later = self._resolved_later, []
        for task in adjudicated:
            # No adjudicator's labels: nobody was left to adjudicate it (`_settle_orphaned`).
            chosen = task.labels[next(iter(task.labels))] if task.labels else majority(task.origin)
            await self._resolve(task.item, chosen, task, task.alpha)
        for kind in ItemKind:
            tasks = self._of_kind(kind)
            while tasks and (len(tasks) >= self._policy.batch_size or not only_full):
                batch, tasks = tasks[: self._policy.batch_size], tasks[self._policy.batch_size :]
                taken = {task.task_id for task in batch}
                self._labelled = [t for t in self._labelled if t.task_id not in taken]
                await self._measure(kind, batch)

    async def _measure(self, kind: ItemKind, batch: list[Task]) -> None:
        policy = self._policy
        self._batch += 1
        result = await workflow.execute_activity_method(
            AnnotationActivities.measure_agreement,
            AgreementCall(
                items=[task.labels for task in batch], labels=list(policy.labels_for(kind))
            ),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=DURABLE_RETRY,
        )
        alpha = result.alpha
        agreeing = alpha is None or alpha >= policy.threshold
        gold: list[tuple[Task, list[str]]] = []
        to_adjudicate: list[Task] = []
        for task in batch:
            chosen = majority(task.labels)
            if unanimous(task.labels) or (agreeing and chosen):
                gold.append((task, chosen or list(next(iter(task.labels.values())))))
            else:
                to_adjudicate.append(task)
        # Every labelled item counts for its labellers: against its gold label, or for an item
        # sent to adjudication against what more than half of them chose (none: nobody agreed).
        settled = {task.task_id: labels for task, labels in gold}
        stats: dict[str, list[tuple[bool, float]]] = {}
        for task in batch:
            reference = settled.get(task.task_id) or majority(task.labels)
            for annotator, chosen in task.labels.items():
                agreed = bool(reference) and set(chosen) == set(reference)
                stats.setdefault(annotator, []).append((agreed, task.exposure.get(annotator, 0.0)))
        adjudicated = 0
        for task in to_adjudicate:
            adjudicated += await self._adjudicate(task, alpha)
        report = BatchReport(
            batch=self._batch,
            kind=kind,
            alpha=alpha,
            items=len(batch),
            annotators=len({a for task in batch for a in task.labels}),
            threshold=policy.threshold,
            gold=len(gold),
            adjudicated=adjudicated,
            measured_at=workflow.now(),
            per_annotator=[
                AnnotatorBatchStat(
                    annotator_id=annotator,
                    items=len(rows),
                    agreed=sum(1 for agreed, _ in rows if agreed),
                    mean_exposure_minutes=round(sum(e for _, e in rows) / len(rows), 2),
                )
                for annotator, rows in sorted(stats.items())
            ],
        )
        self._batches = [*self._batches, report][-BATCHES_KEPT:]
        await self._publish(
            [
                self._event(
                    EventType.ANNOTATION_BATCH_MEASURED,
                    f"batch/{self._batch}",
                    policy.deployment,
                    report.model_dump(mode="json", exclude={"measured_at", "per_annotator"}),
                )
            ]
        )
        for task, labels in gold:
            await self._resolve(task.item, labels, task, alpha, adjudicated=False)

    async def _adjudicate(self, task: Task, alpha: float | None) -> int:
        """Settle a disagreement: by majority now, or as a task for a senior or a supervisor."""
        if self._policy.adjudication_by == "majority" or self._adjudicators_left(task) == 0:
            chosen = majority(task.labels)
            if chosen:
                await self._resolve(task.item, chosen, task, alpha, adjudicated=True)
            else:
                self._count_agreement(task, [])
                self._dropped += 1
            return 1
        self._tasks[task.task_id] = Task(
            task_id=task.task_id,
            kind=TaskKind.ADJUDICATION,
            item=task.item,
            required=1,
            prior=votes(task.labels),
            origin=task.labels,
            origin_exposure=task.exposure,
            origin_budget=task.budget,
            alpha=alpha,
            round=1,
            created_at=workflow.now(),
        )
        return 1

    async def _resolve(
        self,
        item: PreparedItem,
        labels: list[str],
        task: Task,
        alpha: float | None,
        *,
        adjudicated: bool = True,
    ) -> None:
        """Record the item's final labels: a gold label, or a tone audit's findings."""
        labellers = task.origin or task.labels
        self._count_agreement(task, labels)
        if item.kind is ItemKind.TONE:
            await self._record_audit(item, labels)
            return
        policy = self._policy
        gold = GoldLabel(
            item_id=item.item_id,
            text=item.text,
            labels=policy.to_model_labels(labels),
            taxonomy=policy.model_taxonomy,
            source=item.sources[0].value if item.sources else "random",
            alpha=alpha,
            adjudicated=adjudicated,
            annotators=sorted(labellers),
            model_version=item.model_version or None,
            created_at=workflow.now(),
            candidate_labels=policy.to_model_labels(item.candidate_labels),
        )
        recorded = await workflow.execute_activity_method(
            AnnotationActivities.record_gold,
            GoldCall(labels=[gold]),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=DURABLE_RETRY,
        )
        if item.item_id not in recorded.recorded:
            return
        self._gold += 1
        self._unannounced += 1
        await self._publish(
            [
                self._event(
                    EventType.ANNOTATION_GOLD_RECORDED,
                    f"gold/{item.item_id}",
                    item.conversation_id or policy.deployment,
                    {
                        "item_id": item.item_id,
                        "message_id": item.message_id,
                        "labels": gold.labels,
                        "annotator_labels": labels,
                        "taxonomy": gold.taxonomy,
                        "sources": [source.value for source in item.sources],
                        "alpha": alpha,
                        "adjudicated": adjudicated,
                        "annotators": len(labellers),
                        "model_version": item.model_version,
                        "candidate_labels": item.candidate_labels,
                    },
                    tenant=item.tenant_id,
                )
            ]
        )

    def _count_agreement(self, task: Task, final: list[str]) -> None:
        """Agreement against exposure: each labeller's item, agreed when their labels equal the
        item's final labels (none for an item dropped without a majority: nobody agreed)."""
        labellers = task.origin or task.labels
        exposure = task.origin_exposure or task.exposure
        budget = task.origin_budget or task.budget
        for annotator, chosen in labellers.items():
            band = exposure_band(exposure.get(annotator, 0.0), budget.get(annotator) or None)
            key = (annotator, band.value)
            stat = self._exposure.get(key) or ExposureStat(
                annotator_id=annotator, band=band, items=0, agreed=0
            )
            agreed = bool(final) and set(chosen) == set(final)
            self._exposure[key] = stat.model_copy(
                update={"items": stat.items + 1, "agreed": stat.agreed + (1 if agreed else 0)}
            )

    async def _announce_gold(self) -> None:
        """Tell the retraining workflow how many gold labels this pass recorded (one signal per
        pass, not per label). A failure only delays retraining until its periodic check."""
        count, self._unannounced = self._unannounced, 0
        if count == 0 or not workflow.patched(RETRAINING_PATCH):
            return
        try:
            await workflow.execute_activity_method(
                AnnotationActivities.notify_retraining,
                GoldNotice(taxonomy=self._policy.model_taxonomy, count=count),
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=NOTIFY_RETRY,
            )
        except ActivityError as error:
            workflow.logger.warning(
                "retraining not told of %d gold label(s): %s; it counts them at its next check",
                count,
                error.cause or error,
            )

    async def _record_audit(self, item: PreparedItem, labels: list[str]) -> None:
        findings = [label for label in labels if label != "appropriate"]
        version = item.model_version or "unknown"
        quality = self._quality.get(version) or ReplyQuality(
            model_version=version, audited=0, appropriate=0
        )
        counts = dict(quality.findings)
        for finding in findings:
            counts[finding] = counts.get(finding, 0) + 1
        self._quality[version] = quality.model_copy(
            update={
                "audited": quality.audited + 1,
                "appropriate": quality.appropriate + (0 if findings else 1),
                "findings": counts,
            }
        )
        await self._publish(
            [
                self._event(
                    EventType.ANNOTATION_REPLY_AUDITED,
                    f"audit/{item.item_id}",
                    item.conversation_id or self._policy.deployment,
                    {
                        "item_id": item.item_id,
                        "message_id": item.message_id,
                        "model_version": version,
                        "findings": findings or ["appropriate"],
                        "appropriate": not findings,
                    },
                    tenant=item.tenant_id,
                )
            ]
        )

    # --- events and carry -----------------------------------------------------------------------

    def _event(
        self,
        event_type: EventType,
        step: str,
        subject: str,
        data: dict[str, Any],
        *,
        tenant: str = "",
    ) -> DomainEvent:
        tenant = tenant or (self._policy.tenants[0] if self._policy.tenants else "default")
        return DomainEvent(
            id=event_id(execution_scope(), step),
            type=event_type,
            source=f"/warmline/tenants/{tenant}",
            subject=subject,
            time=workflow.now(),
            data=data,
        )

    async def _publish(self, events: list[DomainEvent]) -> None:
        await workflow.execute_activity_method(
            EventActivities.publish_events,
            EventBatch(events=events),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=DURABLE_RETRY,
        )

    def _carry(self) -> AnnotationCarry:
        pending = self._carried_pending() if self._pending else []
        return AnnotationCarry(
            tasks=list(self._tasks.values()),
            labelled=[*self._labelled, *self._resolved_later],
            seen=list(self._seen),
            done=self._done,
            done_distress=self._done_distress,
            batch=self._batch,
            gold=self._gold,
            dropped=self._dropped,
            flags=self._flags,
            items=self._items,
            batches=self._batches,
            exposure=list(self._exposure.values()),
            reply_quality=list(self._quality.values()),
            flagged=list(self._flagged_keys)[-DONE_KEPT:],
            pending_items=[p for p in pending if isinstance(p, ItemRequest)],
            pending_texts=[p for p in pending if isinstance(p, TextItem)],
            worked=list(self._worked.values()),
            skipped=list(self._skipped),
            shed=self._shed,
        )


def within_input_limit(params: AnnotationInput, limit: int = INPUT_BYTES_MAX) -> AnnotationInput:
    """`params` with the oldest half of each recent-history memory of its carry (seen item ids,
    finished tasks and their distress, work sent to wellness, skips, flags) let go, again until
    the input is within `limit` bytes or they are empty. They only recognise late repeats; the
    open work (within the backlog's budget), the reports and the counts are kept whole."""
    carry = params.carry
    while carry is not None and json_bytes(params) > limit:
        memories = (carry.seen, carry.flagged, carry.worked, carry.skipped, carry.done)
        if not any(memories) and not carry.done_distress:
            break
        carry = carry.model_copy(
            update={
                "seen": _newer_half(carry.seen),
                "flagged": _newer_half(carry.flagged),
                "worked": _newer_half(carry.worked),
                "skipped": _newer_half(carry.skipped),
                "done": dict(_newer_half(list(carry.done.items()))),
                "done_distress": dict(_newer_half(list(carry.done_distress.items()))),
            }
        )
        params = params.model_copy(update={"carry": carry})
    return params


def _newer_half(entries: list[_T]) -> list[_T]:
    """The newer half of `entries` (oldest first); none of one."""
    return entries[(len(entries) + 1) // 2 :]
