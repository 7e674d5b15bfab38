"""The escalation's shared types: queues, offers, the crisis lane, and what specialists send.

An escalation finds a person for a conversation: `EscalationWorkflow` makes offers (one at a time,
or up to K at once in the crisis lane), runs the SLA timers and walks the queue's escalation chain;
the conversation it belongs to keeps the handoff once someone accepts. Every model crosses a
Temporal boundary, so new fields must be optional.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class Escalation(_Model):
    """Why and where the conversation was escalated."""

    queue: str
    reason: str
    priority: int
    rule: str
    """The rule that fired, or `crisis` for the crisis screen."""
    crisis: bool
    message_id: str


class QueueSpec(_Model):
    """A handoff queue as the escalation workflow sees it (snapshotted from the configuration)."""

    name: str
    skills: list[str] = Field(default_factory=list)
    priority: int = 50
    accept_within: timedelta = timedelta(minutes=2)
    """How long an offer stays open, and how long the queue may wait with nobody to offer to."""
    escalation_chain: list[str] = Field(default_factory=list)
    supervisor: str | None = None
    intense: bool = False


class Referral(_Model):
    """A helpline offered to a customer in crisis."""

    name: str
    phone: str | None = None
    text: str | None = None
    url: str | None = None
    hours: str = "24/7"


class CrisisLane(_Model):
    """The crisis lane: K offers at once (or one first, then K), a deadline, then the supervisor
    and the helplines."""

    queue: str
    offer_to: Annotated[int, Field(ge=1)] = 3
    accept_within: timedelta = timedelta(seconds=30)
    widen_after: timedelta = timedelta(0)
    """One offer, to the best-ranked specialist, until this has passed; then `offer_to` at once.
    Zero (and every history recorded before the field existed) offers to `offer_to` at once."""
    supervisor: str
    referrals: dict[str, list[Referral]] = Field(default_factory=dict)
    """Helplines by ISO country code, `default` for everywhere else."""

    def referrals_for(self, country: str | None) -> list[Referral]:
        """The helplines for `country`, else the `default` ones."""
        if country and country in self.referrals:
            return self.referrals[country]
        return self.referrals.get("default", [])


class RoutingPolicy(_Model):
    """What an escalation needs from the configuration, snapshotted when the conversation starts."""

    roster_id: str
    """Workflow id of the roster that holds specialists' availability and load."""
    queues: list[QueueSpec]
    crisis: CrisisLane
    wait_retry: timedelta = timedelta(seconds=5)
    """With nobody eligible, how often the escalation asks the roster again."""
    history_events_per_run: Annotated[int, Field(ge=200)] = 10_000
    """A paged escalation nobody accepts continues as new once its run's history holds this many
    events (or Temporal suggests it, or it passes `HISTORY_BYTES_PER_RUN`): an unaccepted crisis
    adds about 10,000 events an hour, and Temporal ends a workflow at 51,200. Kept below the
    10,240 at which Temporal starts warning; tests lower it."""

    def queue(self, name: str) -> QueueSpec:
        """The queue called `name`; configuration validation guarantees it exists."""
        for queue in self.queues:
            if queue.name == name:
                return queue
        raise KeyError(f"unknown queue {name!r}")

    @property
    def queue_names(self) -> list[str]:
        return [queue.name for queue in self.queues]


class EscalationCarry(_Model):
    """A paged escalation's state across a continue-as-new, taken where nothing is open or owed:
    no offer open, every decline, withdrawal and expiry released and published, no handler
    running. The next run goes straight back to offering, paged."""

    started: datetime
    """When the escalation's first run started: `waited` and `handoff.accepted`'s `waited_ms`
    count from here."""
    entered_queue: datetime
    queue: str
    """The queue it was paged in (the end of the chain, or the crisis lane's)."""
    offers_made: int
    """Offer numbers so far: the next run's offer ids (and their events' ids) go on from here."""
    excluded: list[str] = Field(default_factory=list)
    paged: str
    paged_at: datetime
    paged_reason: str
    referrals_sent: bool = False
    sla_breaches: int = 0
    reroutes: int = 0
    assigned: int = 0
    """Supervisors' assignments so far (each one's event id counts them)."""
    idle_polls: int = 0
    owed_by: datetime | None = None
    version: int
    """The last live-view version the run before wrote: the next run's views count on from it."""


class EscalationInput(_Model):
    tenant_id: str
    conversation_id: str
    sequence: int
    """1 for the conversation's first escalation, 2 after a transfer or hand-back, and so on."""
    escalation: Escalation
    routing: RoutingPolicy
    country: str | None = None
    conversation_workflow_id: str
    """Where the escalation reports an accept, a page or referrals (by signal)."""
    exclude: list[str] = Field(default_factory=list)
    """Specialists not to offer to (e.g. the one who transferred the conversation away)."""
    cancelled_by_workflow_id: bool = False
    """The parent cancels this escalation by its workflow id, which reaches the run the escalation
    continued as new. A cancel through a child workflow handle names the child's first run, and
    Temporal's server takes it as done once that run has continued as new: the escalation would go
    on offering after its conversation ended, and the conversation would wait for it for good. So
    an escalation with a parent continues as new only when the parent says this (one without a
    parent, started and cancelled by id, always may)."""
    carry: EscalationCarry | None = None
    """What the run before this one hands over when a paged escalation continues as new."""


class OfferStatus(StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"
    """Another specialist accepted first, or the conversation ended."""


class Offer(_Model):
    """An offer of one conversation to one specialist."""

    offer_id: str
    specialist_id: str
    tenant_id: str
    conversation_id: str
    queue: str
    priority: int
    reason: str
    crisis: bool
    created_at: datetime
    expires_at: datetime
    status: OfferStatus = OfferStatus.OPEN
    assigned_by: str | None = None
    """The supervisor who assigned a paged escalation to this specialist (an override of the
    wellness filter), or None for an offer the routing made."""


class AcceptRequest(_Model):
    offer_id: str
    specialist_id: str


class AcceptResult(_Model):
    offer_id: str
    tenant_id: str
    conversation_id: str
    queue: str
    conversation_workflow_id: str


class DeclineRequest(_Model):
    offer_id: str
    specialist_id: str
    reason: str = ""


class WithdrawRequest(_Model):
    """Take back an open offer because its specialist can no longer take it (a break, marked
    unavailable): it goes back to the routing, and unlike a decline is not held against them."""

    offer_id: str
    specialist_id: str
    reason: str


class AssignRequest(_Model):
    """A supervisor assigns a paged escalation to a specialist of their choosing: an offer the
    wellness filter would not have made, still within the roster's hard limits."""

    supervisor_id: str
    specialist_id: str
    reason: str = ""


class EscalationStatus(StrEnum):
    WAITING = "waiting"
    ACCEPTED = "accepted"
    CANCELLED = "cancelled"


HISTORY_BYTES_PER_RUN = 4 * 1024 * 1024
"""A paged escalation also continues as new once its run's history passes 4 MiB (Temporal warns at
10 MiB and ends a workflow at 50 MiB). Before `EscalationView.for_live_view`, every live-view write
carried every offer made so far in the run, so the size grew with the square of the time (an
unaccepted crisis passed 10 MiB in half an hour); each write now carries only the open offers, and
the size grows with the time, like the count: an unaccepted crisis adds about 2 MB an hour, so
`history_events_per_run` comes first and this bound stays as a backstop."""


class EscalationView(_Model):
    """What a query of a running escalation shows (and what the live view is rebuilt from)."""

    escalation_id: str
    """The escalation's workflow id."""
    version: int = 0
    """Grows with every change, so the live view never applies an older view over a newer one;
    it starts from the execution's start millisecond (times 2048), so an escalation id used again
    by a conversation started again after it closed counts as newer than the old one's views. A run
    continued as new counts on from the last version of the run before it."""
    tenant_id: str
    conversation_id: str
    status: EscalationStatus
    queue: str
    priority: int
    crisis: bool
    entered_queue_at: datetime
    offers: list[Offer]
    paged_supervisor: str | None = None
    paged_at: datetime | None = None
    """When the supervisor was paged (a supervisor may then `assign` the escalation)."""
    paged_reason: str | None = None
    referrals_sent: bool = False
    sla_breaches: int = 0
    reroutes: int = 0

    def live_offers(self) -> list[Offer]:
        """The offers the live view keeps of this view: the open ones while the escalation waits,
        none once it no longer does (it then keeps nothing but a tombstone)."""
        if self.status is not EscalationStatus.WAITING:
            return []
        return [offer for offer in self.offers if offer.status is OfferStatus.OPEN]

    def for_live_view(self) -> EscalationView:
        """This view with only `live_offers`: what a live-view write needs to carry.

        The live view stores nothing of a closed offer, and its readers (the supervisors' paged
        list, whose `offered_to` is the open offers) need none, while the `view` query shows
        every offer of the run: a write carrying those grew with every offer made, and a paged
        escalation's history with the square of the time.
        """
        return self.model_copy(update={"offers": self.live_offers()})


class EscalationOutcome(_Model):
    status: EscalationStatus
    accepted_by: str | None = None
    queue: str
    offer_id: str | None = None
    waited: timedelta
    sla_breaches: int = 0
    reroutes: int = 0


class Assignment(_Model):
    """Sent to the conversation when a specialist accepted its escalation."""

    specialist_id: str
    queue: str
    offer_id: str
    sequence: int
    accepted_at: datetime
    waited: timedelta


class CrisisNotice(_Model):
    """Sent to the conversation when the crisis lane's deadline passed with nobody accepting."""

    supervisor: str
    referrals: list[Referral]


CONVERSATION_CLOSED = "conversation closed"
"""The reason of the offers an escalation withdraws when it is cancelled: the customer left."""
MOVED_TO_THE_CRISIS_LANE = "moved to the crisis lane"
"""The reason of the offers withdrawn when a crisis moves a waiting escalation to the crisis
lane (the conversation ends it and starts the lane's)."""


class CallOff(_Model):
    """Sent to an escalation by its conversation just before cancelling it, saying why: the
    offers it withdraws then carry the reason. An escalation cancelled without one (the customer
    left, and every conversation from before the call-off was sent) gives `CONVERSATION_CLOSED`."""

    reason: str


def escalation_workflow_id(tenant_id: str, conversation_id: str, sequence: int) -> str:
    return f"escalation/{tenant_id}/{conversation_id}/{sequence}"


OFFER_MARK = "/offer/"


def offer_id(escalation_workflow_id: str, number: int) -> str:
    """Offer ids name their escalation workflow, so an accept can be routed to it directly."""
    return f"{escalation_workflow_id}{OFFER_MARK}{number}"


def escalation_of_offer(offer: str) -> str | None:
    """The escalation workflow id an offer id belongs to, or None for a malformed id."""
    head, mark, number = offer.rpartition(OFFER_MARK)
    if not mark or not head.startswith("escalation/") or not number.isdigit():
        return None
    return head


class Rejection(StrEnum):
    """Why a specialist's request was refused: the `type` of the ApplicationError validators raise.

    The gRPC API maps each to the status code of the same name, so keep these names stable.
    """

    INVALID_ARGUMENT = "InvalidArgument"
    NOT_FOUND = "NotFound"
    PERMISSION_DENIED = "PermissionDenied"
    FAILED_PRECONDITION = "FailedPrecondition"
    ALREADY_EXISTS = "AlreadyExists"
    RESOURCE_EXHAUSTED = "ResourceExhausted"


ASSIGNED_SIGNAL = "assigned"
"""The conversation's signal for an accepted offer (takes an `Assignment`)."""
CRISIS_NOTICE_SIGNAL = "crisis_notice"
"""The conversation's signal for a crisis nobody accepted in time (takes a `CrisisNotice`)."""
CALL_OFF_SIGNAL = "call_off"
"""The escalation's signal, from its conversation, of why it is about to be cancelled (takes a
`CallOff`)."""
WITHDRAW_UPDATE = "withdraw"
"""The escalation's update that takes back an open offer (takes a `WithdrawRequest`)."""
