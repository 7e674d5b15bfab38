"""The triage contract: what a provider reads (a message in context) and what it answers."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Score = Annotated[float, Field(ge=0.0, le=1.0)]

GOEMOTIONS_LABELS: tuple[str, ...] = (
    "admiration", "amusement", "anger", "annoyance", "approval", "caring", "confusion",
    "curiosity", "desire", "disappointment", "disapproval", "disgust", "embarrassment",
    "excitement", "fear", "gratitude", "grief", "joy", "love", "nervousness", "optimism",
    "pride", "realization", "relief", "remorse", "sadness", "surprise", "neutral",
)  # fmt: skip
"""The GoEmotions `original` taxonomy, the labels every provider scores."""


POSITIVE_EMOTIONS = frozenset(
    ["admiration", "amusement", "approval", "caring", "excitement", "gratitude", "joy", "love",
     "optimism", "pride", "relief"]
)  # fmt: skip
NEGATIVE_EMOTIONS = frozenset(
    ["anger", "annoyance", "disappointment", "disapproval", "disgust", "embarrassment", "fear",
     "grief", "nervousness", "remorse", "sadness"]
)  # fmt: skip


class Role(StrEnum):
    """Who wrote a message in the conversation."""

    CUSTOMER = "customer"
    AI = "ai"
    SPECIALIST = "specialist"
    SYSTEM = "system"
    """warmline itself, e.g. the crisis referrals sent to the customer."""


class RiskFlag(StrEnum):
    """A risk the message shows; all but `hostile` send the conversation to the crisis lane."""

    SUICIDAL_IDEATION = "suicidal_ideation"
    SELF_HARM = "self_harm"
    HARM_TO_OTHERS = "harm_to_others"
    ABUSE = "abuse"
    MEDICAL_EMERGENCY = "medical_emergency"
    HOSTILE = "hostile"

    @property
    def is_crisis(self) -> bool:
        return self is not RiskFlag.HOSTILE


class ContextMessage(BaseModel):
    """An earlier message of the conversation, given to the provider as context."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Role
    text: str


class TriageRequest(BaseModel):
    """One customer message to triage, with the recent conversation around it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant_id: str
    conversation_id: str
    message_id: str
    text: str
    context: list[ContextMessage] = Field(default_factory=list)
    locale: str | None = None
    """BCP 47 language tag of the message (e.g. `en-GB`), when the channel knows it."""
    country: str | None = None
    """ISO country of the customer, when known; picks crisis referral resources."""
    crisis_flags: list[RiskFlag] | None = None
    """The risk flags that make a crisis in this deployment (`triage.crisis.flags`), applied by
    the triage activity over the provider's and the screen's reading; None: every flag but
    `hostile`."""


class EmotionScore(BaseModel):
    """How strongly the message expresses one emotion."""

    model_config = ConfigDict(frozen=True)

    label: str
    score: Score


class TriageResult(BaseModel):
    """The AI's reading of a message: its emotions, distress, risks, and why."""

    model_config = ConfigDict(frozen=True)

    emotions: list[EmotionScore]
    """Highest score first."""
    distress: Score
    risk_flags: list[RiskFlag] = Field(default_factory=list)
    crisis: bool = False
    confidence: Score
    rationale: str
    model_version: str
    provider: str

    def score(self, label: str) -> float:
        """The score of one emotion label; 0.0 when the provider did not report it."""
        return next((e.score for e in self.emotions if e.label == label), 0.0)
