"""The specialist's desk: what the specialist API does, over Temporal and the Redis live view.

The gRPC servicer authenticates and translates; the desk checks a request against the
configuration, takes or releases the live view's claim, runs the workflow's update or query and
turns Temporal's refusals into `RefusalError` with a `Rejection` the servicer maps to a status code.
Temporal stays the judge: the workflows' update validators decide what may happen, the desk only
refuses early what the configuration alone already rules out.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from types import NoneType
from typing import Annotated, Any, Final, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.offers import MARKED_UNAVAILABLE, withdraw_offers
from activities.routing import set_availability
from warmline.api.auth import NO_ANSWER_MESSAGE, Caller, answered_within
from warmline.config.model import WarmlineConfig
from warmline.conversation import (
    MAX_MESSAGE_CHARS,
    CompleteRequest,
    ConversationView,
    Correction,
    EndingRequest,
    HandBackRequest,
    SpecialistAction,
    SpecialistReply,
    Status,
    TransferRequest,
    TriageCorrection,
    workflow_id,
)
from warmline.errors import WarmlineError
from warmline.escalation import (
    AcceptRequest,
    AcceptResult,
    AssignRequest,
    DeclineRequest,
    EscalationStatus,
    EscalationView,
    Offer,
    OfferStatus,
    Rejection,
    escalation_of_offer,
    escalation_workflow_id,
)
from warmline.events.catalog import MAX_EXTERNAL_ID_CHARS, ExternalId
from warmline.handoff import HandoffPackage
from warmline.liveview import CLAIM_IN_USE, LiveView
from warmline.roster import AvailabilityRequest, MemberState, roster_workflow_id

log = logging.getLogger(__name__)

ModelT = TypeVar("ModelT", bound=BaseModel)
T = TypeVar("T")

VIEW_QUERY: Final = "view"


class Update:
    """The names of the workflow updates the desk sends."""

    ACCEPT: Final = "accept"
    ASSIGN: Final = "assign"
    DECLINE: Final = "decline"
    ACKNOWLEDGE_RISK: Final = "acknowledge_risk"
    REPLY: Final = "specialist_reply"
    CORRECT_TRIAGE: Final = "correct_triage"
    TRANSFER: Final = "transfer"
    HAND_BACK: Final = "hand_back"
    COMPLETE: Final = "complete"


MAX_ID_CHARS: Final = MAX_EXTERNAL_ID_CHARS
MAX_NOTE_CHARS: Final = 4_000
MAX_REASON_CHARS: Final = 500
MAX_LABELS: Final = 20
HANDOFF_WAIT: Final = timedelta(seconds=5)
"""How long Accept and GetHandoff wait for the handoff package to be rendered."""
HANDOFF_POLL: Final = timedelta(milliseconds=100)
WATCH_SLICE_S: Final = 5.0
"""How long one wait for an offer change blocks a thread; an ended watch frees it after this, and
holds its place in the limits below until then."""
MAX_WATCHERS: Final = 64
"""Threads for blocking Redis calls: one per open WatchOffers stream, plus the short calls."""
MAX_WATCHES_PER_SPECIALIST: Final = 4
"""WatchOffers streams one specialist may hold (a client per device, with room to spare); a newer
one ends the oldest. An ended stream whose wait still blocks its thread counts until the wait
returns."""
MAX_WATCHES: Final = MAX_WATCHERS - 16
"""WatchOffers streams in all, counted as above: each holds a thread, and the short calls need
some left."""
NO_ANSWER: Final = NO_ANSWER_MESSAGE
RPC_TIMEOUT: Final = timedelta(seconds=15)
"""How long the desk waits, in all, for a workflow's answer to a query or an update: with its
workers down a workflow never answers, and the caller is told to try again instead of waiting
forever."""


# --- errors ---------------------------------------------------------------------------------------


class DeskError(WarmlineError):
    """A specialist's request could not be carried out."""


class RefusalError(DeskError):
    """The request is refused for a reason the caller can act on; `rejection` names the status."""

    def __init__(self, rejection: Rejection, message: str) -> None:
        super().__init__(message)
        self.rejection = rejection
        self.message = message


class HandoffNotReadyError(DeskError):
    """The handoff package is still being prepared; asking again shortly will succeed."""


class BackendUnavailableError(DeskError):
    """A backend warmline needs (the roster workflow) is not running."""


class NoAnswerError(BackendUnavailableError):
    """The workflow did not answer within `RPC_TIMEOUT` (its workers are down or overloaded)."""

    def __init__(self) -> None:
        super().__init__(NO_ANSWER)


class WatchReplacedError(DeskError):
    """The specialist opened one watch too many: this one, their oldest, made room for it."""

    def __init__(self) -> None:
        super().__init__(
            f"replaced by a newer watch of your offers (at most {MAX_WATCHES_PER_SPECIALIST} "
            "stay open at once)"
        )


# --- validated requests ---------------------------------------------------------------------------

Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,62}$")]
"""Tenant ids, queues, labels and outcomes: the configuration's identifier form."""
Note = Annotated[str, Field(max_length=MAX_NOTE_CHARS)]


class Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OfferCommand(Command):
    offer_id: Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS * 2)]

    @property
    def escalation_id(self) -> str:
        escalation = escalation_of_offer(self.offer_id)
        if escalation is None:
            raise RefusalError(Rejection.INVALID_ARGUMENT, f"malformed offer id {self.offer_id!r}")
        return escalation

    @field_validator("offer_id")
    @classmethod
    def _well_formed(cls, value: str) -> str:
        if escalation_of_offer(value) is None:
            raise ValueError("not an offer id (they read 'escalation/…/offer/<n>')")
        return value


class Decline(OfferCommand):
    reason: Annotated[str, Field(max_length=MAX_REASON_CHARS)] = ""


class ConversationRef(Command):
    tenant_id: Slug
    conversation_id: ExternalId

    @property
    def workflow_id(self) -> str:
        return workflow_id(self.tenant_id, self.conversation_id)


def _has_text(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty or only whitespace")
    return value


class Assign(ConversationRef):
    specialist_id: Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS)]
    reason: Annotated[str, Field(max_length=MAX_REASON_CHARS)] = ""


class Reply(ConversationRef):
    message_id: ExternalId
    text: Annotated[str, Field(max_length=MAX_MESSAGE_CHARS)]

    _text = field_validator("text")(_has_text)


def _each_once(labels: list[str]) -> list[str]:
    return list(dict.fromkeys(labels))


class CorrectTriage(ConversationRef):
    message_id: ExternalId | None = None
    labels: Annotated[list[Slug], Field(min_length=1, max_length=MAX_LABELS)]
    """In the order given, each once (`["grief", "grief"]` is `["grief"]`)."""
    note: Note = ""

    _labels = field_validator("labels")(_each_once)


class Transfer(ConversationRef):
    queue: Slug
    note: Note = ""


class HandBack(ConversationRef):
    note: Note

    _note = field_validator("note")(_has_text)


class Complete(ConversationRef):
    outcome: Slug
    summary: Note = ""


def command(model: type[ModelT], **fields: Any) -> ModelT:
    """`model` validated from `fields`; a validation error is refused as INVALID_ARGUMENT."""
    try:
        return model.model_validate(fields)
    except ValidationError as error:
        raise RefusalError(Rejection.INVALID_ARGUMENT, _describe(error)) from None


def _describe(error: ValidationError) -> str:
    problems = []
    for detail in error.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in detail["loc"]) or "request"
        message = detail["msg"].removeprefix("Value error, ")
        problems.append(f"{where}: {message}")
    return "; ".join(problems)


# --- results --------------------------------------------------------------------------------------


@dataclass(eq=False)
class _Watch:
    """One WatchOffers stream of `specialist_id`, and whether it holds a place in the limits."""

    specialist_id: str
    replaced: asyncio.Event = field(default_factory=asyncio.Event)
    """Set to end the stream (a newer watch of the same specialist)."""
    ended: bool = False
    """The stream has ended; its last blocking call may still hold its thread."""
    blocking: Future[Any] | None = None
    """The stream's latest blocking call on the desk's thread pool."""

    @property
    def open(self) -> bool:
        return not (self.ended or self.replaced.is_set())

    @property
    def holds_place(self) -> bool:
        """Open, or on its way out with its thread still blocked in a call (a wait for a change
        lasts up to a watch slice, and an ended watch cannot interrupt it)."""
        return self.open or (self.blocking is not None and not self.blocking.done())


@dataclass(frozen=True)
class Accepted:
    result: AcceptResult
    handoff: HandoffPackage | None
    """None when the package was not rendered within `HANDOFF_WAIT` (ask `handoff` again)."""


@dataclass(frozen=True)
class OfferChange:
    """One item of a watch: an open offer, an offer gone, or the end of the initial snapshot."""

    offer: Offer | None = None
    gone: str | None = None
    synced: bool = False


# --- the desk -------------------------------------------------------------------------------------


class Desk:
    """What specialists can do; one per API process, shared by every call.

    Takes its clients ready-made: the Temporal client (with `pydantic_data_converter`), the live
    view and the thread pool that runs the live view's blocking Redis calls. `task_queue` is the
    workers' task queue: a rebuild of the live view reads only that deployment's workflows (None:
    every workflow of the namespace).
    """

    def __init__(
        self,
        client: Client,
        live_view: LiveView,
        config: WarmlineConfig,
        executor: ThreadPoolExecutor,
        *,
        roster_id: str | None = None,
        task_queue: str | None = None,
        handoff_wait: timedelta = HANDOFF_WAIT,
        watch_slice_s: float = WATCH_SLICE_S,
        rpc_timeout: timedelta = RPC_TIMEOUT,
    ) -> None:
        self._client = client
        self._live = live_view
        self._executor = executor
        self._queue_skills = {q.name: frozenset(q.skills) for q in config.routing.queues}
        self._tenants = [t.id for t in config.tenants]
        self._queues = [q.name for q in config.routing.queues]
        self._roster_id = roster_id or roster_workflow_id(config.metadata.name)
        self._task_queue = task_queue
        self._handoff_wait = handoff_wait
        self._watch_slice_s = watch_slice_s
        self._rpc_timeout = rpc_timeout
        self._watches: dict[str, list[_Watch]] = {}
        """Each specialist's watches, oldest first, until their threads are free again."""
        self._watch_freed = asyncio.Event()
        """Set (and replaced by a fresh one) whenever a watch gives up its place."""
        self._rebuilding = asyncio.Lock()

    def watching(self, specialist_id: str) -> int:
        """How many WatchOffers streams the specialist has open."""
        return sum(watch.open for watch in self._watches.get(specialist_id, ()))

    # --- offers -----------------------------------------------------------------------------------

    async def watch(self, caller: Caller) -> AsyncGenerator[OfferChange, None]:
        """The caller's open offers, a `synced` marker, then every change, until cancelled.

        At most `MAX_WATCHES_PER_SPECIALIST` at once for one caller: a newer watch ends their
        oldest with `WatchReplacedError`. A client whose network dropped without a word leaves its
        stream open until keepalive notices, and refusing the new watch would lock the specialist
        out meanwhile; the newest watch is the one somebody is looking at. `MAX_WATCHES` in all.

        A watch's wait for a change blocks a thread for up to a watch slice, and an ended watch
        (cancelled by its client, or replaced) cannot interrupt it: the watch keeps its place in
        both limits until its thread is free. A client that cancels and reopens its watch in a
        tight loop then waits for its own places instead of taking one thread after another from
        the pool every other call needs.
        """
        watch = await self._place_for(caller.specialist_id)
        try:
            async with contextlib.aclosing(self._changes(caller, watch)) as changes:
                async for change in changes:
                    yield change
        finally:
            watch.ended = True
            self._settle(watch)

    async def _place_for(self, specialist_id: str) -> _Watch:
        """A place in the limits for a new watch of `specialist_id`. If they hold as many as
        they may, their oldest open watch is ended, and the new one waits until one of theirs
        gives up its place (at once, unless its thread is blocked: at most a watch slice)."""
        waited = False
        while True:
            mine = [w for w in self._watches.get(specialist_id, ()) if w.holds_place]
            if len(mine) < MAX_WATCHES_PER_SPECIALIST:
                break
            oldest = next((w for w in mine if w.open), None)
            if not waited and oldest is not None:
                oldest.replaced.set()
            else:
                await self._watch_freed.wait()
            waited = True
        # A watch that took the place of one of the specialist's own needs no new one.
        if not waited and self._places_held() >= MAX_WATCHES:
            raise RefusalError(
                Rejection.RESOURCE_EXHAUSTED,
                "the server watches offers for as many streams as it can; try again shortly",
            )
        watch = _Watch(specialist_id)
        self._watches.setdefault(specialist_id, []).append(watch)
        return watch

    def _places_held(self) -> int:
        return sum(w.holds_place for watches in self._watches.values() for w in watches)

    def _settle(self, watch: _Watch) -> None:
        """After a watch's stream ended, was replaced, or one of its blocking calls returned:
        forget an ended watch that holds no place, and wake the watches waiting for one."""
        if watch.open:
            return
        if not watch.holds_place:
            mine = self._watches.get(watch.specialist_id)
            if mine is not None and watch in mine:
                mine.remove(watch)
                if not mine:
                    del self._watches[watch.specialist_id]
        self._watch_freed.set()
        self._watch_freed = asyncio.Event()

    async def _changes(self, caller: Caller, watch: _Watch) -> AsyncGenerator[OfferChange, None]:
        shown: dict[str, Offer] = {}
        first = True
        while True:
            # Before every read, not only the first: a view lost while the watch is open (a
            # FLUSHALL, a failover) would otherwise read as every offer gone, and no open watch
            # would rebuild it.
            await self._ensure_built()
            mine = await _unless(
                watch.replaced,
                self._watch_blocking(watch, self._live.offers_for, caller.specialist_id),
            )
            offers = {offer.offer_id: offer for offer in mine if self._may_see(caller, offer)}
            for offer_id in [o for o in shown if o not in offers]:
                del shown[offer_id]
                yield OfferChange(gone=offer_id)
            for offer_id, offer in offers.items():
                if shown.get(offer_id) != offer:
                    shown[offer_id] = offer
                    yield OfferChange(offer=offer)
            if first:
                first = False
                yield OfferChange(synced=True)
            await _unless(
                watch.replaced,
                self._watch_blocking(
                    watch,
                    self._live.wait_for_change,
                    caller.specialist_id,
                    self._next_wait(offers.values()),
                ),
            )

    async def _ensure_built(self) -> None:
        """Rebuild the live view from this deployment's workflows if it was lost; one rebuild at a
        time, however many calls find it lost."""
        if await self._blocking(self._live.is_built):
            return
        async with self._rebuilding:
            if not await self._blocking(self._live.is_built):
                await self._live.rebuild(self._client, task_queue=self._task_queue)

    def _next_wait(self, offers: Iterable[Offer]) -> float:
        """Wake for the next change or, at the latest, when the soonest offer expires."""
        expiries = [offer.expires_at.timestamp() for offer in offers]
        if not expiries:
            return self._watch_slice_s
        # Expiry times are the workflow's, which the live view compares with the wall clock too.
        return max(0.05, min(self._watch_slice_s, min(expiries) - time.time() + 0.05))

    def _may_see(self, caller: Caller, offer: Offer) -> bool:
        if offer.specialist_id != caller.specialist_id:
            return False
        needed = self._queue_skills.get(offer.queue)
        return needed is not None and needed <= caller.skills

    async def accept(self, caller: Caller, request: OfferCommand) -> Accepted:
        """Claim the conversation, accept the offer, then wait a little for the handoff."""
        offer = await self._offer_for(caller, request, retried=OfferStatus.ACCEPTED)
        tenant, conversation = offer.tenant_id, offer.conversation_id
        if offer.status is OfferStatus.ACCEPTED:
            return await self._accepted_again(caller, offer)
        held_before = await self._blocking(self._live.claim_holder, tenant, conversation)
        holder = await self._blocking(self._live.claim, tenant, conversation, caller.specialist_id)
        if holder != caller.specialist_id:
            holder = await self._take_over_left_claim(caller, tenant, conversation, holder)
        if holder != caller.specialist_id:
            raise RefusalError(
                Rejection.FAILED_PRECONDITION,
                "the conversation was already accepted by another specialist",
            )
        try:
            result: AcceptResult = await self._update(
                request.escalation_id,
                Update.ACCEPT,
                AcceptRequest(offer_id=request.offer_id, specialist_id=caller.specialist_id),
                result_type=AcceptResult,
                missing="no such offer",
                ended="the offer is no longer open",
            )
        except BaseException:
            # Keep a claim this specialist held before (a retried accept), drop one taken now.
            if held_before != caller.specialist_id:
                await self._blocking(
                    self._live.release_claim, tenant, conversation, caller.specialist_id
                )
            raise
        ref = ConversationRef(tenant_id=result.tenant_id, conversation_id=result.conversation_id)
        try:
            handoff = await self._wait_for_handoff(caller, ref, accepted=True)
        except (HandoffNotReadyError, NoAnswerError):
            # Accepted all the same: GetHandoff (or the accept again) answers once it is ready.
            handoff = None
        return Accepted(result=result, handoff=handoff)

    async def _take_over_left_claim(
        self, caller: Caller, tenant: str, conversation: str, holder: str
    ) -> str:
        """Take over `holder`'s claim if a desk left it: not claimed again within `CLAIM_IN_USE`
        (no accept of theirs can still run) and they do not own the conversation. Returns who
        holds the claim now.

        A desk that stops between its claim and the escalation's accept (a crash, a redeploy)
        cannot release the claim, and the claim has no TTL: the conversation would refuse every
        other specialist's accept until it ended, while its escalation waited and paged.
        """
        if await self._blocking(self._live.claim_in_use, tenant, conversation):
            return holder
        view: ConversationView = await self._query(
            workflow_id(tenant, conversation),
            ConversationView,
            missing="no such conversation",
        )
        if view.owner == holder:
            return holder
        now = await self._blocking(
            self._live.take_over_claim, tenant, conversation, holder, caller.specialist_id
        )
        if now == caller.specialist_id:
            log.warning(
                "took over %s's claim on %s/%s for %s: unused for %s and not the owner (a desk "
                "stopped between its claim and its accept)",
                holder,
                tenant,
                conversation,
                caller.specialist_id,
                CLAIM_IN_USE,
            )
        return now

    # --- supervisors ----------------------------------------------------------------------------

    async def assign(self, supervisor_id: str, request: Assign) -> Offer:
        """Assign the conversation's paged escalation to a specialist: the escalation's `assign`
        update judges it (paged, roster member, skills, no break, a free slot) and makes the
        offer, which the specialist accepts like any other."""
        view = await self._query(
            request.workflow_id, ConversationView, missing="no such conversation"
        )
        if view.status is not Status.ESCALATED or view.escalations == 0:
            raise RefusalError(
                Rejection.FAILED_PRECONDITION, "the conversation is not waiting for a specialist"
            )
        escalation = escalation_workflow_id(
            request.tenant_id, request.conversation_id, view.escalations
        )
        assignment = AssignRequest(
            supervisor_id=supervisor_id,
            specialist_id=request.specialist_id,
            reason=request.reason,
        )
        try:
            offer: Offer = await self._update(
                escalation,
                Update.ASSIGN,
                assignment,
                result_type=Offer,
                # The conversation exists, so its escalation not running yet (just escalated, or
                # no routing) is a state to wait out, not an unknown name.
                missing="the conversation's escalation has not paged a supervisor",
                missing_is=Rejection.FAILED_PRECONDITION,
                ended="the escalation was already accepted or has ended",
            )
        except RefusalError as refusal:
            if refusal.rejection is not Rejection.FAILED_PRECONDITION:
                raise
            return await self._assigned_already(escalation, assignment, refusal)
        return offer

    async def _assigned_already(
        self, escalation: str, assignment: AssignRequest, refusal: RefusalError
    ) -> Offer:
        """The open offer the same supervisor's assignment of the same specialist made, for a
        retry whose first answer was lost; else `refusal` stands (the specialist holds an offer
        another supervisor or the routing made, or the conversation, or nothing is open)."""
        try:
            view: EscalationView = await self._query(
                escalation, EscalationView, missing="the escalation is not running"
            )
        except DeskError:
            raise refusal from None
        made = next(
            (
                o
                for o in view.offers
                if o.status is OfferStatus.OPEN
                and o.specialist_id == assignment.specialist_id
                and o.assigned_by == assignment.supervisor_id
            ),
            None,
        )
        if made is None:
            raise refusal
        return made

    async def paged(self) -> list[EscalationView]:
        """Every waiting escalation that has paged a supervisor, longest paged first, from the
        live view (the queues' waiting lists; rebuilt first if it was lost)."""
        await self._ensure_built()
        views = [
            view
            for tenant in self._tenants
            for queue in self._queues
            for view in await self._blocking(self._live.waiting, tenant, queue)
            if view.paged_at is not None and view.status is EscalationStatus.WAITING
        ]
        return sorted(views, key=lambda v: (v.paged_at, v.escalation_id))

    async def decline(self, caller: Caller, request: Decline) -> None:
        """Decline the caller's open offer; declining it again (a retry after a lost answer)
        succeeds and changes nothing."""
        offer = await self._offer_for(caller, request, retried=OfferStatus.DECLINED)
        if offer.status is OfferStatus.DECLINED:
            return
        try:
            await self._update(
                request.escalation_id,
                Update.DECLINE,
                DeclineRequest(
                    offer_id=request.offer_id,
                    specialist_id=caller.specialist_id,
                    reason=request.reason,
                ),
                result_type=NoneType,
                missing="no such offer",
                ended="the offer is no longer open",
            )
        except RefusalError as refusal:
            # The live view may not show the first decline yet; the escalation knows.
            if refusal.rejection is not Rejection.FAILED_PRECONDITION:
                raise
            view: EscalationView = await self._query(
                request.escalation_id, EscalationView, missing="no such offer"
            )
            if not any(
                o.offer_id == request.offer_id and o.status is OfferStatus.DECLINED
                for o in view.offers
            ):
                raise

    async def _accepted_again(self, caller: Caller, offer: Offer) -> Accepted:
        """A retried accept of the caller's own accepted offer (its answer was lost, or came
        without the package): the same answer again while they still hold the conversation, or
        while the escalation has yet to tell the conversation of the accept; else the offer is no
        longer open."""
        ref = ConversationRef(tenant_id=offer.tenant_id, conversation_id=offer.conversation_id)
        view = await self._query(ref.workflow_id, ConversationView, missing="no such conversation")
        result = AcceptResult(
            offer_id=offer.offer_id,
            tenant_id=offer.tenant_id,
            conversation_id=offer.conversation_id,
            queue=offer.queue,
            conversation_workflow_id=ref.workflow_id,
        )
        if view.owner == caller.specialist_id:
            return Accepted(result=result, handoff=view.handoff)
        # The escalation tells the conversation only after it has closed the other offers and
        # occupied the roster: until then the conversation still waits on this escalation, with
        # no owner, and the accept is the caller's all the same.
        this_escalation = escalation_workflow_id(
            offer.tenant_id, offer.conversation_id, view.escalations
        )
        if (
            view.owner is not None
            or view.status is not Status.ESCALATED
            or this_escalation != escalation_of_offer(offer.offer_id)
        ):
            raise RefusalError(
                Rejection.FAILED_PRECONDITION, "the offer is no longer open (it was accepted)"
            )
        try:
            handoff = await self._wait_for_handoff(caller, ref, accepted=True)
        except (HandoffNotReadyError, NoAnswerError):
            handoff = None
        return Accepted(result=result, handoff=handoff)

    async def _offer_for(
        self, caller: Caller, request: OfferCommand, *, retried: OfferStatus | None = None
    ) -> Offer:
        """The offer, if it was made to the caller in a queue whose skills they have.

        The live view has every open offer; one it lacks (closed, or the view was lost) is looked up
        in its escalation, which also knows closed offers. An offer in the `retried` status is
        returned too (the caller's accept or decline, retried after a lost answer).
        """
        offer = await self._blocking(self._live.offer, request.offer_id)
        if offer is None:
            view: EscalationView = await self._query(
                request.escalation_id, EscalationView, missing="no such offer"
            )
            offer = next((o for o in view.offers if o.offer_id == request.offer_id), None)
            if offer is None:
                raise RefusalError(Rejection.NOT_FOUND, "no such offer")
        if offer.specialist_id != caller.specialist_id:
            raise RefusalError(
                Rejection.PERMISSION_DENIED, "this offer was made to another specialist"
            )
        needed = self._queue_skills.get(offer.queue)
        if needed is None or not needed <= caller.skills:
            raise RefusalError(
                Rejection.PERMISSION_DENIED,
                f"you do not have the skills of queue {offer.queue!r}",
            )
        if offer.status is retried:
            return offer
        if offer.status is not OfferStatus.OPEN:
            raise RefusalError(
                Rejection.FAILED_PRECONDITION,
                f"the offer is no longer open (it was {offer.status.value})",
            )
        return offer

    # --- conversations ----------------------------------------------------------------------------

    async def handoff(self, caller: Caller, ref: ConversationRef) -> HandoffPackage:
        """The handoff package of a conversation the caller owns; waits a little for it."""
        holder = await self._blocking(self._live.claim_holder, ref.tenant_id, ref.conversation_id)
        return await self._wait_for_handoff(caller, ref, accepted=holder == caller.specialist_id)

    async def conversation(self, caller: Caller, ref: ConversationRef) -> ConversationView:
        return await self._owned_view(caller, ref)

    async def acknowledge_risk(self, caller: Caller, ref: ConversationRef) -> None:
        await self._conversation_update(
            ref, Update.ACKNOWLEDGE_RISK, SpecialistAction(specialist_id=caller.specialist_id)
        )

    async def reply(self, caller: Caller, request: Reply) -> None:
        await self._conversation_update(
            request,
            Update.REPLY,
            SpecialistReply(
                specialist_id=caller.specialist_id,
                message_id=request.message_id,
                text=request.text,
            ),
        )

    async def correct_triage(self, caller: Caller, request: CorrectTriage) -> Correction:
        correction: Correction = await self._conversation_update(
            request,
            Update.CORRECT_TRIAGE,
            TriageCorrection(
                specialist_id=caller.specialist_id,
                message_id=request.message_id,
                labels=request.labels,
                note=request.note,
            ),
            result_type=Correction,
        )
        return correction

    async def transfer(self, caller: Caller, request: Transfer) -> None:
        if request.queue not in self._queue_skills:
            raise RefusalError(Rejection.INVALID_ARGUMENT, f"unknown queue {request.queue!r}")
        await self._end_handoff(
            caller,
            request,
            Update.TRANSFER,
            TransferRequest(
                specialist_id=caller.specialist_id, queue=request.queue, note=request.note
            ),
        )

    async def hand_back(self, caller: Caller, request: HandBack) -> None:
        await self._end_handoff(
            caller,
            request,
            Update.HAND_BACK,
            HandBackRequest(specialist_id=caller.specialist_id, note=request.note),
        )

    async def complete(self, caller: Caller, request: Complete) -> None:
        await self._end_handoff(
            caller,
            request,
            Update.COMPLETE,
            CompleteRequest(
                specialist_id=caller.specialist_id,
                outcome=request.outcome,
                summary=request.summary,
            ),
        )

    async def _end_handoff(
        self, caller: Caller, ref: ConversationRef, update: str, ending: EndingRequest
    ) -> None:
        """Complete, hand back or transfer, then release the caller's claim.

        The same request again from the same specialist (a retry after a lost answer) is answered
        as the first was: the conversation's update takes it while the workflow runs; once it
        has closed (a completion without a survey closes it at once) the update cannot reach it,
        and its `view` (a closed workflow still answers queries) says whether this request ended
        the handoff.
        """
        try:
            await self._conversation_update(ref, update, ending)
        except RefusalError as refusal:
            if refusal.rejection is not Rejection.FAILED_PRECONDITION:
                raise
            try:
                view = await self._query(
                    ref.workflow_id, ConversationView, missing="no such conversation"
                )
            except DeskError:
                raise refusal from None
            ended = view.ended
            if ended is None or ended.specialist_id != caller.specialist_id:
                raise
            if not ended.repeated_by(ending):
                if view.owner is not None:
                    raise
                # Once the conversation has closed its update can no longer say what they did.
                raise RefusalError(Rejection.FAILED_PRECONDITION, ended.refusal()) from None
        await self._release(caller, ref)

    async def set_availability(self, caller: Caller, available: bool) -> MemberState:
        """Mark the caller available or not; going unavailable also takes back the offers open
        to them (the roster already makes them no new ones), so their escalations move on.

        The offers to take back are read from the live view, so a lost view is rebuilt first:
        an escalation shows its open offers there again only at its next change, and until then
        they would stay open to someone who has left the desk."""
        request = AvailabilityRequest(specialist_id=caller.specialist_id, available=available)
        try:
            state = await self._answered(
                set_availability(
                    self._client, self._roster_id, request, rpc_timeout=self._rpc_timeout
                )
            )
        except RPCError as error:
            if error.status is RPCStatusCode.NOT_FOUND:
                raise BackendUnavailableError(
                    "the roster is not running yet; try again shortly"
                ) from None
            raise
        except WorkflowUpdateFailedError as error:
            raise _refusal(error) from None
        if not available:
            await self._ensure_built()
            # One bound for every withdrawal: each is an update, answered at once while the
            # escalations' workers run. A retry after no answer withdraws what is still open.
            await self._answered(
                withdraw_offers(
                    self._client,
                    self._live,
                    caller.specialist_id,
                    MARKED_UNAVAILABLE,
                    rpc_timeout=self._rpc_timeout,
                )
            )
        return state

    async def _release(self, caller: Caller, ref: ConversationRef) -> None:
        await self._blocking(
            self._live.release_claim, ref.tenant_id, ref.conversation_id, caller.specialist_id
        )

    async def _owned_view(self, caller: Caller, ref: ConversationRef) -> ConversationView:
        view: ConversationView = await self._query(
            ref.workflow_id, ConversationView, missing="no such conversation"
        )
        if view.owner != caller.specialist_id:
            raise RefusalError(Rejection.PERMISSION_DENIED, "you do not own this conversation")
        return view

    async def _wait_for_handoff(
        self, caller: Caller, ref: ConversationRef, *, accepted: bool
    ) -> HandoffPackage:
        """The package rendered for the caller, waiting a little for it.

        An accept returns before the escalation has told the conversation, and the package is
        rendered after that (as an activity), so just after an accept the conversation may show no
        owner yet, or its owner without the package. Someone who did not just accept (nor holds
        the claim) is refused at once.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._handoff_wait.total_seconds()
        while True:
            view: ConversationView = await self._query(
                ref.workflow_id, ConversationView, missing="no such conversation"
            )
            mine = view.owner == caller.specialist_id
            if (
                mine
                and view.handoff is not None
                and view.handoff.specialist_id == caller.specialist_id
            ):
                return view.handoff
            # The owner waits for their package to be rendered; so does whoever just accepted
            # while the conversation has no owner yet. Anyone else is refused.
            if not mine and (view.owner is not None or not accepted):
                raise RefusalError(Rejection.PERMISSION_DENIED, "you do not own this conversation")
            if loop.time() >= deadline:
                raise HandoffNotReadyError(
                    "the handoff package is still being prepared; ask again shortly"
                )
            await asyncio.sleep(HANDOFF_POLL.total_seconds())

    async def _conversation_update(
        self,
        ref: ConversationRef,
        update: str,
        argument: BaseModel,
        *,
        result_type: type[Any] = NoneType,
    ) -> Any:
        return await self._update(
            ref.workflow_id,
            update,
            argument,
            result_type=result_type,
            missing="no such conversation",
            ended="the conversation has ended",
        )

    # --- Temporal ---------------------------------------------------------------------------------

    async def _update(
        self,
        workflow: str,
        update: str,
        argument: BaseModel,
        *,
        result_type: type[Any],
        missing: str,
        ended: str,
        missing_is: Rejection = Rejection.NOT_FOUND,
    ) -> Any:
        """Run `update`; a workflow that does not run is refused as `missing` (with `missing_is`)
        or, if it finished, as `ended` (FAILED_PRECONDITION)."""
        handle: WorkflowHandle[Any, Any] = self._client.get_workflow_handle(workflow)
        try:
            return await self._answered(
                handle.execute_update(
                    update, argument, result_type=result_type, rpc_timeout=self._rpc_timeout
                )
            )
        except WorkflowUpdateFailedError as error:
            raise _refusal(error) from None
        except RPCError as error:
            if error.status is not RPCStatusCode.NOT_FOUND:
                raise
            # Both a workflow that never existed and one that finished answer NOT_FOUND.
            raise await self._gone(handle, RefusalError(missing_is, missing), ended) from None

    async def _query(self, workflow: str, result_type: type[ModelT], *, missing: str) -> ModelT:
        handle: WorkflowHandle[Any, Any] = self._client.get_workflow_handle(workflow)
        try:
            view: ModelT = await self._answered(
                handle.query(VIEW_QUERY, result_type=result_type, rpc_timeout=self._rpc_timeout)
            )
        except RPCError as error:
            if error.status is RPCStatusCode.NOT_FOUND:
                raise RefusalError(Rejection.NOT_FOUND, missing) from None
            raise
        except WorkflowQueryFailedError as error:
            raise DeskError(f"the {VIEW_QUERY} query failed: {error}") from None
        return view

    async def _gone(
        self, handle: WorkflowHandle[Any, Any], missing: RefusalError, ended: str
    ) -> RefusalError:
        try:
            description = await self._answered(handle.describe(rpc_timeout=self._rpc_timeout))
        except RPCError as error:
            if error.status is RPCStatusCode.NOT_FOUND:
                return missing
            raise
        if description.status is WorkflowExecutionStatus.RUNNING:
            return missing
        return RefusalError(Rejection.FAILED_PRECONDITION, ended)

    async def _answered(self, call: Awaitable[T]) -> T:
        """`call` (an update, a query, a describe) within `rpc_timeout` in all, else
        `NoAnswerError`: the SDK's `rpc_timeout` bounds one RPC, and an update polls again while
        the server says "not yet" (see `answered_within`)."""
        return await answered_within(self._rpc_timeout, call, NoAnswerError)

    async def _blocking(self, function: Callable[..., T], *args: Any) -> T:
        """Run a blocking live-view call on the desk's thread pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(function, *args))

    async def _watch_blocking(self, watch: _Watch, function: Callable[..., T], *args: Any) -> T:
        """Run a watch's blocking live-view call on the desk's thread pool, noting it on the watch:
        a call that outlives the watch keeps its place until it returns."""
        loop = asyncio.get_running_loop()

        def returned(_: Future[Any]) -> None:
            # On the pool's thread: the bookkeeping is the event loop's, unless it has closed
            # (the process is ending, and nobody counts any more).
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._settle, watch)

        blocking = self._executor.submit(function, *args)
        watch.blocking = blocking
        blocking.add_done_callback(returned)
        return await asyncio.wrap_future(blocking)


async def _unless(replaced: asyncio.Event, work: Awaitable[T]) -> T:
    """`work`'s result, unless the watch is replaced first: then `WatchReplacedError` (a blocking
    call already running finishes on its thread, within one watch slice)."""
    doing = asyncio.ensure_future(work)
    ending = asyncio.ensure_future(replaced.wait())
    try:
        await asyncio.wait({doing, ending}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        ending.cancel()
        if not doing.done():
            doing.cancel()
    if doing.done() and not doing.cancelled():
        return doing.result()
    raise WatchReplacedError


def _refusal(error: WorkflowUpdateFailedError) -> Exception:
    """The validator's refusal as `RefusalError`; any other failure stays what it is."""
    cause = error.cause
    if isinstance(cause, ApplicationError) and cause.type in set(Rejection):
        return RefusalError(Rejection(cause.type), cause.message)
    return error
