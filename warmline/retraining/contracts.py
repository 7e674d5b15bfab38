"""The messages of `RetrainingWorkflow` and its activities: one pydantic model in, one out."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from warmline.events import DomainEvent
from warmline.retraining.rounds import Candidate, RoundDecision, ShadowStats, Verdict
from warmline.retraining.settings import RetrainingSettings

Trigger = Literal["gold_labels", "schedule", "request"]


def retraining_workflow_id(deployment: str, taxonomy: str) -> str:
    """One retraining workflow per deployment and model taxonomy."""
    return f"retraining:{deployment}:{taxonomy}"


def schedule_id(deployment: str, taxonomy: str) -> str:
    return f"retraining-schedule:{deployment}:{taxonomy}"


class RetrainingInput(BaseModel):
    """What a run starts with; continue-as-new carries the progress over."""

    settings: RetrainingSettings
    trained_through: int = 0
    """Gold labels at positions below this were read by an earlier round."""
    rounds: int = 0
    """Rounds started so far (round ids count on across runs)."""
    last_decision: RoundDecision | None = None
    failed_at: int | None = None
    """The gold-label count a round failed on for good (bad data, a broken registry): no round
    runs by itself again until the count changes."""
    notified: bool = False
    """Gold labels were announced since the last count (`gold_labels_added` during the run's
    last round): the next run counts them at once, not after `check_interval`."""


class GoldLabelsAdded(BaseModel):
    """The annotation side recorded gold labels; the workflow counts them itself."""

    count: int = 1


class RoundRequest(BaseModel):
    """Run a round now, whatever the count of new gold labels."""

    trigger: Trigger = "request"
    reason: str = ""
    force: bool = False
    """Train even when no gold label arrived since the last round."""


class RetrainingStatus(BaseModel):
    """What the `status` query answers."""

    model_config = ConfigDict(frozen=True)

    deployment: str
    taxonomy: str
    trained_through: int
    rounds: int
    running: bool
    """A round is in progress (training, scoring or in shadow)."""
    in_shadow: str | None
    last_decision: RoundDecision | None
    failed_at: int | None = None
    """The gold-label count the last round failed on for good; rounds wait for new gold labels
    (or a `run_round` request, or new settings) before trying again."""
    publishing: str | None = None
    """The id of the last decision's event while Kafka has not taken it yet: the decision stands,
    the event is retried until Kafka is back, and the next round waits for it."""


class CountRequest(BaseModel):
    settings: RetrainingSettings


class TrainRequest(BaseModel):
    settings: RetrainingSettings
    round_id: str
    gold_end: int


class EvaluateRequest(BaseModel):
    settings: RetrainingSettings
    candidate: Candidate


class ShadowRequest(BaseModel):
    settings: RetrainingSettings
    round_id: str
    version: str


class ConcludeRequest(BaseModel):
    settings: RetrainingSettings
    verdict: Verdict
    shadow: ShadowStats | None = None
    time: datetime
    """Workflow time of the decision, the events' time."""


class ConcludedRound(BaseModel):
    """What `decide_round` answers: the decision, taken and recorded in the registry, and its
    `model.promoted` or `model.rejected` event, which the workflow publishes next."""

    decision: RoundDecision
    event: DomainEvent


class ScheduledRound(BaseModel):
    """What the Temporal Schedule starts `ScheduledRetrainingWorkflow` with."""

    settings: RetrainingSettings


class SignalRequest(BaseModel):
    """Signal-with-start the retraining workflow with a round request."""

    settings: RetrainingSettings
    task_queue: str
    request: RoundRequest
