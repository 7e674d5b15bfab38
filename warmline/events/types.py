"""The CloudEvents `type` names warmline emits: a contract with every connector, kept exactly.

Additive changes to an event's data keep its version; a breaking change gets a new `.vN` type.
"""

from __future__ import annotations

from enum import StrEnum

EVENTS_TOPIC = "warmline.events.v1"
"""Conversation, escalation, handoff and model events, keyed by conversation id."""
WELLNESS_TOPIC = "warmline.wellness.v1"
"""Wellness events, keyed by worker id; kept apart so only HR connectors need access to it."""
INBOUND_MESSAGES_TOPIC = "warmline.inbound.messages.v1"
"""Customer messages from channels and the CRM, keyed by conversation id."""
INBOUND_HR_TOPIC = "warmline.inbound.hr.v1"
"""Shift schedules and availability from HR, keyed by worker id."""
DEADLETTER_TOPIC = "warmline.deadletter.v1"
"""Records a consumer could not process: the original bytes, with why and where in headers."""
WARMLINE_TOPICS = (
    EVENTS_TOPIC,
    WELLNESS_TOPIC,
    INBOUND_MESSAGES_TOPIC,
    INBOUND_HR_TOPIC,
    DEADLETTER_TOPIC,
)
"""Every topic warmline reads or writes under its default name."""


class EventType(StrEnum):
    """Every domain event type; `subject` is the conversation id or, for wellness, the worker id."""

    CONVERSATION_STARTED = "io.warmline.conversation.started.v1"
    MESSAGE_TRIAGED = "io.warmline.message.triaged.v1"
    CRISIS_DETECTED = "io.warmline.crisis.detected.v1"
    CONVERSATION_ESCALATED = "io.warmline.conversation.escalated.v1"
    OFFER_CREATED = "io.warmline.offer.created.v1"
    OFFER_DECLINED = "io.warmline.offer.declined.v1"
    OFFER_EXPIRED = "io.warmline.offer.expired.v1"
    OFFER_WITHDRAWN = "io.warmline.offer.withdrawn.v1"
    ESCALATION_REROUTED = "io.warmline.escalation.rerouted.v1"
    ESCALATION_ASSIGNED = "io.warmline.escalation.assigned.v1"
    HANDOFF_ACCEPTED = "io.warmline.handoff.accepted.v1"
    HANDOFF_COMPLETED = "io.warmline.handoff.completed.v1"
    CONVERSATION_CLOSED = "io.warmline.conversation.closed.v1"
    SUPERVISOR_PAGED = "io.warmline.supervisor.paged.v1"
    REFERRALS_SENT = "io.warmline.crisis.referrals.sent.v1"
    RISK_ACKNOWLEDGED = "io.warmline.handoff.risk.acknowledged.v1"
    TRIAGE_CORRECTED = "io.warmline.triage.corrected.v1"
    HANDOFF_RETURNED = "io.warmline.handoff.returned.v1"
    SATISFACTION_RECORDED = "io.warmline.conversation.rated.v1"

    MODEL_PROMOTED = "io.warmline.model.promoted.v1"
    MODEL_REJECTED = "io.warmline.model.rejected.v1"

    ANNOTATION_GOLD_RECORDED = "io.warmline.annotation.gold.recorded.v1"
    ANNOTATION_BATCH_MEASURED = "io.warmline.annotation.batch.measured.v1"
    ANNOTATION_REPLY_AUDITED = "io.warmline.annotation.reply.audited.v1"

    WELLNESS_EXPOSURE_UPDATED = "io.warmline.wellness.exposure.updated.v1"
    WELLNESS_BREAK_STARTED = "io.warmline.wellness.break.started.v1"
    WELLNESS_BREAK_ENDED = "io.warmline.wellness.break.ended.v1"
    WELLNESS_CHECKIN_REQUESTED = "io.warmline.wellness.checkin.requested.v1"
    WELLNESS_CHECKIN_SUBMITTED = "io.warmline.wellness.checkin.submitted.v1"
    WELLNESS_BUDGET_EXCEEDED = "io.warmline.wellness.budget.exceeded.v1"
    WELLNESS_ROTATION_STARTED = "io.warmline.wellness.rotation.started.v1"
    WELLNESS_ROTATION_ENDED = "io.warmline.wellness.rotation.ended.v1"
    WELLNESS_ITEM_FLAGGED = "io.warmline.wellness.annotation.flagged.v1"

    INBOUND_MESSAGE_RECEIVED = "io.warmline.inbound.message.received.v1"
    INBOUND_AVAILABILITY_CHANGED = "io.warmline.inbound.availability.changed.v1"
    INBOUND_SHIFT_SCHEDULED = "io.warmline.inbound.shift.scheduled.v1"

    @property
    def keyed_by_worker(self) -> bool:
        """Wellness and HR events are keyed (and ordered) per worker; others per conversation."""
        return self.value.startswith("io.warmline.wellness.") or self in _HR_INBOUND

    @property
    def subject_kind(self) -> str:
        """What the `subject` (and so the Kafka key) of this type's events names."""
        if self.keyed_by_worker:
            return "worker id"
        if self in (EventType.MODEL_PROMOTED, EventType.MODEL_REJECTED):
            return "`<deployment>/<taxonomy>`"
        if self is EventType.ANNOTATION_BATCH_MEASURED:
            return "deployment name"
        return "conversation id"

    @property
    def inbound(self) -> bool:
        """Sent to warmline (by channels, the CRM, HR) rather than emitted by it."""
        return self.value.startswith("io.warmline.inbound.")

    @property
    def topic(self) -> str:
        """The Kafka topic events of this type travel on (see docs/events.md, Topics)."""
        if self is EventType.INBOUND_MESSAGE_RECEIVED:
            return INBOUND_MESSAGES_TOPIC
        if self in _HR_INBOUND:
            return INBOUND_HR_TOPIC
        if self.value.startswith("io.warmline.wellness."):
            return WELLNESS_TOPIC
        return EVENTS_TOPIC

    @property
    def version(self) -> int:
        """The schema version at the end of the type name (`.v1` → 1)."""
        return int(self.value.rsplit(".v", 1)[1])


_HR_INBOUND = frozenset({EventType.INBOUND_AVAILABILITY_CHANGED, EventType.INBOUND_SHIFT_SCHEDULED})
