"""The wellness rules as pure, deterministic code: exposure, breaks, check-ins and rotation.

`WellnessWorkflow` keeps one `WellnessState` per worker and calls these functions with
`workflow.now()`; they change the state and return the events to publish. Nothing here does I/O or
reads a clock, so the same code runs inside the workflow, in property-based tests and in the
benchmark. Every model crosses a Temporal boundary: new fields must be optional.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from warmline.errors import WarmlineError
from warmline.events.types import EventType
from warmline.wellness.view import WorkerWellness

RECENT_CHECKINS = 20
"""Check-ins (with their notes) the workflow keeps for the worker to read back."""
MAX_NOTE_CHARACTERS = 2_000
RETRY_WINDOW = timedelta(minutes=5)
"""A worker's identical check-in or "I need a break now" this soon after the first is a client's
retry after a lost answer: answered with the state as it is, applied once."""
STAND_IN_PREFIX = "available-"
"""The id of a stand-in shift: one the workflow starts itself, of `shift_length`, when the worker
becomes available or works with no shift known (`available-<n>`)."""


class NotOnBreakError(WarmlineError):
    """The worker asked to end a break they are not on, or one they may not cut short."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class WorkerKind(StrEnum):
    SPECIALIST = "specialist"
    ANNOTATOR = "annotator"


class BreakReason(StrEnum):
    AFTER_CRISIS = "after_crisis"
    AFTER_INTENSE = "after_intense"
    REQUESTED = "requested"
    """The worker's own "I need a break now"."""


class WellnessPolicy(_Model):
    """The configuration's `wellness` section, snapshotted when a worker's workflow starts; a
    worker process that starts with a changed one hands it to the running workflows
    (`set_policy`), which carry it on when they continue as new."""

    elevated_at: float = 0.4
    high_at: float = 0.7
    weight_calm: float = 0.5
    weight_elevated: float = 1.0
    weight_high: float = 2.0
    weight_crisis: float = 3.0
    weight_hostile: float = 1.5
    budget_per_shift: timedelta = timedelta(hours=4)
    shift_length: timedelta = timedelta(hours=8)
    budget_pro_rata: bool = False
    """The budget is for a shift of `shift_length`; a shift of another length gets its share.
    False in policies snapshotted before the option existed, so their histories replay as
    recorded; the configuration's default is True."""
    break_after_crisis: timedelta = timedelta(minutes=15)
    break_after_intense: timedelta = timedelta(minutes=90)
    """A break is due once this much intense weighted time accumulated since the last break."""
    break_duration: timedelta = timedelta(minutes=10)
    max_consecutive_crisis: int = 2
    checkin_cadence: timedelta = timedelta(hours=2)
    checkin_triggers: list[str] = Field(default_factory=lambda: ["after_crisis", "end_of_shift"])
    scale_min: int = 1
    scale_max: int = 5
    note_visibility: Literal["worker_only", "wellness_lead"] = "worker_only"
    checkin_nudge_after: timedelta = timedelta(minutes=15)
    """An unanswered check-in nudges the worker after this long, and the wellness leads after
    twice that. Policies snapshotted before it was configurable used 15 minutes."""
    rotate_at_budget: float = 1.0
    """Share of the budget at which a worker leaves intense queues."""
    rotation_cooldown: timedelta = timedelta(minutes=45)
    intense_queues: list[str] = Field(default_factory=list)
    wellness_leads: list[str] = Field(default_factory=list)
    """Supervisors with `wellness_lead: true`: a check-in nudge that goes to the leads names
    them."""

    @property
    def budget_minutes(self) -> float:
        """The budget of a shift of `shift_length`."""
        return self.budget_per_shift.total_seconds() / 60

    @property
    def budget_pace(self) -> float:
        """Weighted minutes per minute of shift that spend the budget exactly over a shift."""
        return self.budget_per_shift / self.shift_length

    def budget_for(self, shift: Shift | None) -> float:
        """This shift's budget in weighted minutes: pro rata to its length when so configured
        (a 4-hour shift gets half an 8-hour one's), else the same for every shift."""
        if not self.budget_pro_rata or shift is None or shift.ends_at <= shift.starts_at:
            return self.budget_minutes
        return round(
            self.budget_minutes * ((shift.ends_at - shift.starts_at) / self.shift_length), 3
        )


class ExposureRecord(_Model):
    """Work that exposed a worker: one handled conversation or one annotation task."""

    record_id: str
    """Unique per piece of work (the event id or task id): a record sent twice counts once."""
    kind: Literal["conversation", "annotation"] = "conversation"
    minutes: float = Field(ge=0.0, le=24 * 60)
    """Minutes of work, before weighting."""
    distress: float | None = Field(default=None, ge=0.0, le=1.0)
    """The highest distress triage read in the work; None when unknown (counts as calm)."""
    crisis: bool = False
    hostile: bool = False
    queue: str | None = None
    intense: bool | None = None
    """Whether it counts as intense work; None: from the queue (or a crisis, or high distress)."""
    intensity: float | None = Field(default=None, ge=0.0)
    """An explicit weight (e.g. from the annotation item's content warning) overriding bands."""


class Shift(_Model):
    shift_id: str
    starts_at: datetime
    ends_at: datetime
    queues: list[str] = Field(default_factory=list)

    @property
    def stand_in(self) -> bool:
        """Started by the workflow for want of a known shift, not scheduled by HR."""
        return self.shift_id.startswith(STAND_IN_PREFIX)


class CheckIn(_Model):
    """A worker's answer. The note stays in the workflow: it never reaches Redis or Kafka."""

    at: datetime
    mood: int
    note: str = ""
    reason: str = ""
    break_now: bool = False
    """The answer asked for a break at once; False in check-ins kept before it was recorded."""
    shared_with_lead: bool | None = None
    """Whether the policy the worker answered under let a wellness lead read it
    (`note_visibility: wellness_lead`): a later policy never opens a note the worker wrote as
    their own. None in check-ins kept before it was recorded (the policy in force decides)."""


class RequestedBreak(_Model):
    """The worker's last "I need a break now" (on its own or with a check-in), kept while the
    break runs so that the same request again soon after is known as a retry."""

    at: datetime
    minutes: float | None = None
    """As asked: None for the policy's `breaks.duration`."""


class PendingCheckIn(_Model):
    reason: str
    requested_at: datetime
    nudges: int = 0
    """0: asked; 1: the worker was nudged; 2: the wellness lead was told."""


class Outgoing(_Model):
    """An event the workflow will publish: the step makes its id deterministic."""

    type: EventType
    step: str
    data: dict[str, object]
    at: datetime
    """When it happened: for a timer's work, the moment it fell due (not when the timer fired)."""


class WellnessState(_Model):
    """Everything a worker's workflow knows; carried over when it continues as new."""

    worker_id: str
    kind: WorkerKind = WorkerKind.SPECIALIST
    shift: Shift | None = None
    """The current shift; None between shifts."""
    upcoming: list[Shift] = Field(default_factory=list)
    shift_number: int = 0
    last_shift_id: str | None = None
    """The id of the shift started last, running or ended; None in states kept before it was
    recorded."""
    ended_shift: Shift | None = None
    """The shift that ran last, once it has ended (as scheduled); None before any ended, and in
    states kept before it was recorded."""
    shift_ended_at: datetime | None = None
    """When `ended_shift` ended: its end, or the worker going unavailable."""
    exposure_minutes: float = 0.0
    exposure_by_queue: dict[str, float] = Field(default_factory=dict)
    intense_since_break: float = 0.0
    consecutive_crisis: int = 0
    crisis_blocked: bool = False
    break_reason: str | None = None
    break_until: datetime | None = None
    breaks_taken: int = 0
    requested_break: RequestedBreak | None = None
    """The worker's last break request while the break runs (None once it ends)."""
    break_ended_by_worker_at: datetime | None = None
    """When the worker last ended their own break (None once another starts): a second
    `end_break` soon after is told so."""
    over_budget: bool = False
    budget_breaches: int = 0
    budget_80_asked: bool = False
    rotated: bool = False
    """Rotated off intense queues in this shift already (once per shift)."""
    rotation_until: datetime | None = None
    next_checkin_at: datetime | None = None
    pending: PendingCheckIn | None = None
    checkins_requested: int = 0
    checkins_submitted: int = 0
    checkins_answered: int = 0
    """Submissions that answered a request (the rest were the worker's own, unasked)."""
    checkins: list[CheckIn] = Field(default_factory=list)
    seen_records: list[str] = Field(default_factory=list)
    """Recent record ids, to count a redelivered record once."""
    steps: int = 0
    """Grows with every change; event ids and the view's order derive from it."""

    def view(self, policy: WellnessPolicy, now: datetime) -> WorkerWellness:
        """What routing and assignment read from Redis (no notes, no moods)."""
        return WorkerWellness(
            worker_id=self.worker_id,
            exposure_minutes=round(self.exposure_minutes, 3),
            budget_minutes=policy.budget_for(self.shift or self.ended_shift),
            budget_pace=round(policy.budget_pace, 6),
            shift_ends_at=self.shift.ends_at if self.shift is not None else None,
            on_break=self.break_until is not None,
            break_until=self.break_until,
            over_budget=self.over_budget,
            rotated_off_intense=self.rotation_until is not None,
            rotation_until=self.rotation_until,
            consecutive_crisis=self.consecutive_crisis,
            crisis_blocked=self.crisis_blocked,
            updated_at=now,
            kind=self.kind.value,
            in_shift=self.shift is not None,
            exposure_by_queue={q: round(m, 3) for q, m in self.exposure_by_queue.items()},
            breaks_taken=self.breaks_taken,
            budget_breaches=self.budget_breaches,
            checkins_requested=self.checkins_requested,
            checkins_submitted=self.checkins_submitted,
            checkins_answered=self.checkins_answered,
            checkin_pending=self.pending is not None,
        )


def weight_of(record: ExposureRecord, policy: WellnessPolicy) -> float:
    """The multiplier for one minute of this work."""
    if record.intensity is not None:
        weight = record.intensity
    elif record.crisis:
        weight = policy.weight_crisis
    elif record.distress is not None and record.distress >= policy.high_at:
        weight = policy.weight_high
    elif record.distress is not None and record.distress >= policy.elevated_at:
        weight = policy.weight_elevated
    else:
        weight = policy.weight_calm
    if record.hostile:
        weight *= policy.weight_hostile
    return weight


def is_intense(record: ExposureRecord, policy: WellnessPolicy) -> bool:
    if record.intense is not None:
        return record.intense
    return (
        record.crisis
        or (record.queue is not None and record.queue in policy.intense_queues)
        or (record.distress is not None and record.distress >= policy.high_at)
    )


class Wellness:
    """One worker's state machine: each method changes the state and collects events."""

    def __init__(
        self,
        state: WellnessState,
        policy: WellnessPolicy,
        *,
        hr_shift_replaces_stand_in: Callable[[], bool] = lambda: True,
        shift_sent_again_carries_on: Callable[[], bool] = lambda: True,
        mandatory_break_outlasts_unavailability: Callable[[], bool] = lambda: True,
        missed_checkin_lapses_at_a_new_shift: Callable[[], bool] = lambda: True,
        mandatory_break_outlasts_the_shift: Callable[[], bool] = lambda: True,
        late_work_counts_in_its_shift: Callable[[], bool] = lambda: True,
    ) -> None:
        self.state = state
        self.policy = policy
        self.outbox: list[Outgoing] = []
        self._moment: datetime | None = None
        self._hr_shift_replaces_stand_in = hr_shift_replaces_stand_in
        """Asked only when an HR shift falls due while a stand-in runs: the workflow answers
        with its patch marker, so histories from before the rule replay as they ran (the HR
        shift waited for the stand-in's end and then started afresh: a second budget)."""
        self._shift_sent_again_carries_on = shift_sent_again_carries_on
        """Asked only when the shift that ran last arrives again after it ended, still running
        by its bounds; the workflow answers with its patch marker (before, it started again
        from scratch: a second budget for the same shift)."""
        self._mandatory_break_outlasts_unavailability = mandatory_break_outlasts_unavailability
        """Asked only when a worker on a break after a crisis or intense work goes unavailable;
        the workflow answers with its patch marker (before, the break ended with the shift, so
        unavailable and available again at once was a break cut short)."""
        self._missed_checkin_lapses_at_a_new_shift = missed_checkin_lapses_at_a_new_shift
        """Asked only when a shift starts with a check-in of an earlier shift still open whose
        nudges are over; the workflow answers with its patch marker (before, it stayed open into
        the new shift, where every check-in folded into it: none asked, none nudged)."""
        self._mandatory_break_outlasts_the_shift = mandatory_break_outlasts_the_shift
        """Asked only when a shift reaches its end during a break after a crisis or intense
        work; the workflow answers with its patch marker (before, the break ended with the
        shift, and a worker still taking work after it was offered some at once)."""
        self._late_work_counts_in_its_shift = late_work_counts_in_its_shift
        """Asked only when work that began before the last shift ended is recorded after it;
        the workflow answers with its patch marker (before, the work opened a stand-in shift:
        a fresh budget, and check-ins asked through the night, the leads nudged when missed)."""

    # --- inputs -----------------------------------------------------------------------------

    def schedule(self, shift: Shift, now: datetime) -> None:
        """A shift from HR: replaces one with the same id; starts at once if it is running."""
        self._at(now)
        current = self.state.shift
        if current is not None and current.shift_id == shift.shift_id:
            self._set(shift=shift)
            return
        upcoming = [s for s in self.state.upcoming if s.shift_id != shift.shift_id]
        if (
            current is None
            and shift.shift_id == self.state.last_shift_id
            and shift.starts_at <= now < shift.ends_at
            and self._shift_sent_again_carries_on()
        ):
            # The shift that ended (the worker went unavailable, or HR now says it runs longer)
            # sent again: it carries on with what it counted, under one budget.
            self._set(
                shift=shift, upcoming=upcoming, next_checkin_at=now + self.policy.checkin_cadence
            )
            return
        if shift.ends_at > now:
            upcoming.append(shift)
        upcoming.sort(key=lambda s: (s.starts_at, s.shift_id))
        self._set(upcoming=upcoming)
        self.advance(now)

    def availability(self, available: bool, now: datetime) -> None:
        """The worker (or HR) says they are (un)available: with no shift known, one starts."""
        self._at(now)
        if available and self.state.shift is None:
            self._start_shift(
                Shift(
                    shift_id=f"{STAND_IN_PREFIX}{self.state.shift_number + 1}",
                    starts_at=now,
                    ends_at=now + self.policy.shift_length,
                ),
                now,
            )
        elif not available and self.state.shift is not None:
            self._end_shift(
                now,
                ends_break=not (
                    self._on_mandatory_break() and self._mandatory_break_outlasts_unavailability()
                ),
            )

    def record(self, record: ExposureRecord, now: datetime) -> bool:
        """Count a piece of work; False if this record was counted already."""
        self._at(now)
        if record.record_id in self.state.seen_records:
            return False
        self._set(seen_records=[*self.state.seen_records[-199:], record.record_id])
        if self.state.shift is None and not self._finishes_the_last_shift(record, now):
            # Work outside any known shift opens one, so exposure is never lost.
            self.availability(True, now)
        policy = self.policy
        weighted = record.minutes * weight_of(record, policy)
        by_queue = dict(self.state.exposure_by_queue)
        queue = record.queue or record.kind
        by_queue[queue] = by_queue.get(queue, 0.0) + weighted
        intense = is_intense(record, policy)
        self._set(
            exposure_minutes=self.state.exposure_minutes + weighted,
            exposure_by_queue=by_queue,
            intense_since_break=self.state.intense_since_break + (weighted if intense else 0.0),
        )
        if record.kind == "conversation":
            consecutive = self.state.consecutive_crisis + 1 if record.crisis else 0
            self._set(
                consecutive_crisis=consecutive,
                crisis_blocked=consecutive >= policy.max_consecutive_crisis,
            )
        self._emit(
            EventType.WELLNESS_EXPOSURE_UPDATED,
            {
                "exposure_minutes": round(self.state.exposure_minutes, 3),
                "budget_minutes": policy.budget_for(self._counting_shift()),
            },
        )
        if record.crisis:
            self._start_break(BreakReason.AFTER_CRISIS, policy.break_after_crisis, now)
            self._trigger("after_crisis", now)
        elif self.state.intense_since_break >= policy.break_after_intense.total_seconds() / 60:
            self._start_break(BreakReason.AFTER_INTENSE, policy.break_duration, now)
        if record.hostile:
            self._trigger("after_hostile", now)
        self._budget(now)
        return True

    def _finishes_the_last_shift(self, record: ExposureRecord, now: datetime) -> bool:
        """Whether `record`, arriving between shifts, is work that began by the end of the shift
        that ran last: a conversation the worker finished after the shift ended (exposure is
        recorded when work ends). It counts in that shift, under its budget; opening a stand-in
        for it would give the day a second budget and keep asking for check-ins, and nudging
        the leads, for a whole `shift_length` after the worker went home."""
        ended = self.state.shift_ended_at
        return (
            ended is not None
            and self.state.ended_shift is not None
            and now - timedelta(minutes=record.minutes) <= ended
            and self._late_work_counts_in_its_shift()
        )

    def _counting_shift(self) -> Shift | None:
        """The shift work counts in: the one running, or, for work finished after it, the one
        that ran last."""
        return self.state.shift or self.state.ended_shift

    def break_now(self, minutes: float | None, now: datetime) -> None:
        """The worker's own break: no new offers from now on."""
        self._at(now)
        length = timedelta(minutes=minutes) if minutes else self.policy.break_duration
        self._start_break(BreakReason.REQUESTED, length, now)
        self._set(requested_break=RequestedBreak(at=now, minutes=minutes or None))

    def repeats_break(self, minutes: float | None, now: datetime) -> bool:
        """Whether "I need a break now" for `minutes` is the worker's last request sent again
        within `RETRY_WINDOW` while the break it started or lengthened runs: a client's retry,
        which must neither lengthen the break nor announce it again."""
        asked = self.state.requested_break
        return (
            asked is not None
            and asked.minutes == (minutes or None)
            and (now - asked.at <= RETRY_WINDOW)
        )

    def end_break(self, now: datetime) -> None:
        """The worker ends their own break early; a mandatory one cannot be cut short."""
        if self.state.break_until is None:
            ended = self.state.break_ended_by_worker_at
            if ended is not None and now - ended <= RETRY_WINDOW:
                raise NotOnBreakError(
                    f"you are not on a break: you ended it yourself at {ended:%H:%M:%S} UTC"
                )
            raise NotOnBreakError("you are not on a break")
        if self.state.break_reason != BreakReason.REQUESTED:
            raise NotOnBreakError("a break after a crisis or intense work cannot be cut short")
        self._finish_break(self._at(now), "ended by the worker")
        self._set(break_ended_by_worker_at=now)

    def adopt(self, policy: WellnessPolicy, now: datetime) -> None:
        """A redeployed configuration's policy, from `now` on.

        What already happened keeps its terms: a running break or rotation keeps its end, and
        check-ins keep the mood they were given (on the scale of their day). The next cadence
        check-in moves to one new cadence after the last (now, if that has passed). A lowered
        budget or consecutive-crisis cap applies at once (`budget.exceeded`, a rotation, the 80 %
        check-in); a raised one does not undo what this shift already reached, since the worker
        reached it under the rules of the time. Between shifts only the policy changes."""
        self._at(now)
        old, self.policy = self.policy, policy
        state = self.state
        if state.shift is None:
            return
        if state.next_checkin_at is not None and policy.checkin_cadence != old.checkin_cadence:
            last = state.next_checkin_at - old.checkin_cadence
            self._set(next_checkin_at=max(last + policy.checkin_cadence, now))
        if state.consecutive_crisis >= policy.max_consecutive_crisis:
            self._set(crisis_blocked=True)
        budget = policy.budget_for(state.shift)
        if budget != old.budget_for(state.shift):
            # Those who follow the topic learn the budget the view now shows.
            self._emit(
                EventType.WELLNESS_EXPOSURE_UPDATED,
                {"exposure_minutes": round(state.exposure_minutes, 3), "budget_minutes": budget},
            )
        self._budget(now)

    def submit_checkin(
        self, mood: int, note: str, now: datetime, *, break_now: bool = False
    ) -> None:
        """A check-in answer; `break_now` records that it asked for a break (which the caller
        starts: `break_now`)."""
        self._at(now)
        pending = self.state.pending
        entry = CheckIn(
            at=now,
            mood=mood,
            note=note,
            reason=pending.reason if pending else "",
            break_now=break_now,
            shared_with_lead=self.policy.note_visibility == "wellness_lead",
        )
        self._set(
            pending=None,
            checkins_submitted=self.state.checkins_submitted + 1,
            checkins_answered=self.state.checkins_answered + int(pending is not None),
            checkins=[*self.state.checkins[-(RECENT_CHECKINS - 1) :], entry],
        )
        # The mood stays in warmline: the event only says a check-in happened.
        self._emit(EventType.WELLNESS_CHECKIN_SUBMITTED, {})

    def repeats_checkin(self, mood: int, note: str, break_now: bool, now: datetime) -> bool:
        """Whether this answer is the last check-in sent again (a client's retry after a lost
        answer): the same mood, note and break request, within `RETRY_WINDOW` of it, and no
        check-in asked for since (an open request takes it as its answer)."""
        last = self.state.checkins[-1] if self.state.checkins else None
        return (
            last is not None
            and self.state.pending is None
            and (last.mood, last.note, last.break_now) == (mood, note, break_now)
            and now - last.at <= RETRY_WINDOW
        )

    # --- time -------------------------------------------------------------------------------

    def advance(self, now: datetime) -> None:
        """Apply everything due at `now`: shift starts and ends, break and rotation ends,
        cadence check-ins and nudges. Repeats until nothing more is due."""
        for _ in range(100):
            if not self._advance_once(now):
                return

    def _advance_once(self, now: datetime) -> bool:
        return (
            self._shift_due(now)
            or self._break_due(now)
            or self._rotation_due(now)
            or self._nudge_due(now)
            or self._cadence_due(now)
        )

    def _shift_due(self, now: datetime) -> bool:
        state = self.state
        if state.shift is not None and now >= state.shift.ends_at:
            # A break after a crisis or intense work runs its course past the shift's end: the
            # worker may stay on (the roster's availability is theirs), and it is not a break
            # they may cut short.
            self._end_shift(
                self._at(state.shift.ends_at),
                ends_break=not (
                    self._on_mandatory_break() and self._mandatory_break_outlasts_the_shift()
                ),
            )
            return True
        if state.shift is None and state.upcoming and state.upcoming[0].starts_at <= now:
            nxt = state.upcoming[0]
            self._set(upcoming=state.upcoming[1:])
            if nxt.ends_at > now:
                self._start_shift(nxt, self._at(nxt.starts_at))
            return True
        current = state.shift
        if current is not None and self._stand_in_meets_hr_shift(current, now):
            nxt = state.upcoming[0]
            self._set(upcoming=state.upcoming[1:])
            if nxt.ends_at > now:
                self._replace_stand_in(current, nxt, now)
            return True
        return False

    def _stand_in_meets_hr_shift(self, current: Shift, now: datetime) -> bool:
        """Whether an HR shift falls due at `now` while the stand-in `current` runs."""
        upcoming = self.state.upcoming
        return (
            current.stand_in
            and bool(upcoming)
            and upcoming[0].starts_at <= now
            and self._hr_shift_replaces_stand_in()
        )

    def _replace_stand_in(self, stand_in: Shift, shift: Shift, now: datetime) -> None:
        """An HR shift takes the place of the stand-in running when it falls due.

        A stand-in that began within the HR shift (HR told warmline late) was that shift all
        along: it is corrected to HR's bounds and keeps what it counted. One that began before
        gives way at the HR shift's start, which starts as any shift does: the schedule is HR's,
        and the stand-in only covered the time no shift was known. Either way the worker is at
        work throughout, so a break, a check-in asked for and its nudges carry on; there is no
        end-of-shift check-in."""
        if stand_in.starts_at >= shift.starts_at:
            self._at(now)
            old_budget = self.policy.budget_for(stand_in)
            self._set(shift=shift, last_shift_id=shift.shift_id)
            budget = self.policy.budget_for(shift)
            if budget != old_budget:
                self._emit(
                    EventType.WELLNESS_EXPOSURE_UPDATED,
                    {
                        "exposure_minutes": round(self.state.exposure_minutes, 3),
                        "budget_minutes": budget,
                    },
                )
                self._budget(now)
            return
        start = self._at(shift.starts_at)
        if self.state.rotation_until is not None:
            self._set(rotation_until=None)
            self._emit(EventType.WELLNESS_ROTATION_ENDED, {"queues": self.policy.intense_queues})
        self._start_shift(shift, start, same_stretch_of_work=True)

    def _break_due(self, now: datetime) -> bool:
        if self.state.break_until is not None and now >= self.state.break_until:
            self._finish_break(self._at(self.state.break_until), self.state.break_reason or "")
            return True
        return False

    def _rotation_due(self, now: datetime) -> bool:
        if self.state.rotation_until is not None and now >= self.state.rotation_until:
            self._at(self.state.rotation_until)
            self._set(rotation_until=None)
            self._emit(EventType.WELLNESS_ROTATION_ENDED, {"queues": self.policy.intense_queues})
            return True
        return False

    def _nudge_due(self, now: datetime) -> bool:
        pending = self.state.pending
        if pending is None or pending.nudges >= 2:
            return False
        due = pending.requested_at + self.policy.checkin_nudge_after * (pending.nudges + 1)
        if now < due:
            return False
        self._at(due)
        self._set(pending=pending.model_copy(update={"nudges": pending.nudges + 1}))
        data: dict[str, object] = {"reason": f"missed:{pending.reason}", "recipient": "worker"}
        if pending.nudges > 0:
            data.update(recipient="wellness_lead", wellness_leads=list(self.policy.wellness_leads))
        self._emit(EventType.WELLNESS_CHECKIN_REQUESTED, data)
        return True

    def _cadence_due(self, now: datetime) -> bool:
        if self.state.next_checkin_at is None or now < self.state.next_checkin_at:
            return False
        due = self._at(self.state.next_checkin_at)
        self._set(next_checkin_at=due + self.policy.checkin_cadence)
        self._request_checkin("cadence", due)
        return True

    def next_wake(self) -> datetime | None:
        """The earliest moment something falls due, for the workflow's one timer."""
        state = self.state
        moments: list[datetime] = []
        if state.shift is not None:
            moments.append(state.shift.ends_at)
            if state.next_checkin_at is not None:
                moments.append(state.next_checkin_at)
            if (
                state.shift.stand_in
                and state.upcoming
                and state.upcoming[0].starts_at < state.shift.ends_at
                and self._hr_shift_replaces_stand_in()
            ):
                moments.append(state.upcoming[0].starts_at)
        elif state.upcoming:
            moments.append(state.upcoming[0].starts_at)
        if state.break_until is not None:
            moments.append(state.break_until)
        if state.rotation_until is not None:
            moments.append(state.rotation_until)
        if state.pending is not None and state.pending.nudges < 2:
            nudge_after = self.policy.checkin_nudge_after
            moments.append(state.pending.requested_at + nudge_after * (state.pending.nudges + 1))
        return min(moments) if moments else None

    # --- rules ------------------------------------------------------------------------------

    def _start_shift(
        self, shift: Shift, now: datetime, *, same_stretch_of_work: bool = False
    ) -> None:
        """`same_stretch_of_work`: HR's shift takes over from a stand-in the worker began early,
        so a check-in asked for carries on whatever its age."""
        pending = self.state.pending
        if (
            pending is not None
            and not same_stretch_of_work
            and now >= pending.requested_at + 2 * self.policy.checkin_nudge_after
            and self._missed_checkin_lapses_at_a_new_shift()
        ):
            # Missed in its own shift (the worker and the lead were told, and it counts there
            # as asked and unanswered). Left open, the new shift's cadence and triggered
            # check-ins would all fold into it: nothing asked, nobody nudged, until the worker
            # happened to check in unasked.
            self._set(pending=None)
        self._set(
            shift=shift,
            shift_number=self.state.shift_number + 1,
            last_shift_id=shift.shift_id,
            exposure_minutes=0.0,
            exposure_by_queue={},
            intense_since_break=0.0,
            consecutive_crisis=0,
            crisis_blocked=False,
            over_budget=False,
            budget_80_asked=False,
            rotated=False,
            rotation_until=None,
            next_checkin_at=now + self.policy.checkin_cadence,
            breaks_taken=0,
            budget_breaches=0,
            checkins_requested=0,
            checkins_submitted=0,
            checkins_answered=0,
        )
        self._emit(
            EventType.WELLNESS_EXPOSURE_UPDATED,
            {"exposure_minutes": 0.0, "budget_minutes": self.policy.budget_for(self.state.shift)},
        )

    def _end_shift(self, now: datetime, *, ends_break: bool = True) -> None:
        """`ends_break`: False during a break the worker may not cut short, which then runs to
        its end (else unavailable and available again would end it, and a worker staying on
        after the shift's end would be offered work in the middle of it)."""
        self._trigger("end_of_shift", now)
        if self.state.break_until is not None and ends_break:
            self._finish_break(now, "end_of_shift")
        if self.state.rotation_until is not None:
            self._set(rotation_until=None)
            self._emit(EventType.WELLNESS_ROTATION_ENDED, {"queues": self.policy.intense_queues})
        self._set(
            shift=None, next_checkin_at=None, ended_shift=self.state.shift, shift_ended_at=now
        )

    def _on_mandatory_break(self) -> bool:
        """On a break after a crisis or intense work (one `end_break` refuses to cut short)."""
        return self.state.break_reason in {
            BreakReason.AFTER_CRISIS.value,
            BreakReason.AFTER_INTENSE.value,
        }

    def _start_break(self, reason: BreakReason, length: timedelta, now: datetime) -> None:
        until = now + length
        current = self.state.break_until
        if current is not None and current >= until:
            return
        if current is None:
            self._set(breaks_taken=self.state.breaks_taken + 1, break_ended_by_worker_at=None)
        elif reason is BreakReason.REQUESTED and self.state.break_reason not in {
            None,
            reason.value,
        }:
            # A worker may lengthen a mandatory break, never turn it into one they can end.
            reason = BreakReason(str(self.state.break_reason))
        self._set(break_reason=reason.value, break_until=until)
        self._emit(
            EventType.WELLNESS_BREAK_STARTED, {"reason": reason.value, "until": until.isoformat()}
        )

    def _finish_break(self, now: datetime, reason: str) -> None:
        # The cap on consecutive crises outlives the break after a crisis (or it could never be
        # reached); it lifts with a non-crisis conversation or a new shift.
        self._set(
            break_reason=None, break_until=None, intense_since_break=0.0, requested_break=None
        )
        self._emit(EventType.WELLNESS_BREAK_ENDED, {"reason": reason})

    def _budget(self, now: datetime) -> None:
        policy = self.policy
        budget = policy.budget_for(self._counting_shift())
        exposure = self.state.exposure_minutes
        if exposure >= 0.8 * budget and not self.state.budget_80_asked:
            self._set(budget_80_asked=True)
            self._trigger("budget_80", now)
        if exposure >= policy.rotate_at_budget * budget and not self.state.rotated:
            until = now + policy.rotation_cooldown
            self._set(rotated=True, rotation_until=until)
            self._emit(
                EventType.WELLNESS_ROTATION_STARTED,
                {"off_queues": policy.intense_queues, "until": until.isoformat()},
            )
        if exposure >= budget and not self.state.over_budget:
            self._set(over_budget=True, budget_breaches=self.state.budget_breaches + 1)
            self._emit(
                EventType.WELLNESS_BUDGET_EXCEEDED,
                {"exposure_minutes": round(exposure, 3), "budget_minutes": budget},
            )

    def _trigger(self, trigger: str, now: datetime) -> None:
        if trigger in self.policy.checkin_triggers:
            self._request_checkin(trigger, now)

    def _request_checkin(self, reason: str, now: datetime) -> None:
        if self.state.pending is not None:
            return
        self._set(
            pending=PendingCheckIn(reason=reason, requested_at=now),
            checkins_requested=self.state.checkins_requested + 1,
        )
        self._emit(EventType.WELLNESS_CHECKIN_REQUESTED, {"reason": reason, "recipient": "worker"})

    # --- plumbing ---------------------------------------------------------------------------

    def _set(self, **changes: object) -> None:
        self.state = self.state.model_copy(update=changes)

    def _at(self, moment: datetime) -> datetime:
        """Act as of `moment` (what falls due is dated when it fell due, not when noticed)."""
        self._moment = moment
        return moment

    def _emit(self, event_type: EventType, data: dict[str, object]) -> None:
        if self._moment is None:
            raise RuntimeError("Wellness: an event before any moment was set")
        step = self.state.steps + 1
        self._set(steps=step)
        self.outbox.append(
            Outgoing(type=event_type, step=f"{step}/{event_type.value}", data=data, at=self._moment)
        )
