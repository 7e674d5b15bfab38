"""The conversation's shared types: what goes into ConversationWorkflow, what it keeps and returns.

Every model here crosses a Temporal boundary, so new fields are optional: a running history must
keep replaying after a field is added.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from warmline.triage.types import RiskFlag, Role, TriageResult

MAX_MESSAGE_CHARS = 20_000
"""Longer messages are refused at the door with a clear error (a 1 MB paste is not a message)."""


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
    crisis_queue: str = "crisis"
    crisis_priority: int = 100
    inactivity_timeout: timedelta = timedelta(hours=24)
    max_messages_before_continue_as_new: Annotated[int, Field(ge=2)] = 500


class Status(StrEnum):
    OPEN = "open"
    ESCALATED = "escalated"
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


class MessageAccepted(_Model):
    """The answer to a customer message: what triage made of it, once it has been triaged."""

    message_id: str
    duplicate: bool = False
    """The message id was already received; it is not triaged twice."""
    distress: float | None = None
    crisis: bool = False
    escalated: bool = False
    """The conversation is escalated (by this message or an earlier one)."""


class TrajectoryPoint(_Model):
    """One step of the emotional trajectory: how the customer read at one message."""

    message_id: str
    distress: float
    emotions: dict[str, float]
    """Emotions the provider reported for the message, label to score."""
    risk_flags: list[RiskFlag]
    confidence: float
    model_version: str

    @classmethod
    def from_result(cls, message_id: str, result: TriageResult) -> TrajectoryPoint:
        return cls(
            message_id=message_id,
            distress=result.distress,
            emotions={e.label: e.score for e in result.emotions},
            risk_flags=result.risk_flags,
            confidence=result.confidence,
            model_version=result.model_version,
        )


class Escalation(_Model):
    """Why and where the conversation was escalated."""

    queue: str
    reason: str
    priority: int
    rule: str
    """The rule that fired, or `crisis` for the crisis screen."""
    crisis: bool
    message_id: str


class Carry(_Model):
    """What a conversation carries into its next run when it continues as new."""

    message_count: int
    trajectory: list[TrajectoryPoint]
    pending: list[CustomerMessage] = Field(default_factory=list)
    """Messages accepted but not yet triaged when the run ended."""
    turns: list[Turn] = Field(default_factory=list)
    """The recent transcript, AI replies included."""
    escalation: Escalation | None = None


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


class ConversationView(_Model):
    """What a query of a running conversation shows."""

    status: Status
    message_count: int
    trajectory: list[TrajectoryPoint]
    escalation: Escalation | None
    turns: list[Turn] = Field(default_factory=list)
    """The recent transcript: customer messages and AI replies."""


class ConversationOutcome(_Model):
    conversation_id: str
    message_count: int
    escalation: Escalation | None
    closed_reason: str


def workflow_id(tenant_id: str, conversation_id: str) -> str:
    """One workflow per conversation, named by tenant and conversation id."""
    return f"conversation/{tenant_id}/{conversation_id}"
