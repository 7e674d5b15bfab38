"""WellnessWorkflow: one per worker, the durable record of their exposure, breaks and check-ins.

It counts intensity-weighted minutes of work (signals from the exposure tracker and the annotation
workflow), follows the worker's shifts and availability (signals from the bridge and the APIs; an
annotator's own availability call is an update), and applies the policy's rules
(`warmline.wellness.policy`): breaks, the consecutive-crisis cap, check-ins and their nudges,
rotation off intense queues. The policy is the one it started with, or the one a starting
`warmline worker` last handed it (`set_policy`). After every change it rewrites the worker's
Redis view, which routing reads, and publishes the wellness events. One timer runs at a time:
until the next thing due.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

from workflows.scope import execution_scope

with workflow.unsafe.imports_passed_through():
    from activities.wellness import WellnessActivities, WellnessSync
    from warmline.escalation import Rejection
    from warmline.events import DomainEvent, event_id
    from warmline.wellness.policy import (
        ExposureRecord,
        NotOnBreakError,
        Outgoing,
        Shift,
        Wellness,
        WellnessPolicy,
        WellnessState,
    )
    from warmline.wellness.types import (
        AVAILABILITY_SIGNAL,
        RECORD_EXPOSURE_SIGNAL,
        SHIFT_SIGNAL,
        Availability,
        BreakRequest,
        CheckInHistory,
        CheckInRequest,
        EndBreakRequest,
        WellnessInput,
    )
    from warmline.wellness.view import WorkerWellness

SYNC_TIMEOUT = timedelta(seconds=30)
# The view and the events must reach Redis and Kafka: retry until they do.
SYNC_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
)
CONTINUE_AS_NEW_AFTER = 1_000
"""Changes per run (signals, updates, timers)."""
SET_POLICY_PATCH = "wellness-set-policy"
"""Guards the `set_policy` handler: a worker from before it left the signal unhandled (one may
still poll the task queue while a new one starts and sends it), so its history replays that way."""
A_RETRY_IS_APPLIED_ONCE = "a-retried-check-in-or-break-now-is-applied-once"
"""Patch marker: a worker's `submit_checkin` or `break_now` sent again within `RETRY_WINDOW` (a
client's retry after a lost answer: the same mood, note and break request with no check-in asked
since; the same break length while that break runs) is answered with the state as it is, once the
view is written, and applied once. Before, the retry recorded a second check-in and
`checkin.submitted`, and restarted the break from its own moment: the break lengthened by the
retry's delay and a second `break.started` went out."""
HR_SHIFT_REPLACES_STAND_IN = "an-hr-shift-replaces-the-stand-in-shift-running-at-its-start"
"""Patch marker: an HR shift that falls due while a stand-in shift runs (one the workflow started
when the worker became available or worked with no shift known) takes its place at once
(`Wellness._replace_stand_in`). Before, it waited for the stand-in's end, up to a whole
`shift_length`, and then started afresh: the worker got a second budget for one day's work."""
SHIFT_SENT_AGAIN_CARRIES_ON = "a-shift-sent-again-after-it-ended-carries-on"
"""Patch marker: the shift that ran last, sent again after it ended while its bounds still run
(the worker went unavailable and HR re-sent the day's schedule, or HR extended it), carries on
with what it counted. Before, it started again: exposure, budget and counters reset, and the
shift's start and cadence dated from its original start."""
MANDATORY_BREAK_OUTLASTS_UNAVAILABILITY = "a-mandatory-break-outlasts-the-worker-going-unavailable"
"""Patch marker: a break after a crisis or intense work keeps its end when the worker goes
unavailable (which ends the shift). Before, it ended with the shift, so going unavailable and
available again cut short a break `EndBreak` refuses to end."""
MISSED_CHECKIN_LAPSES_AT_A_NEW_SHIFT = "a-missed-check-in-lapses-when-a-new-shift-starts"
"""Patch marker: a check-in still open when a new shift starts, its nudges over (the worker and
the wellness leads were told), lapses: it stays missed in the shift that asked it. Before, it
stayed open, and every check-in of the new shift (cadence, after a crisis, end of shift) folded
into it: after one missed end-of-shift check-in the worker was asked nothing, and nobody was
nudged, until they checked in unasked."""
MANDATORY_BREAK_OUTLASTS_THE_SHIFT = "a-mandatory-break-outlasts-the-shift-s-end"
"""Patch marker: a break after a crisis or intense work running when the shift reaches its end
keeps its end. Before, the shift's end ended it, and a worker still taking work (the roster's
availability is theirs, not the shift's) was offered some minutes after a crisis."""
LATE_WORK_COUNTS_IN_ITS_SHIFT = "work-begun-in-a-shift-counts-in-it-after-its-end"
"""Patch marker: work recorded after the shift that ran last ended, but begun by its end (a
conversation finished after the shift, since exposure is recorded when work ends), counts in that
shift. Before, it opened a stand-in shift of `shift_length` from that moment: a second budget
for the day, and check-ins asked through the night, the wellness leads nudged when missed."""
VIEW_WRITES_ARE_VERSIONED = "a-late-view-write-never-replaces-a-newer-one"
"""Patch marker: every view the sync writes carries a `version` above the last (microseconds of
workflow time, at least one more than the last; carried over when the workflow continues as
new), and the store drops a view older than the one it holds. Before, a sync attempt that timed
out but wrote later replaced the newer view of the sync after it: routing read an old state."""


@workflow.defn
class WellnessWorkflow:
    @workflow.init
    def __init__(self, params: WellnessInput) -> None:
        self._params = params
        self._policy = params.policy
        """The policy in force: the input's, until `set_policy` hands over another."""
        state = params.state or WellnessState(worker_id=params.worker_id, kind=params.kind)
        self._wellness = Wellness(
            state,
            params.policy,
            hr_shift_replaces_stand_in=lambda: workflow.patched(HR_SHIFT_REPLACES_STAND_IN),
            shift_sent_again_carries_on=lambda: workflow.patched(SHIFT_SENT_AGAIN_CARRIES_ON),
            mandatory_break_outlasts_unavailability=lambda: workflow.patched(
                MANDATORY_BREAK_OUTLASTS_UNAVAILABILITY
            ),
            missed_checkin_lapses_at_a_new_shift=lambda: workflow.patched(
                MISSED_CHECKIN_LAPSES_AT_A_NEW_SHIFT
            ),
            mandatory_break_outlasts_the_shift=lambda: workflow.patched(
                MANDATORY_BREAK_OUTLASTS_THE_SHIFT
            ),
            late_work_counts_in_its_shift=lambda: workflow.patched(LATE_WORK_COUNTS_IN_ITS_SHIFT),
        )
        self._changes = 1
        """Grows with every change; the view is written up to `_synced`."""
        self._synced = 0
        self._operations = 0
        self._view_version = params.view_version
        """The version of the last view sent to Redis (`VIEW_WRITES_ARE_VERSIONED`)."""
        self._available = params.available
        """The last word on availability; kept here, beside the policy's state, and shown in the
        view (the annotation loop reads it before it hands out a task). It schedules no command,
        so histories from before it replay unpatched."""
        now = workflow.now()
        for shift in params.shifts:
            self._wellness.schedule(shift, now)

    @workflow.run
    async def run(self, params: WellnessInput) -> None:
        while True:
            now = workflow.now()
            self._wellness.advance(now)
            if self._synced < self._changes or self._wellness.outbox:
                await self._sync()
                continue
            if self._operations >= (params.continue_as_new_after or CONTINUE_AS_NEW_AFTER) or (
                workflow.info().is_continue_as_new_suggested()
            ):
                break
            wake = self._wellness.next_wake()
            timeout = None if wake is None else max(wake - now, timedelta(milliseconds=1))
            try:
                await workflow.wait_condition(lambda: self._synced < self._changes, timeout=timeout)
            except TimeoutError:
                self._changed()
        # An update still waiting for its change to reach Redis needs one more sync.
        while True:
            await workflow.wait_condition(
                lambda: workflow.all_handlers_finished() or self._synced < self._changes
            )
            if self._synced < self._changes or self._wellness.outbox:
                await self._sync()
            elif workflow.all_handlers_finished():
                break
        workflow.continue_as_new(
            WellnessInput(
                deployment=params.deployment,
                worker_id=params.worker_id,
                kind=params.kind,
                policy=self._policy,
                state=self._wellness.state,
                continue_as_new_after=params.continue_as_new_after,
                available=self._available,
                view_version=self._view_version,
            )
        )

    # --- signals: work, shifts, availability ---------------------------------------------------

    @workflow.signal(name=RECORD_EXPOSURE_SIGNAL)
    def record_exposure(self, record: ExposureRecord) -> None:
        """A conversation handled or an annotation task done; a record id counts once."""
        if self._wellness.record(record, workflow.now()):
            self._changed()

    @workflow.signal(name=SHIFT_SIGNAL)
    def shift_scheduled(self, shift: Shift) -> None:
        self._wellness.schedule(shift, workflow.now())
        self._changed()

    @workflow.signal(name=AVAILABILITY_SIGNAL)
    def availability(self, request: Availability) -> None:
        self._set_available(request.available)
        self._changed()

    @workflow.signal
    def set_policy(self, policy: WellnessPolicy) -> None:
        """The configuration's `wellness` section as a (re)started `warmline worker` reads it. It
        applies from now on (`Wellness.adopt`: a running break keeps its end, check-ins keep
        their mood) and is the one carried over when the workflow continues as new."""
        if policy == self._policy:
            # Every worker start sends it: the same policy again adds nothing to the history.
            return
        if not workflow.patched(SET_POLICY_PATCH):
            return
        self._policy = policy
        self._wellness.adopt(policy, workflow.now())
        self._changed()

    # --- updates: the worker's own actions -----------------------------------------------------

    @workflow.update
    async def submit_checkin(self, request: CheckInRequest) -> WorkerWellness:
        """A check-in answer; with `break_now` the break starts at once. Returns once routing
        sees the new state."""
        now = workflow.now()
        if self._wellness.repeats_checkin(
            request.mood, request.note, request.break_now, now
        ) and workflow.patched(A_RETRY_IS_APPLIED_ONCE):
            return await self._view_once_synced()  # the client's retry: checked in already
        self._wellness.submit_checkin(request.mood, request.note, now, break_now=request.break_now)
        if request.break_now:
            self._wellness.break_now(None, now)
        return await self._changed_and_synced()

    @submit_checkin.validator
    def _validate_checkin(self, request: CheckInRequest) -> None:
        policy = self._policy
        if not policy.scale_min <= request.mood <= policy.scale_max:
            raise ApplicationError(
                f"mood must be between {policy.scale_min} and {policy.scale_max}",
                type=Rejection.INVALID_ARGUMENT,
                non_retryable=True,
            )

    @workflow.update
    async def break_now(self, request: BreakRequest) -> WorkerWellness:
        """ "I need a break now": no new offers once this returns; current work continues."""
        now = workflow.now()
        if self._wellness.repeats_break(request.minutes, now) and workflow.patched(
            A_RETRY_IS_APPLIED_ONCE
        ):
            return await self._view_once_synced()  # the client's retry: on that break already
        self._wellness.break_now(request.minutes, now)
        return await self._changed_and_synced()

    @workflow.update
    async def end_break(self, request: EndBreakRequest) -> WorkerWellness:
        """Ends a break the worker asked for; a mandatory break runs its course."""
        self._wellness.end_break(workflow.now())
        return await self._changed_and_synced()

    @end_break.validator
    def _validate_end_break(self, request: EndBreakRequest) -> None:
        try:
            Wellness(self._wellness.state, self._policy).end_break(workflow.now())
        except NotOnBreakError as error:
            raise ApplicationError(
                str(error), type=Rejection.FAILED_PRECONDITION, non_retryable=True
            ) from None

    @workflow.update
    async def set_availability(self, request: Availability) -> WorkerWellness:
        """The `availability` signal for a worker who wants to know once assignment sees it."""
        self._set_available(request.available)
        return await self._changed_and_synced()

    @workflow.update
    async def record_work(self, record: ExposureRecord) -> WorkerWellness:
        """`record_exposure` for callers that want the resulting state once routing sees it."""
        self._wellness.record(record, workflow.now())
        return await self._changed_and_synced()

    # --- queries ---------------------------------------------------------------------------

    @workflow.query
    def view(self) -> WorkerWellness:
        return self._view()

    @workflow.query
    def state(self) -> WellnessState:
        return self._wellness.state

    @workflow.query
    def checkins(self) -> CheckInHistory:
        """Notes included: the API shows them to the worker, and to a lead only by policy."""
        return CheckInHistory(
            worker_id=self._params.worker_id, checkins=self._wellness.state.checkins
        )

    # --- plumbing --------------------------------------------------------------------------

    def _set_available(self, available: bool) -> None:
        self._wellness.availability(available, workflow.now())
        self._available = available

    def _view(self) -> WorkerWellness:
        view = self._wellness.state.view(self._policy, workflow.now())
        return view.model_copy(update={"available": self._available})

    def _changed(self) -> None:
        self._changes += 1
        self._operations += 1

    async def _changed_and_synced(self) -> WorkerWellness:
        self._changed()
        target = self._changes
        await workflow.wait_condition(lambda: self._synced >= target)
        return self._view()

    async def _view_once_synced(self) -> WorkerWellness:
        """The view once every change so far is written (a retry's first may still be on its
        way to Redis), changing nothing."""
        target = self._changes
        await workflow.wait_condition(lambda: self._synced >= target)
        return self._view()

    async def _sync(self) -> None:
        target = self._changes
        outgoing, self._wellness.outbox = self._wellness.outbox, []
        view = self._view()
        if workflow.patched(VIEW_WRITES_ARE_VERSIONED):
            now = workflow.now()
            self._view_version = max(self._view_version + 1, now_micros(now))
            view = view.model_copy(update={"version": self._view_version})
        await workflow.execute_activity_method(
            WellnessActivities.sync,
            WellnessSync(view=view, events=[self._event(item) for item in outgoing]),
            start_to_close_timeout=SYNC_TIMEOUT,
            retry_policy=SYNC_RETRY,
        )
        self._synced = max(self._synced, target)

    def _event(self, item: Outgoing) -> DomainEvent:
        params = self._params
        return DomainEvent(
            id=event_id(execution_scope(), item.step),
            type=item.type,
            source=f"/warmline/wellness/{params.deployment}",
            subject=params.worker_id,
            time=item.at,
            data=item.data,
        )


def now_micros(moment: datetime) -> int:
    """Microseconds since the epoch: a view version that a workflow started later, for the same
    worker (after one was terminated), begins above."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
