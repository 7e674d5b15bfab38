"""The roster's shared types: who the specialists are, what each is doing, how offers reserve them.

One `RosterWorkflow` per deployment is the source of truth for availability and load across every
conversation: an offer reserves a slot of a specialist's capacity, an accept turns the reservation
into an owned conversation, and a decline, expiry or withdrawal releases it. Each operation is
idempotent (a retried activity repeats it harmlessly).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from warmline.routing import SpecialistState
from warmline.wellness.view import WorkerWellness


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class RosterMember(_Model):
    """A specialist as configured."""

    id: str
    skills: list[str] = Field(default_factory=list)
    capacity: int = Field(default=2, ge=1)
    crisis_trained: bool = False


ConversationKey = tuple[str | None, str]
"""A conversation as the roster knows it: its tenant (None when recorded before tenants were
kept) and its id, which is unique only within the tenant."""


def same_conversation(a: ConversationKey, b: ConversationKey) -> bool:
    """Whether two keys name one conversation: the same id in the same tenant. A key without a
    tenant (from a history recorded before the roster kept them) matches the id in any tenant,
    as every key did then."""
    (tenant_a, id_a), (tenant_b, id_b) = a, b
    return id_a == id_b and (tenant_a is None or tenant_b is None or tenant_a == tenant_b)


class Reservation(_Model):
    """An open offer holding one slot of a specialist's capacity."""

    offer_id: str
    specialist_id: str
    conversation_id: str
    tenant_id: str | None = None
    """The conversation's tenant (None in histories from before the field)."""

    @property
    def conversation(self) -> ConversationKey:
        return (self.tenant_id, self.conversation_id)


class MemberState(_Model):
    """What the roster knows of one specialist now."""

    id: str
    available: bool = True
    conversations: list[str] = Field(default_factory=list)
    """Conversations the specialist owns (their ids; two tenants' may be alike)."""
    idle_since: datetime | None = None
    offers_received: int = 0
    tenants: list[str | None] = Field(default_factory=list)
    """The tenant of each of `conversations`, in order; shorter in states carried over from
    before the field (their conversations have no tenant: `owned`)."""

    @property
    def owned(self) -> list[ConversationKey]:
        """The conversations the specialist owns, keyed by tenant and id."""
        tenants = [*self.tenants, *[None] * (len(self.conversations) - len(self.tenants))]
        return list(zip(tenants, self.conversations, strict=True))

    def owns(self, conversation: ConversationKey) -> bool:
        return any(same_conversation(conversation, mine) for mine in self.owned)

    def with_owned(self, owned: list[ConversationKey]) -> MemberState:
        """This state with these conversations owned instead."""
        return self.model_copy(
            update={"conversations": [c for _, c in owned], "tenants": [t for t, _ in owned]}
        )


class RosterSettings(_Model):
    members: list[RosterMember]
    strategy: str = "longest_idle"
    breaks_stop_offers: bool = True
    """A worker on a break (their wellness view says so) gets no new offer under every strategy,
    not only `wellness_aware`. Only the routing benchmark's TaskRouter-style baseline turns it
    off, since that baseline is defined as ignoring wellness altogether."""


class RosterInput(_Model):
    roster_id: str
    settings: RosterSettings
    states: list[MemberState] = Field(default_factory=list)
    """Carried over when the roster continues as new."""
    reservations: list[Reservation] = Field(default_factory=list)


class WellnessFlags(_Model):
    """What routing needs of a member's wellness view: small, since it enters the roster's
    history with every reserve."""

    on_break: bool = False
    over_budget: bool = False
    rotated_off_intense: bool = False
    crisis_blocked: bool = False
    exposure_minutes: float = 0.0
    budget_pace: float = 0.0
    shift_ends_at: datetime | None = None

    @classmethod
    def of(cls, view: WorkerWellness) -> WellnessFlags:
        return cls(
            on_break=view.on_break,
            over_budget=view.over_budget,
            rotated_off_intense=view.rotated_off_intense,
            crisis_blocked=view.crisis_blocked,
            exposure_minutes=round(view.exposure_minutes, 3),
            budget_pace=view.budget_pace,
            shift_ends_at=view.shift_ends_at,
        )

    def projected_exposure(self, now: datetime) -> float:
        """Exposure at the shift's end if the rest of it went at the budget's pace."""
        if self.shift_ends_at is None or self.shift_ends_at <= now:
            return self.exposure_minutes
        left = (self.shift_ends_at - now).total_seconds() / 60
        return round(self.exposure_minutes + self.budget_pace * left, 3)


class ReserveRequest(_Model):
    """Reserve up to `len(offer_ids)` eligible specialists, best first, one per offer id."""

    conversation_id: str
    offer_ids: list[str]
    skills: list[str] = Field(default_factory=list)
    crisis: bool = False
    exclude: list[str] = Field(default_factory=list)
    intense: bool = False
    """The queue is intense (`routing.queues[].intense`)."""
    wellness: dict[str, WellnessFlags] = Field(default_factory=dict)
    """Members' wellness, read by the reserve activity (a workflow cannot read Redis); a member
    left out is fresh (no exposure, no break)."""
    tenant_id: str | None = None
    """The conversation's tenant: conversation ids are unique only within one (None in
    histories from before the field)."""

    @property
    def conversation(self) -> ConversationKey:
        return (self.tenant_id, self.conversation_id)


class ReserveResult(_Model):
    reservations: list[Reservation]


class AssignToRequest(_Model):
    """Reserve a slot of one named specialist for a supervisor's assignment: the wellness filter
    and the ranking are overridden, the hard limits are not (a roster member with the queue's
    skills, crisis-trained for the crisis lane, available, not on a break, a free slot)."""

    conversation_id: str
    offer_id: str
    specialist_id: str
    skills: list[str] = Field(default_factory=list)
    crisis: bool = False
    wellness: WellnessFlags | None = None
    """The member's wellness, read by the assign activity; None is fresh (no break)."""
    tenant_id: str | None = None
    """The conversation's tenant (None in histories from before the field)."""

    @property
    def conversation(self) -> ConversationKey:
        return (self.tenant_id, self.conversation_id)


class AssignToResult(_Model):
    """The reservation, or why the roster refused it (`refused` is a `Rejection` name)."""

    reservation: Reservation | None = None
    refused: str | None = None
    message: str = ""


class ReleaseRequest(_Model):
    """An offer was declined, expired or withdrawn: its slot is free again."""

    offer_id: str
    idle: bool = True
    """Whether the specialist counts as idle from now (a decline or expiry, not a withdrawal)."""


class OccupyRequest(_Model):
    """An offer was accepted: the specialist now owns the conversation."""

    offer_id: str


class FreeRequest(_Model):
    """A specialist no longer owns a conversation (completed, transferred or handed back)."""

    specialist_id: str
    conversation_id: str
    tenant_id: str | None = None
    """The conversation's tenant, which with the id names the conversation on the roster, and
    to release the specialist's claim on it in the live view too (None in histories from before
    the field)."""

    @property
    def conversation(self) -> ConversationKey:
        return (self.tenant_id, self.conversation_id)


class AvailabilityRequest(_Model):
    specialist_id: str
    available: bool


class RosterMemberView(_Model):
    member: RosterMember
    state: MemberState
    reserved: int

    @property
    def routing_state(self) -> SpecialistState:
        return self.routing_state_with(None)

    def routing_state_with(
        self, wellness: WellnessFlags | WorkerWellness | None, now: datetime | None = None
    ) -> SpecialistState:
        """The routing snapshot, with the member's wellness when there is one."""
        extra: dict[str, object] = {}
        if wellness is not None:
            flags = wellness if isinstance(wellness, WellnessFlags) else WellnessFlags.of(wellness)
            extra = flags.model_dump(
                include={
                    "on_break",
                    "over_budget",
                    "rotated_off_intense",
                    "crisis_blocked",
                    "exposure_minutes",
                    "shift_ends_at",
                }
            )
            if now is not None:
                extra["projected_exposure"] = flags.projected_exposure(now)
        return SpecialistState(
            id=self.member.id,
            skills=frozenset(self.member.skills),
            capacity=self.member.capacity,
            active=len(self.state.conversations) + self.reserved,
            available=self.state.available,
            crisis_trained=self.member.crisis_trained,
            idle_since=self.state.idle_since,
            offers_received=self.state.offers_received,
            **extra,
        )


class RosterView(_Model):
    members: list[RosterMemberView]
    reservations: list[Reservation]


def roster_workflow_id(deployment: str, task_queue: str = "warmline") -> str:
    """One roster per deployment and task queue: the workers serving that queue run it."""
    return f"roster/{deployment}/{task_queue}"
