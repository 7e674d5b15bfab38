"""The CloudEvents `type` names warmline emits: a contract with every connector, kept exactly.

Additive changes to an event's data keep its version; a breaking change gets a new `.vN` type.
"""

from __future__ import annotations

from enum import StrEnum


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

    WELLNESS_EXPOSURE_UPDATED = "io.warmline.wellness.exposure.updated.v1"
    WELLNESS_BREAK_STARTED = "io.warmline.wellness.break.started.v1"
    WELLNESS_BREAK_ENDED = "io.warmline.wellness.break.ended.v1"
    WELLNESS_CHECKIN_REQUESTED = "io.warmline.wellness.checkin.requested.v1"
    WELLNESS_CHECKIN_SUBMITTED = "io.warmline.wellness.checkin.submitted.v1"
    WELLNESS_BUDGET_EXCEEDED = "io.warmline.wellness.budget.exceeded.v1"
    WELLNESS_ROTATION_STARTED = "io.warmline.wellness.rotation.started.v1"
    WELLNESS_ROTATION_ENDED = "io.warmline.wellness.rotation.ended.v1"

    @property
    def keyed_by_worker(self) -> bool:
        """Wellness events are keyed (and ordered) per worker; all others per conversation."""
        return self.value.startswith("io.warmline.wellness.")

    @property
    def version(self) -> int:
        """The schema version at the end of the type name (`.v1` → 1)."""
        return int(self.value.rsplit(".v", 1)[1])
