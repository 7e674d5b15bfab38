"""The conversation's shared types: what goes into ConversationWorkflow, what it keeps and returns.

Every model here crosses a Temporal boundary, so new fields are optional: a running history must
keep replaying after a field is added.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from warmline.escalation import Escalation, RoutingPolicy
from warmline.handoff import HandoffPackage
from warmline.triage.types import RiskFlag, Role, TriageResult

MAX_MESSAGE_CHARS = 20_000
"""Longer messages are refused at the door with a clear error (a 1 MB paste is not a message)."""
MAX_MESSAGE_ID_CHARS = 200
"""Longer message ids are refused: an id is kept, carried over and sent with every event."""
RECEIVE_MESSAGE_SIGNAL = "receive_message"
"""The conversation's signal for a customer message (takes a `CustomerMessage`): what the inbound
bridge signals-with-start, since a signal (unlike the `add_message` update) can start a workflow."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class RuleSpec(_Model):
    """An escalation rule as the workflow carries it: the condition stays text, parsed on use."""

    name: str
    when: str
    queue: str
    priority: int
    reason: str


class EscalationPolicy(_Model):
    """The part of the configuration a conversation needs, snapshotted when it starts."""

    rules: list[RuleSpec] = Field(default_factory=list)
    routing: RoutingPolicy | None = None
    """Queues, crisis lane and roster; without it an escalation is recorded but not routed."""
    require_risk_acknowledgement: bool = True
    satisfaction_survey: bool = False
    survey_within: timedelta = timedelta(hours=1)
    """How long a completed conversation waits for the customer's satisfaction score."""
    crisis_queue: str = "crisis"
    crisis_priority: int = 100
    crisis_flags: list[RiskFlag] | None = None
    """The risk flags that make a crisis (`triage.crisis.flags`); None, as in conversations
    started before the key was read: every flag but `hostile`."""
    inactivity_timeout: timedelta = timedelta(hours=24)
    max_messages_before_continue_as_new: Annotated[int, Field(ge=2)] = 500
    triage_as_local_activity: bool = False
    """Triage each message in a local activity, inside the workflow task that takes the message,
    rather than as a scheduled activity: no activity task, no second workflow task, a third of the
    history events. Right for providers that answer in milliseconds (`lexicon`, `local`); the
    `llm` provider, whose calls take seconds and need the server's timeouts, keeps a regular one."""


class Status(StrEnum):
    OPEN = "open"
    ESCALATED = "escalated"
    """Waiting for a specialist to accept."""
    HANDOFF = "handoff"
    """A specialist owns the conversation; the AI does not reply."""
    SURVEY = "survey"
    """Completed; waiting for the customer's satisfaction score."""
    CLOSED = "closed"


class CustomerMessage(_Model):
    message_id: str
    text: str


class AIReply(_Model):
    """A reply the AI sent the customer (from the `llm` provider or the business's assistant)."""

    message_id: str
    text: str
    model: str = ""
    """Which model or assistant wrote it, for the audit."""


class Turn(_Model):
    """One message of the transcript, whoever wrote it."""

    role: Role
    message_id: str
    text: str
    at: datetime | None = None
    """When the conversation recorded it (workflow time, UTC); None in transcripts recorded
    before times were kept."""


class MessageAccepted(_Model):
    """The answer to a customer message: what triage made of it, once it has been triaged."""

    message_id: str
    duplicate: bool = False
    """The message id was already received; it is not triaged twice."""
    distress: float | None = None
    crisis: bool = False
    escalated: bool = False
    """The conversation is escalated (by this message or an earlier one)."""


class RefusedMessage(_Model):
    """A signalled customer message the conversation dropped (a signal cannot be refused)."""

    message_id: str
    reason: str


class TrajectoryPoint(_Model):
    """One step of the emotional trajectory: how the customer read at one message."""

    message_id: str
    distress: float
    emotions: dict[str, float]
    """Emotions the provider reported for the message, label to score."""
    risk_flags: list[RiskFlag]
    confidence: float
    model_version: str
    rationale: str = ""
    crisis: bool = False
    """Triage read a crisis (the deployment's crisis flags applied); False in points kept before
    it was."""

    @classmethod
    def from_result(cls, message_id: str, result: TriageResult) -> TrajectoryPoint:
        return cls(
            message_id=message_id,
            distress=result.distress,
            emotions={e.label: e.score for e in result.emotions},
            risk_flags=result.risk_flags,
            confidence=result.confidence,
            model_version=result.model_version,
            rationale=result.rationale,
            crisis=result.crisis,
        )


class HandoffState(_Model):
    """A specialist's hold on the conversation, carried across continue-as-new."""

    owner: str
    queue: str
    package: HandoffPackage | None = None
    acknowledged: bool = False
    corrections: list[Correction] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class Carry(_Model):
    """What a conversation carries into its next run when it continues as new."""

    message_count: int
    trajectory: list[TrajectoryPoint]
    pending: list[CustomerMessage] = Field(default_factory=list)
    """Messages accepted but not yet triaged when the run ended."""
    turns: list[Turn] = Field(default_factory=list)
    """The recent transcript, AI replies included."""
    escalation: Escalation | None = None
    handoff: HandoffState | None = None
    escalations: int = 0
    handled_by: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    """Notes from earlier specialists (transfers and hand-backs) for the next handoff; empty in
    carries written before it was kept, whose notes were the handoff's."""
    last_escalation: Escalation | None = None
    """The latest escalation, for the outcome, also once it ended (hand-back, completion); None
    in carries written before it was kept, where it was `escalation`."""
    survey_open: bool = False
    """The specialist completed and the customer's satisfaction score is awaited."""
    handoff_outcome: str | None = None
    """The outcome of the last completed handoff."""
    seen: list[str] | None = None
    """The ids of the last customer messages received, oldest first, so a retry of one is not
    triaged again; None in carries written before they were kept (the transcript's are used)."""
    ended: EndedHandoff | None = None
    """The last handoff a specialist ended, so a retry of that request is answered as the first;
    None in carries written before it was kept."""


class ConversationInput(_Model):
    tenant_id: str
    conversation_id: str
    channel: str = "chat"
    country: str | None = None
    locale: str | None = None
    customer_tier: str = ""
    policy: EscalationPolicy = Field(default_factory=EscalationPolicy)
    carry: Carry | None = None


class CloseRequest(_Model):
    reason: str = "resolved"


# --- what a specialist does with a conversation they own ------------------------------------------


class SpecialistAction(_Model):
    """An action with no payload beyond who takes it (e.g. acknowledging risk flags)."""

    specialist_id: str


class SpecialistReply(_Model):
    specialist_id: str
    message_id: str
    text: str


class TriageCorrection(_Model):
    """A specialist's correction of the AI's reading ("not angry: grieving"); a candidate label."""

    specialist_id: str
    message_id: str | None = None
    """The message corrected; None for the latest."""
    labels: list[str]
    """The emotions the specialist reads, e.g. `["grief"]`."""
    note: str = ""


class TransferRequest(_Model):
    specialist_id: str
    queue: str
    note: str = ""


class HandBackRequest(_Model):
    """Hand the conversation back to the AI; the note enters the AI's context."""

    specialist_id: str
    note: str


class CompleteRequest(_Model):
    specialist_id: str
    outcome: str
    """e.g. `resolved`, `referred`, `follow_up`."""
    summary: str = ""


EndingRequest = CompleteRequest | HandBackRequest | TransferRequest
"""A specialist's request that ends their handoff."""


class HandoffEnd(StrEnum):
    """How a specialist ended their handoff."""

    COMPLETED = "completed"
    HANDED_BACK = "handed back"
    TRANSFERRED = "transferred"


class EndedHandoff(_Model):
    """The last handoff a specialist ended, with the request that ended it.

    A client whose `complete`, `hand_back` or `transfer` went through but whose answer was lost
    sends the same request again: the same specialist's equal request (same outcome and summary,
    same note, same queue) is that retry and is answered as the first was, with nothing done
    twice. Kept until the next handoff ends (carried over a continue-as-new).
    """

    how: HandoffEnd
    specialist_id: str
    queue: str
    """The queue the specialist held the conversation in."""
    escalation: int
    """The number of the escalation whose handoff ended."""
    complete: CompleteRequest | None = None
    hand_back: HandBackRequest | None = None
    transfer: TransferRequest | None = None

    @classmethod
    def by(cls, request: EndingRequest, *, queue: str, escalation: int) -> EndedHandoff:
        """The record of `request`, which ended the handoff held in `queue`."""
        if isinstance(request, CompleteRequest):
            how = HandoffEnd.COMPLETED
        elif isinstance(request, HandBackRequest):
            how = HandoffEnd.HANDED_BACK
        else:
            how = HandoffEnd.TRANSFERRED
        return cls(
            how=how,
            specialist_id=request.specialist_id,
            queue=queue,
            escalation=escalation,
            complete=request if isinstance(request, CompleteRequest) else None,
            hand_back=request if isinstance(request, HandBackRequest) else None,
            transfer=request if isinstance(request, TransferRequest) else None,
        )

    def repeated_by(self, request: EndingRequest) -> bool:
        """Whether `request` is the one that ended the handoff, sent again (a retry)."""
        return request in (self.complete, self.hand_back, self.transfer)

    def refusal(self) -> str:
        """Why the specialist who ended the handoff cannot end it another way now."""
        if self.complete is not None:
            done = f"completed this conversation with outcome {self.complete.outcome!r}"
        elif self.transfer is not None:
            done = f"transferred this conversation to {self.transfer.queue!r}"
        else:
            done = "handed this conversation back to the AI"
        return f"you already {done}; it is no longer yours to act on"


class SatisfactionRating(_Model):
    score: Annotated[int, Field(ge=1, le=5)]
    comment: str = ""


class Correction(_Model):
    """A correction as the conversation keeps it."""

    specialist_id: str
    message_id: str
    labels: list[str]
    note: str
    ai_labels: list[str]
    """What the AI read, for the annotation loop's disagreement sampling."""


class ConversationView(_Model):
    """What a query of a running conversation shows."""

    status: Status
    message_count: int
    trajectory: list[TrajectoryPoint]
    escalation: Escalation | None
    turns: list[Turn] = Field(default_factory=list)
    """The recent transcript: customer messages, AI and specialist replies."""
    owner: str | None = None
    """The specialist who owns the conversation."""
    handoff: HandoffPackage | None = None
    risk_acknowledged: bool = False
    corrections: list[Correction] = Field(default_factory=list)
    escalations: int = 0
    """Escalations so far (a transfer or a second escalation after a hand-back adds one)."""
    refused: list[RefusedMessage] = Field(default_factory=list)
    """Messages signalled by the inbound bridge and dropped (empty, too long, or the conversation
    was closing), with why; the bridge checks first, so this is rare."""
    ended: EndedHandoff | None = None
    """The last handoff a specialist ended (completed, handed back, transferred) and how: the
    desk answers that specialist's same request again, once the conversation has closed, as the
    first was answered."""


class ConversationOutcome(_Model):
    conversation_id: str
    message_count: int
    escalation: Escalation | None
    closed_reason: str
    handoff_outcome: str | None = None
    satisfaction: int | None = None
    handled_by: list[str] = Field(default_factory=list)
    """Specialists who owned the conversation, in order."""


def workflow_id(tenant_id: str, conversation_id: str) -> str:
    """One workflow per conversation, named by tenant and conversation id."""
    return f"conversation/{tenant_id}/{conversation_id}"
