"""What crosses the wellness workflow's boundary: its input, signals, updates and queries.

One `WellnessWorkflow` runs per worker (specialist or annotator) with the id
`wellness/<deployment>/<worker>`. Every model crosses a Temporal boundary, so new fields must be
optional.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from warmline.wellness.policy import (
    MAX_NOTE_CHARACTERS,
    CheckIn,
    Shift,
    WellnessPolicy,
    WellnessState,
    WorkerKind,
)

RECORD_EXPOSURE_SIGNAL = "record_exposure"
SHIFT_SIGNAL = "shift_scheduled"
AVAILABILITY_SIGNAL = "availability"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class WellnessInput(_Model):
    deployment: str
    worker_id: str
    kind: WorkerKind = WorkerKind.SPECIALIST
    policy: WellnessPolicy
    state: WellnessState | None = None
    """Carried over when the workflow continues as new."""
    shifts: list[Shift] = Field(default_factory=list)
    """Shifts known when the workflow starts (the bridge's shift store)."""
    continue_as_new_after: int | None = Field(default=None, ge=1)
    """Changes per run before continuing as new; the workflow's default (1,000) when unset."""
    available: bool = True
    """The last word on the worker's availability (theirs or HR's); carried over when the
    workflow continues as new."""
    view_version: int = Field(default=0, ge=0)
    """The version of the last view the workflow wrote; carried over when it continues as new,
    so the next run's views are newer."""


class Availability(_Model):
    """The worker (or HR for them) says they are (un)available: the `availability` signal, and the
    `set_availability` update of a worker who wants to know once assignment sees it."""

    available: bool


class CheckInRequest(_Model):
    mood: int
    """On the policy's scale (`wellness.checkins.scale`)."""
    note: str = Field(default="", max_length=MAX_NOTE_CHARACTERS)
    """Seen by the worker, and by the wellness lead only when the policy says so."""
    break_now: bool = False
    """"I need a break now": no new offers from this moment."""


class BreakRequest(_Model):
    minutes: float | None = Field(default=None, gt=0, le=240)
    """How long; the policy's `breaks.duration` when unset."""


class EndBreakRequest(_Model):
    pass


class CheckInHistory(_Model):
    """The worker's recent check-ins, notes included: for the worker (and a permitted lead)."""

    worker_id: str
    checkins: list[CheckIn]


def wellness_workflow_id(deployment: str, worker_id: str) -> str:
    return f"wellness/{deployment}/{worker_id}"
