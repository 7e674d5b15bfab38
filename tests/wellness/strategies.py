"""Hypothesis strategies: random shift schedules and streams of work for a team of workers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from warmline.wellness.policy import (
    ExposureRecord,
    Shift,
    Wellness,
    WellnessPolicy,
    WellnessState,
)
from warmline.wellness.view import WorkerWellness

DAY = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
QUEUES = ["listening", "listening-priority", "crisis"]
INTENSE = ["listening-priority", "crisis"]
POLICY = WellnessPolicy(
    budget_per_shift=timedelta(hours=2),
    break_after_crisis=timedelta(minutes=15),
    break_after_intense=timedelta(minutes=60),
    break_duration=timedelta(minutes=10),
    max_consecutive_crisis=1,
    checkin_triggers=["after_crisis", "budget_80", "after_hostile", "end_of_shift"],
    rotate_at_budget=0.75,
    rotation_cooldown=timedelta(minutes=60),
    intense_queues=INTENSE,
)


@dataclass(frozen=True)
class Step:
    minute: int
    action: str
    record: ExposureRecord | None = None
    minutes: float | None = None


records = st.builds(
    lambda n, minutes, distress, crisis, hostile, queue: ExposureRecord(
        record_id=f"r-{n}",
        minutes=minutes,
        distress=distress,
        crisis=crisis,
        hostile=hostile,
        queue=queue,
    ),
    st.integers(0, 10_000),
    st.integers(1, 90),
    st.none() | st.floats(0, 1),
    st.booleans(),
    st.booleans(),
    st.sampled_from(QUEUES),
)
steps = st.lists(
    st.one_of(
        st.builds(Step, st.integers(0, 600), st.just("record"), records),
        st.builds(Step, st.integers(0, 600), st.just("break_now"), minutes=st.integers(1, 30)),
        st.builds(Step, st.integers(0, 600), st.just("end_break")),
        st.builds(Step, st.integers(0, 600), st.just("checkin")),
    ),
    max_size=25,
)
shifts = st.lists(
    st.tuples(st.integers(-120, 480), st.integers(30, 600)), min_size=0, max_size=3
).map(
    lambda spans: [
        Shift(
            shift_id=f"s-{i}",
            starts_at=DAY + timedelta(minutes=start),
            ends_at=DAY + timedelta(minutes=start + length),
        )
        for i, (start, length) in enumerate(spans)
    ]
)


def play(
    worker_id: str, schedule: list[Shift], stream: list[Step], until_minute: int
) -> WorkerWellness:
    """Run one worker's day through the policy up to `until_minute`; their view then."""
    wellness = Wellness(WellnessState(worker_id=worker_id), POLICY)
    for shift in schedule:
        wellness.schedule(shift, DAY - timedelta(hours=3))
    for step in sorted(stream, key=lambda s: s.minute):
        if step.minute > until_minute:
            break
        now = DAY + timedelta(minutes=step.minute)
        wellness.advance(now)
        if step.action == "record" and step.record is not None:
            wellness.record(step.record, now)
        elif step.action == "break_now":
            wellness.break_now(step.minutes, now)
        elif step.action == "end_break" and wellness.state.break_reason == "requested":
            wellness.end_break(now)
        elif step.action == "checkin":
            wellness.submit_checkin(3, "", now)
    moment = DAY + timedelta(minutes=until_minute)
    wellness.advance(moment)
    return wellness.state.view(POLICY, moment)


days = st.tuples(shifts, steps)

BUSY_MINUTE = 240
busy_steps = st.lists(
    st.one_of(
        st.builds(Step, st.integers(150, BUSY_MINUTE), st.just("record"), records),
        st.builds(
            Step, st.integers(200, BUSY_MINUTE), st.just("break_now"), minutes=st.integers(5, 30)
        ),
    ),
    min_size=1,
    max_size=6,
)
busy_days = st.tuples(
    st.just([Shift(shift_id="day", starts_at=DAY, ends_at=DAY + timedelta(hours=8))]), busy_steps
)
"""A working shift with work and breaks crowded just before `BUSY_MINUTE`: many workers are on a
break, rotated off or over budget then."""
