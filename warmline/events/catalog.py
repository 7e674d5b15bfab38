"""The event catalog: one pydantic model for the `data` of every CloudEvents type warmline uses.

These models are the contract with connectors. `docs/events.md` and the JSON Schemas under
`docs/schemas/events/` are generated from them (`python -m warmline.events.docs`), and a test fails
when the generated files are out of date.

Evolution: a new optional field is additive and keeps the type's version, so every model tolerates
fields it does not know (a connector built against v1 keeps working when v1 grows). Removing or
renaming a field, or changing its meaning or type, is breaking: it needs a new `.vN` type, emitted
beside the old one for as long as connectors need it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from warmline.errors import WarmlineError
from warmline.events.types import EventType

Score = Annotated[float, Field(ge=0.0, le=1.0)]

MAX_EXTERNAL_ID_CHARS = 256


def _printable(value: str) -> str:
    if any(ord(character) < 0x20 for character in value):
        raise ValueError("must not contain control characters (a tab, a newline, NUL, ...)")
    return value


ExternalId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_EXTERNAL_ID_CHARS,
        json_schema_extra={"pattern": r"^[^\x00-\x1f]+$"},
    ),
    AfterValidator(_printable),
]
"""A conversation or message id chosen by the business's systems: 1 to 256 characters, none of
them a control character. The specialist and annotator APIs take no other, so the bridge lets no
other in (a conversation nobody could then serve)."""
CountryCode = Annotated[str, Field(pattern=r"^[A-Za-z]{2}$"), AfterValidator(str.upper)]
"""ISO 3166-1 alpha-2, in either case (`gb` is read as `GB`)."""


class EventData(BaseModel):
    """The data of one event type. Unknown fields are kept: additive changes keep the version."""

    model_config = ConfigDict(extra="allow", frozen=True, use_attribute_docstrings=True)


class EventDataError(WarmlineError):
    """An event's data does not match its type's model; `reason` says where."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


# --- conversation ----------------------------------------------------------------------------


class ConversationStarted(EventData):
    """A conversation began (published with its first message's triage)."""

    channel: str
    """Where the customer writes from: `chat`, `email`, `sms`, ..."""


class Emotion(BaseModel):
    model_config = ConfigDict(extra="allow", use_attribute_docstrings=True)

    label: str
    """A GoEmotions label, e.g. `grief`."""
    score: Score


class MessageTriaged(EventData):
    """The AI read a customer message. Carries no message text: only what triage made of it."""

    message_id: str
    """The customer message's id within the conversation."""
    emotions: list[Emotion]
    """Highest score first."""
    distress: Score
    """How distressed the customer reads, 0 (calm) to 1."""
    risk_flags: list[str] = Field(default_factory=list)
    """`suicidal_ideation`, `self_harm`, `harm_to_others`, `abuse`, `medical_emergency`,
    `hostile`."""
    crisis: bool = False
    confidence: Score
    """How sure the provider is of its reading, 0 to 1."""
    rationale: str
    """Why triage read the message this way, in a sentence built from the reading's labels,
    scores and flags (`lexicon reads sadness 0.81; distress 0.74.`): no customer text. The
    provider's own rationale, which may quote the message, stays with the handoff."""
    model_version: str
    """The triage provider and model that read the message, e.g. `local:goemotions-original`."""


class CrisisDetected(EventData):
    """The crisis screen or the provider flagged a risk: it goes to the crisis lane."""

    message_id: str
    """The customer message's id within the conversation."""
    risk_flags: list[str]
    """The risks found, e.g. `self_harm`."""


class ConversationEscalated(EventData):
    """A rule or the crisis screen escalated the conversation to a queue."""

    queue: str
    """The handoff queue (from the configuration's `routing.queues`)."""
    reason: str
    priority: int
    """Higher first; a crisis jumps every queue."""
    rule: str
    """The rule that fired, or `crisis`."""
    crisis: bool
    """Whether this is the crisis lane."""
    message_id: str
    """The customer message's id within the conversation."""


class ConversationClosed(EventData):
    """The conversation ended: resolved, completed by a specialist, or inactive."""

    reason: str | None
    """`resolved`, `completed`, `inactivity`, or what the caller gave."""
    messages: int
    """Customer messages in the whole conversation."""
    outcome: str | None = None
    """The specialist's outcome when a handoff completed."""
    satisfaction: int | None = None


class ConversationRated(EventData):
    """The customer's satisfaction score after a completed handoff."""

    score: int
    """The customer's satisfaction score."""
    outcome: str | None = None


# --- escalation and handoff ------------------------------------------------------------------


class OfferCreated(EventData):
    """A specialist was offered the conversation."""

    offer_id: str
    """Identifies the offer (escalation and attempt)."""
    specialist: str
    """The specialist's id from the configuration."""
    queue: str
    """The handoff queue (from the configuration's `routing.queues`)."""
    priority: int
    """Higher first; a crisis jumps every queue."""
    crisis: bool
    """Whether this is the crisis lane."""
    expires_at: datetime
    """When the offer lapses if not accepted (`accept_within`)."""
    assigned_by: str | None = None
    """The supervisor who assigned the paged escalation to this specialist, overriding the
    wellness filter; absent for the routing's own offers."""


class OfferDeclined(EventData):
    offer_id: str
    """Identifies the offer (escalation and attempt)."""
    specialist: str
    """The specialist's id from the configuration."""
    queue: str
    """The handoff queue (from the configuration's `routing.queues`)."""
    reason: str


class OfferExpired(EventData):
    """Nobody answered the offer in time: an SLA breach of the queue."""

    offer_id: str
    """Identifies the offer (escalation and attempt)."""
    specialist: str
    """The specialist's id from the configuration."""
    queue: str
    """The handoff queue (from the configuration's `routing.queues`)."""
    reason: str = ""


class OfferWithdrawn(EventData):
    """Another specialist accepted first (crisis lane), the conversation ended, a crisis moved
    the waiting conversation to the crisis lane, or the specialist went on a break or marked
    themselves unavailable (`reason` says which)."""

    offer_id: str
    """Identifies the offer (escalation and attempt)."""
    specialist: str
    """The specialist's id from the configuration."""
    queue: str
    """The handoff queue (from the configuration's `routing.queues`)."""
    reason: str
    """`accepted by another specialist`, `conversation closed`, `moved to the crisis lane`,
    `on a break` or `marked unavailable`."""


class EscalationRerouted(EventData):
    """The escalation moved along the queue's escalation chain, or a specialist transferred it."""

    from_queue: str
    """The queue the escalation leaves."""
    to_queue: str
    """The queue it goes to next."""
    reason: str
    specialist: str | None = None
    """Who transferred it, for a transfer."""
    note: str | None = None
    """The transferring specialist's note to the next queue, for a transfer (free text the
    specialist wrote; it may quote the customer)."""


class EscalationAssigned(EventData):
    """A paged supervisor assigned the escalation to a specialist of their choosing; an offer to
    that specialist (`offer.created` with `assigned_by`) goes out with it."""

    supervisor_id: str
    """The supervisor's id from the configuration (`routing.supervisors`)."""
    specialist_id: str
    """The specialist's id from the configuration."""
    queue: str
    """The handoff queue (from the configuration's `routing.queues`)."""
    reason: str = ""
    """The supervisor's reason, as they gave it (may be empty)."""
    offer_id: str | None = None
    """The offer made to the specialist."""


class SupervisorPaged(EventData):
    supervisor: str | None
    queue: str
    """The handoff queue (from the configuration's `routing.queues`)."""
    reason: str


class Referral(BaseModel):
    model_config = ConfigDict(extra="allow", use_attribute_docstrings=True)

    name: str
    phone: str | None = None
    text: str | None = None
    url: str | None = None
    hours: str = "24/7"


class ReferralsSent(EventData):
    """Nobody in the crisis lane accepted in time; the customer got the helplines."""

    country: str | None
    referrals: list[Referral]
    supervisor: str | None = None


class HandoffAccepted(EventData):
    specialist: str
    """The specialist's id from the configuration."""
    queue: str
    """The handoff queue (from the configuration's `routing.queues`)."""
    offer_id: str
    """Identifies the offer (escalation and attempt)."""
    crisis: bool
    """Whether this is the crisis lane."""
    waited_ms: int
    """From the escalation to the accept."""


class RiskAcknowledged(EventData):
    specialist: str
    """The specialist's id from the configuration."""
    risk_flags: list[str]
    """The risks found, e.g. `self_harm`."""


class TriageCorrected(EventData):
    """A specialist corrected the AI's reading; a candidate training label for annotation."""

    specialist_id: str
    message_id: str
    """The customer message's id within the conversation."""
    labels: list[str]
    """The emotions the specialist reads, e.g. `grief`."""
    note: str
    """The specialist's note."""
    ai_labels: list[str]
    """What the AI read, for the annotation loop."""
    model_version: str
    """The triage provider and model that read the message, e.g. `local:goemotions-original`."""


class HandoffReturned(EventData):
    """The specialist handed the conversation back to the AI with a note."""

    specialist: str
    """The specialist's id from the configuration."""
    note: str
    """The specialist's note."""


class HandoffCompleted(EventData):
    specialist: str
    """The specialist's id from the configuration."""
    queue: str
    """The handoff queue (from the configuration's `routing.queues`)."""
    outcome: str
    """How the specialist closed it, e.g. `resolved`, `referred`."""
    summary: str = ""


# --- model lifecycle (the annotation loop) ---------------------------------------------------


class ModelPromoted(EventData):
    """A retrained triage model passed the promotion rule and now serves (subject
    `<deployment>/<taxonomy>`)."""

    model_version: str
    """The triage provider and model that read the message, e.g. `local:goemotions-original`."""
    previous_version: str | None = None
    macro_f1: float
    previous_macro_f1: float | None = None
    taxonomy: str | None = None
    """The model taxonomy: `original`, `group` or `ekman`."""
    version: str | None = None
    """The registry's name of the promoted version, e.g. `v3`."""
    previous_registry_version: str | None = None
    """The registry version it replaced (what `warmline triage rollback` goes back to)."""
    round_id: str | None = None
    """The retraining round that trained it."""
    crisis_recall: float | None = None
    """Pooled recall over the crisis labels on the held-out slice."""
    previous_crisis_recall: float | None = None
    margin: float | None = None
    """The promotion margin of macro-F1 the candidate had to gain."""
    gold_labels: int | None = None
    """Gold labels the model was trained on (besides the base data)."""
    gold_skipped: dict[str, int] | None = None
    """Gold labels read but not used, by reason (e.g. `duplicate_item`, `unknown_label`)."""
    holdout_rows: int | None = None
    """Rows of the held-out slice both models were scored on."""
    shadow: dict[str, Any] | None = None
    """How it read live traffic beside the old model while in shadow, when shadow mode is on."""


class ModelRejected(EventData):
    """A retrained candidate failed the promotion rule; the current model keeps serving."""

    model_version: str
    """The triage provider and model that read the message, e.g. `local:goemotions-original`."""
    reason: str
    macro_f1: float | None = None
    taxonomy: str | None = None
    """The model taxonomy: `original`, `group` or `ekman`."""
    version: str | None = None
    """The registry's name of the rejected candidate, e.g. `v4`."""
    round_id: str | None = None
    """The retraining round that trained it."""
    crisis_recall: float | None = None
    """Pooled recall over the crisis labels on the held-out slice."""
    current_version: str | None = None
    """The model that keeps serving."""
    current_macro_f1: float | None = None
    current_crisis_recall: float | None = None
    margin: float | None = None
    """The promotion margin of macro-F1 the candidate had to gain."""
    gold_labels: int | None = None
    """Gold labels the candidate was trained on (besides the base data)."""
    gold_skipped: dict[str, int] | None = None
    """Gold labels read but not used, by reason (e.g. `duplicate_item`, `unknown_label`)."""
    holdout_rows: int | None = None
    """Rows of the held-out slice both models were scored on."""


# --- annotation (no message text: the redacted text stays in the gold-label store) ------------


class AnnotationGoldRecorded(EventData):
    """Annotators agreed (or an adjudicator decided) on an item's labels: a gold label for
    retraining. Subject: the conversation id."""

    item_id: str
    """The annotated item: `<tenant>/<conversation>/<message>/<kind>`."""
    message_id: str
    """The customer message's id within the conversation."""
    labels: list[str]
    """The gold labels in the model's taxonomy (after the configured label mapping)."""
    annotator_labels: list[str]
    """The same labels in the annotators' taxonomy."""
    taxonomy: str
    """The model's taxonomy: `original`, `group` or `ekman`."""
    sources: list[str]
    """Why the item was sampled: `low_confidence`, `escalation`, `crisis`, `random`,
    `disagreement`, `correction`."""
    alpha: float | None = None
    """Krippendorff's alpha of the item's batch."""
    adjudicated: bool = False
    annotators: int
    """How many annotators labelled the item."""
    model_version: str = ""
    """The triage provider and model that read the message, e.g. `local:goemotions-original`."""
    candidate_labels: list[str] = Field(default_factory=list)
    """The specialist's correction that put the item in the loop, if any (their labels)."""


class AnnotationBatchMeasured(EventData):
    """Agreement of one batch of labelled items. Subject: the deployment name."""

    batch: int
    kind: str
    """`emotion` (customer messages) or `tone` (AI replies)."""
    alpha: float | None
    """Krippendorff's alpha (nominal, per label present/absent); null when undefined."""
    items: int
    annotators: int
    threshold: float
    gold: int
    adjudicated: int
    """Items sent to adjudication."""


class AnnotationReplyAudited(EventData):
    """Annotators audited the tone of an AI reply. Subject: the conversation id."""

    item_id: str
    message_id: str
    """The AI reply's id within the conversation."""
    model_version: str
    findings: list[str]
    """`appropriate`, or any of `tone_deaf`, `dismissive`, `sycophantic`, `unsafe_in_crisis`."""
    appropriate: bool


# --- wellness (keyed by worker; never conversation content) ----------------------------------


class WellnessExposureUpdated(EventData):
    exposure_minutes: float
    """Intensity-weighted minutes in the current shift."""
    budget_minutes: float


class WellnessBreakStarted(EventData):
    reason: str
    until: datetime


class WellnessBreakEnded(EventData):
    reason: str = ""


class WellnessCheckinRequested(EventData):
    reason: str
    """`cadence`, a trigger (`after_crisis`, `after_hostile`, `budget_80`, `end_of_shift`), or
    `missed:<reason>` for a nudge about an unanswered one."""
    recipient: str = "worker"
    """Who is asked: `worker`, or `wellness_lead` once a nudge went unanswered too."""
    wellness_leads: list[str] = Field(default_factory=list)
    """For `recipient: wellness_lead`, the supervisor ids with `wellness_lead: true` it goes to
    (empty when none is configured, and in events from before the field existed)."""


class WellnessCheckinSubmitted(EventData):
    """That a check-in happened; the worker's note never leaves warmline."""

    mood: int | None = None


class WellnessBudgetExceeded(EventData):
    exposure_minutes: float
    budget_minutes: float


class WellnessRotationStarted(EventData):
    off_queues: list[str]
    until: datetime


class WellnessRotationEnded(EventData):
    queues: list[str] = Field(default_factory=list)


class WellnessAnnotationFlagged(EventData):
    """An annotator flagged an item as distressing to read: counts towards their exposure."""

    task_id: str
    distress: float
    """Triage distress of the item, 0 to 1."""
    crisis: bool = False


# --- inbound: what channels, the CRM and HR send warmline ------------------------------------


class InboundMessage(EventData):
    """A customer message from a channel or the CRM; subject is the conversation id."""

    tenant_id: str
    conversation_id: ExternalId
    """1 to 256 characters, no control characters."""
    message_id: ExternalId
    """Unique within the conversation; a repeated id is not triaged twice. 1 to 256 characters,
    no control characters."""
    text: str
    channel: str = "chat"
    country: CountryCode | None = None
    """ISO 3166-1 alpha-2 (either case), to pick crisis helplines; the tenant's country
    otherwise. A country the crisis lane lists no helplines for gets its `default` ones."""


class InboundAvailability(EventData):
    """HR or a workforce tool says a worker (a specialist or an annotator) became (un)available;
    subject is the worker id."""

    specialist_id: str
    """The worker's id: a specialist's (`routing.specialists`) or an annotator's
    (`annotation.annotators`); the field keeps its v1 name."""
    available: bool
    reason: str = ""


class InboundShift(EventData):
    """A shift from the HR system's schedule; subject is the worker id."""

    worker_id: str
    shift_id: str
    starts_at: datetime
    ends_at: datetime
    queues: list[str] = Field(default_factory=list)
    """Queues the worker staffs in this shift; empty for all their skills."""


CATALOG: dict[EventType, type[EventData]] = {
    EventType.CONVERSATION_STARTED: ConversationStarted,
    EventType.MESSAGE_TRIAGED: MessageTriaged,
    EventType.CRISIS_DETECTED: CrisisDetected,
    EventType.CONVERSATION_ESCALATED: ConversationEscalated,
    EventType.OFFER_CREATED: OfferCreated,
    EventType.OFFER_DECLINED: OfferDeclined,
    EventType.OFFER_EXPIRED: OfferExpired,
    EventType.OFFER_WITHDRAWN: OfferWithdrawn,
    EventType.ESCALATION_REROUTED: EscalationRerouted,
    EventType.ESCALATION_ASSIGNED: EscalationAssigned,
    EventType.HANDOFF_ACCEPTED: HandoffAccepted,
    EventType.HANDOFF_COMPLETED: HandoffCompleted,
    EventType.CONVERSATION_CLOSED: ConversationClosed,
    EventType.SUPERVISOR_PAGED: SupervisorPaged,
    EventType.REFERRALS_SENT: ReferralsSent,
    EventType.RISK_ACKNOWLEDGED: RiskAcknowledged,
    EventType.TRIAGE_CORRECTED: TriageCorrected,
    EventType.HANDOFF_RETURNED: HandoffReturned,
    EventType.SATISFACTION_RECORDED: ConversationRated,
    EventType.MODEL_PROMOTED: ModelPromoted,
    EventType.MODEL_REJECTED: ModelRejected,
    EventType.ANNOTATION_GOLD_RECORDED: AnnotationGoldRecorded,
    EventType.ANNOTATION_BATCH_MEASURED: AnnotationBatchMeasured,
    EventType.ANNOTATION_REPLY_AUDITED: AnnotationReplyAudited,
    EventType.WELLNESS_EXPOSURE_UPDATED: WellnessExposureUpdated,
    EventType.WELLNESS_BREAK_STARTED: WellnessBreakStarted,
    EventType.WELLNESS_BREAK_ENDED: WellnessBreakEnded,
    EventType.WELLNESS_CHECKIN_REQUESTED: WellnessCheckinRequested,
    EventType.WELLNESS_CHECKIN_SUBMITTED: WellnessCheckinSubmitted,
    EventType.WELLNESS_BUDGET_EXCEEDED: WellnessBudgetExceeded,
    EventType.WELLNESS_ROTATION_STARTED: WellnessRotationStarted,
    EventType.WELLNESS_ROTATION_ENDED: WellnessRotationEnded,
    EventType.WELLNESS_ITEM_FLAGGED: WellnessAnnotationFlagged,
    EventType.INBOUND_MESSAGE_RECEIVED: InboundMessage,
    EventType.INBOUND_AVAILABILITY_CHANGED: InboundAvailability,
    EventType.INBOUND_SHIFT_SCHEDULED: InboundShift,
}


def data_model(event_type: EventType) -> type[EventData]:
    return CATALOG[event_type]


def parse_data(event_type: EventType, data: dict[str, Any]) -> EventData:
    """The event's data as its type's model, or `EventDataError` naming the wrong fields."""
    try:
        return CATALOG[event_type].model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'data'}: "
            + e["msg"].removeprefix("Value error, ")
            for e in error.errors()
        )
        raise EventDataError(f"{event_type.value} data is invalid: {problems}") from None
