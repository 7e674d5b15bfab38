"""EscalationWorkflow: finds a specialist for one escalated conversation, or pages a supervisor.

A child of the conversation. In an ordinary queue it offers the conversation to one eligible
specialist at a time: a decline goes to the next candidate; an offer that expires is an SLA breach
and moves the escalation along the queue's escalation chain, as does waiting `accept_within` with
nobody to offer to; once the chain is exhausted the queue's supervisor is paged and offers go on.
In the crisis lane it offers to up to K crisis-trained specialists at once, the first accept wins
and the other offers are withdrawn; with `widen_after` set, the best-ranked specialist alone is
offered it first and the lane tops up to K offers once `widen_after` has passed. If nobody accepts
by the lane's deadline the supervisor is paged and the customer is sent the referral resources,
and offers go on. Once paged, a supervisor may assign the escalation to a specialist of their
choosing (the `assign` update): one more offer, beside the ones the routing makes, that overrides
the wellness filter but not the roster's hard limits; the first accept wins either way.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    FailureError,
    is_cancelled_exception,
)

from workflows.scope import execution_scope

with workflow.unsafe.imports_passed_through():
    from activities.events import EventActivities, EventBatch
    from activities.liveview import LiveViewActivities
    from activities.offers import OfferActivities, RecheckCall
    from activities.routing import (
        AssignToCall,
        FreeCall,
        OccupyCall,
        ReleaseCall,
        ReserveCall,
        RosterActivities,
    )
    from warmline.escalation import (
        ASSIGNED_SIGNAL,
        CALL_OFF_SIGNAL,
        CONVERSATION_CLOSED,
        CRISIS_NOTICE_SIGNAL,
        HISTORY_BYTES_PER_RUN,
        OFFER_MARK,
        WITHDRAW_UPDATE,
        AcceptRequest,
        AcceptResult,
        Assignment,
        AssignRequest,
        CallOff,
        CrisisNotice,
        DeclineRequest,
        EscalationCarry,
        EscalationInput,
        EscalationOutcome,
        EscalationStatus,
        EscalationView,
        Offer,
        OfferStatus,
        QueueSpec,
        Rejection,
        WithdrawRequest,
        offer_id,
    )
    from warmline.events import DomainEvent, EventType, event_id
    from warmline.roster import (
        AssignToRequest,
        FreeRequest,
        OccupyRequest,
        ReleaseRequest,
        ReserveRequest,
        ReserveResult,
    )

T = TypeVar("T")
ACTIVITY_TIMEOUT = timedelta(seconds=30)
# Roster updates and events must happen: retry until they do.
DURABLE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
)
# The live view is rebuildable: a few quick attempts, then a later change or a rebuild repairs it.
VIEW_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_attempts=3)
SUPERVISOR_QUEUE = "supervisor"
FREE_WHEN_CONVERSATION_GONE = "free-slot-when-the-conversation-is-gone"
"""Patch marker: an accept whose conversation has already ended frees the roster slot (before,
the slot stayed occupied and `handoff.accepted` went out for a conversation nobody could hold)."""
OFFERED_IS_NOT_NOBODY = "an-open-offer-restarts-the-nobody-clock"
"""Patch marker: an open offer (a supervisor's, beside the routing's search) means somebody has
been offered the conversation. Before, the moment the queue would be given up for want of
anybody stayed in the wake-up times after it passed, and the queue polled the roster on 1 ms
timers until that offer was accepted or expired: hundreds of activities in a crisis lane."""
CLEAN_UP_A_CANCEL = "clean-up-a-cancel-that-lands-during-an-activity"
"""Patch marker: a cancel (the conversation ended) that lands while an activity runs is cleaned up
after like one that lands while the escalation waits, and roster calls and event publishes are no
longer interrupted by it: the cleanup waits for them, then releases what an interrupted reserve
reserved and frees the slot an accept took (occupied or not yet). Before, `_announce` swallowed a
cancel of the live-view update (the escalation went on offering for a customer who had left) and
one during a roster call ended the workflow with no cleanup (a reservation or a slot leaked)."""
SETTLE_DECLINES_AT_THE_END = "settle-declines-on-accept-and-cancel"
"""Patch marker: declines that land with the winning accept, or before a cancel, are published and
released before the escalation moves on. Before, the loop returned on the accept first and the
decliner's roster reservation was never released (nor `offer.declined` published)."""
CLOSED_EVENTS = {
    OfferStatus.DECLINED: EventType.OFFER_DECLINED,
    OfferStatus.WITHDRAWN: EventType.OFFER_WITHDRAWN,
    OfferStatus.EXPIRED: EventType.OFFER_EXPIRED,
}
"""The event each way an open offer closes without an accept."""
LAST_VIEW_WRITTEN = "the-last-view-is-written-durably"
"""Patch marker: an escalation whose last live-view write failed writes its final view once more,
retrying until Redis takes it. Before, the few quick attempts of the last change (an accept, a
cancel) failing left the escalation waiting in the live view for good: no later change of its
repaired it, and the supervisors' paged list kept showing a crisis already taken."""
RECHECK_OFFERS = "recheck-an-offer-once-the-live-view-shows-it"
"""Patch marker: once the live view shows an offer, the escalation reads its specialist's state
again (`recheck_offers`) and withdraws the offer if they went on a break or unavailable meanwhile.
Before, an offer the roster reserved just before a break (or `SetAvailability(false)`) and shown
just after the break's withdrawal had read the live view was never withdrawn: it waited out
`accept_within`, an SLA breach. The break's side writes its view, then reads the live view; this
side writes the live view, then reads the state: whichever reads later sees the other's write."""
PUBLISH_INTERRUPTED_CLOSES = "an-offer-closed-as-the-customer-leaves-is-published"
"""Patch marker: an offer declined, expired or withdrawn whose roster release a cancel interrupted
(the customer left meanwhile) has its `offer.*` event published by the cleanup. Before, the event
was built only after the release came back, and the cancel skipped it: the offer's closing was
never published, so connectors kept it open for good."""
PAGED_OFFERS_TO_EVERYONE = "a-page-offers-to-everyone-again-at-once"
"""Patch marker: the page ends the exclusion of those offered before it (they let an offer expire,
or declined), so offers go to everyone again with the page. Before, the first round after the page
still kept them out, and with nobody else eligible (a crisis lane of `offer_to` people, all
offered) nobody was offered the conversation for the next `accept_within`."""
WAITED_UNTIL_THE_ACCEPT = "waited-ends-at-the-accept"
"""Patch marker: `handoff.accepted`'s `waited_ms` and the assignment's `accepted_at` and `waited`
are taken when the accept landed. Before, they were taken once the other offers were withdrawn and
published and the roster slot occupied, so a slow roster or Kafka counted as the customer waiting
for a person (a two-minute Kafka outage added two minutes)."""
CONTINUE_AS_NEW_WHEN_LONG = "a-paged-escalation-continues-as-new-when-its-history-is-long"
"""Patch marker: a paged escalation nobody accepts continues as new, paged, once its run's history
is long (`_history_is_long`), at a point where nothing is open or owed (`_settled_for_a_new_run`),
carrying what the rest of the escalation depends on (`EscalationCarry`). Before, it offered round
after round in one run: an unaccepted crisis added about 10,000 events and, every view carrying
every offer made so far, 10 MiB of history in its first half hour, and Temporal would end it
(50 MiB) about 70 minutes in, with nobody told."""
LIVE_VIEW_CARRIES_OPEN_OFFERS = "a-live-view-write-carries-only-the-open-offers"
"""Patch marker: each live-view write (`sync_live_view`) carries the view with only the offers the
live view keeps, the open ones (`EscalationView.for_live_view`). Before, it carried every offer
made so far in the run, closed ones included: each write grew with the offers made, and a paged
escalation's history with the square of the time. The `view` query still shows every offer."""
RECHECK_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_attempts=3)
"""A few quick attempts, as for the live view: a recheck that fails is tried again at the
escalation's next wake (`wait_retry`), so a slow Redis or roster never holds an accept up."""
MAX_WAIT_RETRY = timedelta(minutes=2)
"""Longest wait between roster asks while nobody is free (the wait doubles from `wait_retry`)."""


@workflow.defn
class EscalationWorkflow:
    @workflow.init
    def __init__(self, params: EscalationInput) -> None:  # noqa: PLR0915 - the state, each documented
        self._params = params
        self._id = workflow.info().workflow_id
        self._queue: QueueSpec = params.routing.queue(params.escalation.queue)
        self._crisis = params.escalation.crisis
        self._offers: dict[str, Offer] = {}
        self._offers_made = 0
        self._excluded: set[str] = set(params.exclude)
        self._declines: list[tuple[Offer, str]] = []
        """Offers declined (with the reason), waiting for the loop to publish and release them."""
        self._withdrawals: list[tuple[Offer, str]] = []
        """Offers taken back from specialists who went on a break or unavailable (with the
        reason), waiting for the loop to publish and release them."""
        self._owed_by: datetime | None = None
        """When the soonest offer withdrawn since the last offer made would have expired: with
        nobody else to offer to, the queue is given up then, not `accept_within` later."""
        self._idle_polls = 0
        """Roster asks in a row that found nobody; the wait between asks doubles with each."""
        self._accepted: Offer | None = None
        self._accepted_at: datetime | None = None
        """When the accept landed (`WAITED_UNTIL_THE_ACCEPT`)."""
        self._status = EscalationStatus.WAITING
        self._started = workflow.now()
        self._entered_queue = self._started
        self._paged: str | None = None
        self._paged_at: datetime | None = None
        self._paged_reason: str | None = None
        self._referrals_sent = False
        self._breaches = 0
        self._reroutes = 0
        self._version = 0
        self._occupied = False
        """The accept occupies the specialist's roster slot; the conversation frees it later."""
        self._told = False
        """The conversation took the assignment (and with it the duty to free the slot)."""
        self._assigning = asyncio.Lock()
        """One supervisor's assignment at a time (each waits on the roster)."""
        self._assigned = 0
        self._nudged = False
        """A supervisor's offer arrived: the loop wakes to count its expiry in."""
        self._in_flight: list[workflow.ActivityHandle[Any]] = []
        """Calls a cancel must not interrupt, still running (see `_carried_through`)."""
        self._reserving: workflow.ActivityHandle[ReserveResult] | None = None
        """The roster's reserve under way; the cleanup releases what an interrupted one made."""
        self._occupying = False
        """The accept's roster `occupy` was sent (the cleanup frees its slot once it is done)."""
        self._view_behind = False
        """The last live-view write failed: the view in Redis is older than this escalation."""
        self._unchecked: list[str] = []
        """Offers the live view shows, or may show, whose specialist's break and availability
        were not read since (`RECHECK_OFFERS`); empty in histories from before it."""
        self._called_off: str | None = None
        """Why the conversation is about to cancel this escalation, if it said (`call_off`)."""
        self._closing: list[tuple[Offer, OfferStatus, str | None]] = []
        """Offers closed whose event is not published yet (their release runs first), each with
        how it closed and why; the cleanup publishes them (`PUBLISH_INTERRUPTED_CLOSES`)."""
        self._made_before = 0
        """Offers numbered in the runs before this one (`_made_in_an_earlier_run`)."""
        self._versions_from: int | None = None
        """Where this run's view versions count from when it was continued as new (the last
        version the run before wrote); None for a first run, which counts from `_incarnation`."""
        if params.carry is not None:
            self._take_over(params.carry)

    def _take_over(self, carry: EscalationCarry) -> None:
        """Go on from where the run before this one continued as new (paged, nothing open)."""
        self._queue = self._params.routing.queue(carry.queue)
        self._started = carry.started
        self._entered_queue = carry.entered_queue
        self._offers_made = carry.offers_made
        self._excluded = set(carry.excluded)
        self._paged = carry.paged
        self._paged_at = carry.paged_at
        self._paged_reason = carry.paged_reason
        self._referrals_sent = carry.referrals_sent
        self._breaches = carry.sla_breaches
        self._reroutes = carry.reroutes
        self._assigned = carry.assigned
        self._idle_polls = carry.idle_polls
        self._owed_by = carry.owed_by
        self._versions_from = carry.version
        self._made_before = carry.offers_made

    def _carry(self) -> EscalationCarry:
        if self._paged is None or self._paged_at is None or self._paged_reason is None:
            raise RuntimeError("only a paged escalation continues as new")
        return EscalationCarry(
            started=self._started,
            entered_queue=self._entered_queue,
            queue=self._queue.name,
            offers_made=self._offers_made,
            excluded=sorted(self._excluded),
            paged=self._paged,
            paged_at=self._paged_at,
            paged_reason=self._paged_reason,
            referrals_sent=self._referrals_sent,
            sla_breaches=self._breaches,
            reroutes=self._reroutes,
            assigned=self._assigned,
            idle_polls=self._idle_polls,
            owed_by=self._owed_by,
            version=self._view_version(),
        )

    @workflow.run
    async def run(self, params: EscalationInput) -> EscalationOutcome:
        try:
            if params.carry is not None:
                await self._offer_while_paged()
            elif self._crisis:
                await self._crisis_lane()
            else:
                await self._queue_chain()
            await self._on_accept()
        except (asyncio.CancelledError, ActivityError) as error:
            if not _cleans_up_after(error):
                raise
            await self._clean_up()
        if self._view_behind and workflow.patched(LAST_VIEW_WRITTEN):
            await workflow.execute_activity_method(
                LiveViewActivities.sync_live_view,
                self._live_view(),
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=DURABLE_RETRY,
            )
        await workflow.wait_condition(workflow.all_handlers_finished)
        accepted = self._accepted
        return EscalationOutcome(
            status=self._status,
            accepted_by=accepted.specialist_id if accepted else None,
            queue=self._queue.name,
            offer_id=accepted.offer_id if accepted else None,
            waited=workflow.now() - self._started,
            sla_breaches=self._breaches,
            reroutes=self._reroutes,
        )

    # --- specialists' requests ----------------------------------------------------------------

    @workflow.update
    def accept(self, request: AcceptRequest) -> AcceptResult:
        offer = self._offers[request.offer_id]
        if not self._accepted_already(request):
            self._accepted = offer.model_copy(update={"status": OfferStatus.ACCEPTED})
            self._accepted_at = workflow.now()
            self._offers[offer.offer_id] = self._accepted
            self._status = EscalationStatus.ACCEPTED
        return AcceptResult(
            offer_id=offer.offer_id,
            tenant_id=self._params.tenant_id,
            conversation_id=self._params.conversation_id,
            queue=offer.queue,
            conversation_workflow_id=self._params.conversation_workflow_id,
        )

    @accept.validator
    def _validate_accept(self, request: AcceptRequest) -> None:
        if not self._accepted_already(request):
            self._open_offer_of(request.offer_id, request.specialist_id)

    def _accepted_already(self, request: AcceptRequest) -> bool:
        """The request is the accepted one again (a retry after a lost answer): it is answered as
        the first was, as long as the escalation stands accepted."""
        accepted = self._accepted
        return (
            accepted is not None
            and self._status is EscalationStatus.ACCEPTED
            and accepted.offer_id == request.offer_id
            and accepted.specialist_id == request.specialist_id
        )

    @workflow.update
    def decline(self, request: DeclineRequest) -> None:
        offer = self._offers[request.offer_id]
        self._close(offer, OfferStatus.DECLINED)
        self._excluded.add(offer.specialist_id)
        self._declines.append((offer, request.reason))

    @decline.validator
    def _validate_decline(self, request: DeclineRequest) -> None:
        self._open_offer_of(request.offer_id, request.specialist_id)

    @workflow.update(name=WITHDRAW_UPDATE)
    def withdraw(self, request: WithdrawRequest) -> None:
        """Take back an open offer its specialist can no longer take (a break, unavailable).

        Sent on their behalf (`activities.offers.withdraw_offers`) once the roster already stops
        offering them work, so the search moves on at once instead of when the offer expires.
        Unlike a decline it does not keep them from this conversation once they are back.
        """
        self._withdraw(self._offers[request.offer_id], request.reason)

    @withdraw.validator
    def _validate_withdraw(self, request: WithdrawRequest) -> None:
        self._open_offer_of(request.offer_id, request.specialist_id)

    @workflow.signal(name=CALL_OFF_SIGNAL)
    def call_off(self, notice: CallOff) -> None:
        """The conversation is about to cancel this escalation, for `notice.reason` (a crisis
        moved it to the crisis lane): the offers the cancel withdraws say so. Only the reason is
        kept; the cancel does the rest, so histories without this signal replay unchanged."""
        self._called_off = notice.reason

    # --- supervisors' requests ------------------------------------------------------------------

    @workflow.update
    async def assign(self, request: AssignRequest) -> Offer:
        """Offer the paged escalation to the specialist a supervisor names.

        The roster refuses what no supervisor may override (see `RosterWorkflow.assign_to`); its
        refusal fails this update with the roster's message. The offer expires like any of the
        queue's, and the offers the routing keeps making stay open beside it.
        """
        async with self._assigning:
            self._assignable()
            number = self._offers_made + 1
            self._offers_made += 1
            made = offer_id(self._id, number)
            result = await workflow.execute_activity_method(
                RosterActivities.assign_to,
                AssignToCall(
                    roster_id=self._params.routing.roster_id,
                    request=AssignToRequest(
                        conversation_id=self._params.conversation_id,
                        offer_id=made,
                        specialist_id=request.specialist_id,
                        skills=self._queue.skills,
                        crisis=self._crisis,
                        tenant_id=self._params.tenant_id,
                    ),
                ),
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=DURABLE_RETRY,
            )
            if result.reservation is None:
                raise ApplicationError(
                    result.message, type=result.refused or Rejection.FAILED_PRECONDITION
                )
            # The roster's answer names the offer, as in `_make_offers` (the id it was asked for).
            made = result.reservation.offer_id
            if self._accepted is not None or self._status is not EscalationStatus.WAITING:
                # Someone accepted, or the conversation ended, while the roster answered.
                await self._release_offer(made, idle=False)
                raise ApplicationError(
                    "the conversation was accepted or closed meanwhile",
                    type=Rejection.FAILED_PRECONDITION,
                )
            now = workflow.now()
            offer = self._new_offer(
                made, request.specialist_id, now, now + self._within(), request.supervisor_id
            )
            self._offers[made] = offer
            self._to_recheck([made])
            self._assigned += 1
            self._nudged = True
            await self._announce(
                [
                    self._offer_created(offer),
                    self._event(
                        EventType.ESCALATION_ASSIGNED,
                        f"assigned/{self._assigned}",
                        {
                            "supervisor_id": request.supervisor_id,
                            "specialist_id": request.specialist_id,
                            "queue": offer.queue,
                            "reason": request.reason,
                            "offer_id": made,
                        },
                    ),
                ]
            )
            return offer

    @assign.validator
    def _validate_assign(self, request: AssignRequest) -> None:
        self._assignable()

    def _assignable(self) -> None:
        if self._accepted is not None or self._status is not EscalationStatus.WAITING:
            raise ApplicationError(
                "the escalation was already accepted or has ended",
                type=Rejection.FAILED_PRECONDITION,
            )
        if self._paged is None:
            raise ApplicationError(
                "the escalation has not paged a supervisor; the routing is still finding someone",
                type=Rejection.FAILED_PRECONDITION,
            )

    @workflow.query
    def view(self) -> EscalationView:
        return EscalationView(
            escalation_id=self._id,
            version=self._view_version(),
            tenant_id=self._params.tenant_id,
            conversation_id=self._params.conversation_id,
            status=self._status,
            queue=self._queue.name,
            priority=self._params.escalation.priority,
            crisis=self._crisis,
            entered_queue_at=self._entered_queue,
            offers=list(self._offers.values()),
            paged_supervisor=self._paged,
            paged_at=self._paged_at,
            paged_reason=self._paged_reason,
            referrals_sent=self._referrals_sent,
            sla_breaches=self._breaches,
            reroutes=self._reroutes,
        )

    def _live_view(self) -> EscalationView:
        """The view a live-view write carries: only its open offers since
        `LIVE_VIEW_CARRIES_OPEN_OFFERS`, every offer of the run before."""
        view = self.view()
        if workflow.patched(LIVE_VIEW_CARRIES_OPEN_OFFERS):
            return view.for_live_view()
        return view

    def _view_version(self) -> int:
        start = _incarnation() if self._versions_from is None else self._versions_from
        return start + self._version

    def _made_in_an_earlier_run(self, offer: str) -> bool:
        """Whether `offer` is this escalation's, numbered before this run began: it was made and
        closed in a run before it continued as new (which carries no closed offers), so a late
        answer to it is refused as for any closed offer, not as an unknown one."""
        head, mark, number = offer.rpartition(OFFER_MARK)
        return (
            bool(mark)
            and head == self._id
            and number.isdigit()
            and 1 <= int(number) <= self._made_before
        )

    def _open_offer_of(self, offer: str, specialist_id: str) -> None:
        found = self._offers.get(offer)
        if found is None and self._made_in_an_earlier_run(offer):
            raise ApplicationError(
                "the offer is no longer open (it closed before the escalation continued as new)",
                type=Rejection.FAILED_PRECONDITION,
            )
        if found is None:
            raise ApplicationError(f"no such offer {offer!r}", type=Rejection.NOT_FOUND)
        if found.specialist_id != specialist_id:
            raise ApplicationError(
                "this offer was made to another specialist", type=Rejection.PERMISSION_DENIED
            )
        if self._accepted is not None:
            raise ApplicationError(
                "the conversation was already accepted", type=Rejection.FAILED_PRECONDITION
            )
        if self._status is not EscalationStatus.WAITING:
            raise ApplicationError(
                "the escalation has ended (the conversation closed)",
                type=Rejection.FAILED_PRECONDITION,
            )
        if found.status is not OfferStatus.OPEN or workflow.now() >= found.expires_at:
            raise ApplicationError(
                f"the offer is no longer open (it was {found.status.value})"
                if found.status is not OfferStatus.OPEN
                else "the offer expired",
                type=Rejection.FAILED_PRECONDITION,
            )

    # --- routing ------------------------------------------------------------------------------

    async def _queue_chain(self) -> None:
        """One offer at a time; move along the chain on an SLA miss; then page the supervisor."""
        visited = {self._queue.name}
        while True:
            if await self._work_queue(parallel=1, deadline=None):
                return
            self._breaches += 1
            following = [q for q in self._queue.escalation_chain if q not in visited]
            if following:
                await self._reroute(following[0], "sla_missed")
                visited.add(following[0])
                continue
            await self._page(self._queue.supervisor, "escalation chain exhausted")
            # Paged: keep offering in the last queue, to everyone again, until someone accepts.
            self._offer_to_everyone_again()
            await self._offer_while_paged()
            return

    async def _crisis_lane(self) -> None:
        """K offers at once until the lane's deadline; then page, send referrals, keep offering.

        With `widen_after`, one offer at a time (the roster's first choice) until then, so the
        routing strategy's order decides who gets the first look; the widening adds offers and
        withdraws none. Zero keeps the commands of histories recorded before the field existed.
        """
        lane = self._params.routing.crisis
        deadline = self._entered_queue + lane.accept_within
        widen_at = self._entered_queue + lane.widen_after if lane.widen_after else None
        if await self._work_queue(parallel=lane.offer_to, deadline=deadline, widen_at=widen_at):
            return
        self._breaches += 1
        await self._page(lane.supervisor, "nobody accepted the crisis in time")
        await self._send_referrals()
        self._offer_to_everyone_again()
        await self._offer_while_paged()

    async def _offer_while_paged(self) -> None:
        """Paged: offer round after round, to everyone again each round, until someone accepts;
        continue as new between rounds once the run's history is long."""
        parallel = self._params.routing.crisis.offer_to if self._crisis else 1
        while not await self._work_queue(parallel=parallel, deadline=None):
            self._excluded.clear()
            if (
                self._may_continue_as_new()
                and self._history_is_long()
                and workflow.patched(CONTINUE_AS_NEW_WHEN_LONG)
                and await self._settled_for_a_new_run()
            ):
                workflow.continue_as_new(self._params.model_copy(update={"carry": self._carry()}))

    def _may_continue_as_new(self) -> bool:
        """Whether a cancel still reaches this escalation once it has continued as new: it has no
        parent (it is cancelled by workflow id), or its parent says it cancels it by workflow id
        (`EscalationInput.cancelled_by_workflow_id`)."""
        return workflow.info().parent is None or self._params.cancelled_by_workflow_id

    def _history_is_long(self) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= self._params.routing.history_events_per_run
            or info.get_current_history_size() >= HISTORY_BYTES_PER_RUN
        )

    async def _settled_for_a_new_run(self) -> bool:
        """Bring the run to a point it can continue as new from: no offer open (those still open
        are left to close, with no new ones made meanwhile, for at most `accept_within`), every
        decline, withdrawal and expiry released and published, no handler running (a
        supervisor's `assign` made in the meantime is left to close too) and the live view
        written. False when an accept, or the conversation's call-off, came meanwhile: then the
        run goes on (to the accept, or to the cancel that follows the call-off)."""
        while True:
            if (
                self._accepted is not None
                or self._status is not EscalationStatus.WAITING
                or self._called_off is not None
            ):
                return False
            await self._settle_declines()
            await self._settle_withdrawals()
            open_offers = self._open()
            if open_offers:
                await self._wait_until(min(o.expires_at for o in open_offers))
                await self._expire_due()
                continue
            if not workflow.all_handlers_finished():
                await workflow.wait_condition(workflow.all_handlers_finished)
                continue
            if self._declines or self._withdrawals:
                continue
            if self._view_behind:
                await workflow.execute_activity_method(
                    LiveViewActivities.sync_live_view,
                    self._live_view(),
                    start_to_close_timeout=ACTIVITY_TIMEOUT,
                    retry_policy=DURABLE_RETRY,
                )
                self._view_behind = False
                continue
            # Who let an offer expire in the wait is offered the next round, as after any round.
            self._excluded.clear()
            return True

    def _offer_to_everyone_again(self) -> None:
        """Once paged, offer to those who let an offer expire or declined before the page too,
        from the first round on (`PAGED_OFFERS_TO_EVERYONE`); each later round clears them again."""
        if workflow.patched(PAGED_OFFERS_TO_EVERYONE):
            self._excluded.clear()

    async def _work_queue(
        self, *, parallel: int, deadline: datetime | None, widen_at: datetime | None = None
    ) -> bool:
        """Offer in the current queue until someone accepts (True) or the queue is given up.

        Without a `deadline` (ordinary queues) the queue is given up when an offer expires or when
        nobody could be offered the conversation for `accept_within`; with one (the crisis lane),
        when the deadline passes. Before `widen_at` at most one offer is open, `parallel` after.
        """
        within = self._within()
        nobody_since: datetime | None = None
        while True:
            if self._accepted is not None:
                return True
            await self._settle_declines()
            await self._settle_withdrawals()
            if self._unchecked_open():
                # A live-view write or a recheck failed: write the view again, then recheck.
                await self._announce([])
                await self._settle_withdrawals()
            now = workflow.now()
            if deadline is not None and now >= deadline:
                await self._close_open(OfferStatus.EXPIRED, "deadline passed")
                return False
            open_offers = self._open()
            # Until the lane widens, one offer; the widening moment may pass while offers go out.
            widening = widen_at if widen_at is not None and now < widen_at else None
            target = 1 if widening is not None else parallel
            # A supervisor's offer is one more, not one of the routing's (first accept wins).
            searching = len([o for o in open_offers if o.assigned_by is None])
            wanted = target - searching
            if wanted > 0:
                expires = now + within if deadline is None else deadline
                made = await self._make_offers(wanted, expires)
                if self._accepted is not None:
                    return True
                open_offers = self._open()
                searching = len([o for o in open_offers if o.assigned_by is None])
                if made and not self._rechecking():
                    # (Since `RECHECK_OFFERS`, `_make_offers` resets it before the recheck, which
                    # may withdraw an offer just made and so owe its expiry.)
                    self._owed_by = None
                if made or (open_offers and workflow.patched(OFFERED_IS_NOT_NOBODY)):
                    nobody_since = None
                elif not open_offers:
                    nobody_since = nobody_since or now
                    if deadline is None and now >= self._given_up_at(nobody_since, within):
                        return False
            wake = self._next_wake(
                open_offers, searching < target, deadline, nobody_since, within, widening
            )
            await self._wait_until(wake)
            if deadline is None and await self._expire_due():
                return False
            if deadline is not None:
                await self._expire_due()

    def _next_wake(
        self,
        open_offers: list[Offer],
        short: bool,
        deadline: datetime | None,
        nobody_since: datetime | None,
        within: timedelta,
        widening: datetime | None,
    ) -> datetime:
        now = workflow.now()
        moments = [o.expires_at for o in open_offers]
        if deadline is not None:
            moments.append(deadline)
        if widening is not None:
            moments.append(widening)
        if short:
            backoff = self._params.routing.wait_retry * 2 ** min(self._idle_polls, 6)
            moments.append(now + min(backoff, MAX_WAIT_RETRY))
        if nobody_since is not None and deadline is None:
            moments.append(self._given_up_at(nobody_since, within))
        if self._unchecked_open():
            moments.append(now + self._params.routing.wait_retry)
        return min(moments)

    def _given_up_at(self, nobody_since: datetime, within: timedelta) -> datetime:
        """When a queue with nobody to offer the conversation to is given up: `within` after that
        began, or when an offer withdrawn meanwhile would have expired, if sooner (its specialist
        leaving must not give the queue more time than their offer had)."""
        given_up = nobody_since + within
        return given_up if self._owed_by is None else min(given_up, self._owed_by)

    async def _wait_until(self, moment: datetime) -> None:
        """Sleep until `moment`, waking early for an accept, a decline, a withdrawal or a
        supervisor's offer."""
        timeout = max(moment - workflow.now(), timedelta(milliseconds=1))
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: (
                    self._accepted is not None
                    or bool(self._declines)
                    or bool(self._withdrawals)
                    or self._nudged
                ),
                timeout=timeout,
            )
        self._nudged = False

    def _within(self) -> timedelta:
        """How long an offer of the current queue stays open."""
        if self._crisis:
            return self._params.routing.crisis.accept_within
        return self._queue.accept_within

    async def _make_offers(self, wanted: int, expires: datetime) -> int:
        numbers = range(self._offers_made + 1, self._offers_made + wanted + 1)
        ids = [offer_id(self._id, n) for n in numbers]
        # Counted before the roster answers, so a supervisor's offer made meanwhile takes the next.
        self._offers_made += wanted
        self._reserving = workflow.start_activity_method(
            RosterActivities.reserve,
            ReserveCall(
                roster_id=self._params.routing.roster_id,
                request=ReserveRequest(
                    conversation_id=self._params.conversation_id,
                    offer_ids=ids,
                    skills=self._queue.skills,
                    crisis=self._crisis,
                    exclude=sorted(self._excluded),
                    intense=self._queue.intense,
                    tenant_id=self._params.tenant_id,
                ),
            ),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=DURABLE_RETRY,
        )
        result = await self._carried_through(self._reserving)
        self._reserving = None
        if not result.reservations:
            self._idle_polls += 1
            return 0
        self._idle_polls = 0
        now = workflow.now()
        events = []
        for reservation in result.reservations:
            offer = self._new_offer(reservation.offer_id, reservation.specialist_id, now, expires)
            self._offers[offer.offer_id] = offer
            events.append(self._offer_created(offer))
        if self._rechecking():
            self._owed_by = None
            self._to_recheck([r.offer_id for r in result.reservations])
        await self._announce(events)
        return len(result.reservations)

    def _new_offer(
        self,
        offer: str,
        specialist: str,
        now: datetime,
        expires: datetime,
        assigned_by: str | None = None,
    ) -> Offer:
        return Offer(
            offer_id=offer,
            specialist_id=specialist,
            tenant_id=self._params.tenant_id,
            conversation_id=self._params.conversation_id,
            queue=self._queue.name,
            priority=self._params.escalation.priority,
            reason=self._params.escalation.reason,
            crisis=self._crisis,
            created_at=now,
            expires_at=expires,
            assigned_by=assigned_by,
        )

    def _offer_created(self, offer: Offer) -> DomainEvent:
        data: dict[str, Any] = {
            "offer_id": offer.offer_id,
            "specialist": offer.specialist_id,
            "queue": offer.queue,
            "priority": offer.priority,
            "crisis": offer.crisis,
            "expires_at": offer.expires_at.isoformat(),
        }
        if offer.assigned_by is not None:
            data["assigned_by"] = offer.assigned_by
        return self._event(EventType.OFFER_CREATED, f"{offer.offer_id}/created", data)

    async def _settle_declines(self) -> None:
        """Publish and release the offers specialists declined since the last look."""
        await self._settle(self._declines, OfferStatus.DECLINED, idle=True)

    async def _settle_withdrawals(self) -> None:
        """Release and publish the offers taken back since the last look (none in histories
        from before `withdraw` existed, so they replay as they ran)."""
        await self._settle(self._withdrawals, OfferStatus.WITHDRAWN, idle=False)

    async def _settle(
        self, closed: list[tuple[Offer, str]], status: OfferStatus, *, idle: bool
    ) -> None:
        while closed:
            offer, reason = closed.pop(0)
            self._closing.append((offer, status, reason))
            await self._release(offer, idle=idle)
            await self._announce(self._closed_events())

    def _offer_closed(self, offer: Offer, status: OfferStatus, reason: str | None) -> DomainEvent:
        """`offer.declined`, `offer.withdrawn` or `offer.expired` with the reason (an offer that
        expired on its own gives none)."""
        data = {"offer_id": offer.offer_id, "specialist": offer.specialist_id, "queue": offer.queue}
        if reason is not None:
            data["reason"] = reason
        return self._event(CLOSED_EVENTS[status], f"{offer.offer_id}/{status.value}", data)

    def _closed_events(self) -> list[DomainEvent]:
        """The events of the offers closed since the last announcement, taken for publishing."""
        closing, self._closing = self._closing, []
        return [self._offer_closed(offer, status, reason) for offer, status, reason in closing]

    async def _expire_due(self) -> bool:
        """Expire the open offers past their time; True if any expired."""
        now = workflow.now()
        due = [o for o in self._open() if o.expires_at <= now]
        for offer in due:
            self._close(offer, OfferStatus.EXPIRED)
            self._excluded.add(offer.specialist_id)
            self._closing.append((offer, OfferStatus.EXPIRED, None))
            await self._release(offer, idle=True)
        if due:
            await self._announce(self._closed_events())
        return bool(due)

    async def _close_open(self, status: OfferStatus, reason: str) -> None:
        """Expire or withdraw every open offer (a deadline passed, someone else accepted...)."""
        for offer in self._open():
            self._close(offer, status)
            if status is OfferStatus.EXPIRED:
                self._excluded.add(offer.specialist_id)
            self._closing.append((offer, status, reason))
            await self._release(offer, idle=status is OfferStatus.EXPIRED)
        await self._announce(self._closed_events())

    async def _on_accept(self) -> None:
        """The first accept won: withdraw other offers, occupy the roster, tell the conversation."""
        accepted = self._accepted
        if accepted is None:
            raise RuntimeError("_on_accept runs only after an accept")
        if self._declines and workflow.patched(SETTLE_DECLINES_AT_THE_END):
            await self._settle_declines()
        await self._settle_withdrawals()
        await self._close_open(OfferStatus.WITHDRAWN, "accepted by another specialist")
        self._occupying = True
        await self._carried_through(
            workflow.start_activity_method(
                RosterActivities.occupy,
                OccupyCall(
                    roster_id=self._params.routing.roster_id,
                    request=OccupyRequest(offer_id=accepted.offer_id),
                ),
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=DURABLE_RETRY,
            )
        )
        self._occupied = True
        accepted_at = workflow.now()
        if self._accepted_at is not None and workflow.patched(WAITED_UNTIL_THE_ACCEPT):
            accepted_at = self._accepted_at
        waited = accepted_at - self._started
        self._told = await self._tell_conversation(
            ASSIGNED_SIGNAL,
            Assignment(
                specialist_id=accepted.specialist_id,
                queue=accepted.queue,
                offer_id=accepted.offer_id,
                sequence=self._params.sequence,
                accepted_at=accepted_at,
                waited=waited,
            ),
        )
        if not self._told and workflow.patched(FREE_WHEN_CONVERSATION_GONE):
            await self._hand_back_slot(accepted)
            return
        await self._announce(
            [
                self._event(
                    EventType.HANDOFF_ACCEPTED,
                    "accepted",
                    {
                        "specialist": accepted.specialist_id,
                        "queue": accepted.queue,
                        "offer_id": accepted.offer_id,
                        "crisis": self._crisis,
                        "waited_ms": int(waited.total_seconds() * 1000),
                    },
                )
            ]
        )

    async def _reroute(self, to_queue: str, reason: str) -> None:
        from_queue = self._queue.name
        self._queue = self._params.routing.queue(to_queue)
        self._entered_queue = workflow.now()
        self._owed_by = None
        self._reroutes += 1
        await self._announce(
            [
                self._event(
                    EventType.ESCALATION_REROUTED,
                    f"rerouted/{self._reroutes}",
                    {"from_queue": from_queue, "to_queue": to_queue, "reason": reason},
                )
            ]
        )

    async def _page(self, supervisor: str | None, reason: str) -> None:
        self._paged = supervisor or SUPERVISOR_QUEUE
        self._paged_at = workflow.now()
        self._paged_reason = reason
        await self._announce(
            [
                self._event(
                    EventType.SUPERVISOR_PAGED,
                    "paged",
                    {"supervisor": supervisor, "queue": self._queue.name, "reason": reason},
                )
            ]
        )

    async def _send_referrals(self) -> None:
        lane = self._params.routing.crisis
        self._referrals_sent = True
        await self._tell_conversation(
            CRISIS_NOTICE_SIGNAL,
            CrisisNotice(
                supervisor=lane.supervisor,
                referrals=lane.referrals_for(self._params.country),
            ),
        )

    # --- bookkeeping ----------------------------------------------------------------------------

    async def _tell_conversation(self, signal: str, payload: Assignment | CrisisNotice) -> bool:
        """Signal the conversation; False when it has ended meanwhile (its close cancels this
        escalation, but an accept can land in the same moment)."""
        handle = workflow.get_external_workflow_handle(self._params.conversation_workflow_id)
        try:
            await handle.signal(signal, payload)
        except FailureError as error:
            workflow.logger.warning("conversation did not take %s: %s", signal, error)
            return False
        return True

    async def _hand_back_slot(self, accepted: Offer, *, occupied: bool = True) -> None:
        """The conversation ended as the specialist accepted it: nobody will ever complete it,
        so free the roster slot the accept occupied, or release its reservation when it was not
        occupied yet (else the specialist looks busy for good), and end as cancelled. The free
        releases the specialist's claim in the live view too (it names the tenant)."""
        if occupied:
            await self._carried_through(
                workflow.start_activity_method(
                    RosterActivities.free,
                    FreeCall(
                        roster_id=self._params.routing.roster_id,
                        request=FreeRequest(
                            specialist_id=accepted.specialist_id,
                            conversation_id=self._params.conversation_id,
                            tenant_id=self._params.tenant_id,
                        ),
                    ),
                    start_to_close_timeout=ACTIVITY_TIMEOUT,
                    retry_policy=DURABLE_RETRY,
                )
            )
        else:
            await self._release(accepted, idle=False)
        self._status = EscalationStatus.CANCELLED
        self._close(accepted, OfferStatus.WITHDRAWN)
        await self._announce(
            [self._offer_closed(accepted, OfferStatus.WITHDRAWN, self._cancelled_because())]
        )

    def _cancelled_because(self) -> str:
        """Why the offers a cancel withdraws are withdrawn: what the conversation said when it
        called the escalation off, else that the conversation closed."""
        return self._called_off or CONVERSATION_CLOSED

    def _open(self) -> list[Offer]:
        return [o for o in self._offers.values() if o.status is OfferStatus.OPEN]

    def _withdraw(self, offer: Offer, reason: str) -> None:
        """Take back an open offer whose specialist went on a break or unavailable; the loop
        releases and announces it (`_settle_withdrawals`)."""
        self._close(offer, OfferStatus.WITHDRAWN)
        self._withdrawals.append((offer, reason))
        if self._owed_by is None or offer.expires_at < self._owed_by:
            self._owed_by = offer.expires_at

    def _rechecking(self) -> bool:
        """Whether this execution rechecks its offers once the live view shows them."""
        return workflow.patched(RECHECK_OFFERS)

    def _to_recheck(self, offers: list[str]) -> None:
        if self._rechecking():
            self._unchecked += offers

    def _unchecked_open(self) -> list[Offer]:
        """The open offers still to recheck, while the escalation waits for an accept."""
        if not self._unchecked:
            return []
        if self._accepted is not None or self._status is not EscalationStatus.WAITING:
            self._unchecked = []
            return []
        unchecked = [o for o in self._open() if o.offer_id in self._unchecked]
        if not unchecked:
            self._unchecked = []
        return unchecked

    async def _recheck(self, shown: list[str], *, written: bool) -> None:
        """Read again whether the specialists of `shown`, offers in the view just written to the
        live view, went on a break or unavailable since the roster reserved them, and withdraw
        those offers.

        Runs after every live-view write whose view holds such offers, so the read always follows
        the write that showed them: a break's withdrawal (or `SetAvailability(false)`'s) that read
        the live view before it is seen here. The offers count as checked only when that write
        went through; a failed write or recheck is tried again at the loop's next wake.
        """
        checking = [o for o in self._unchecked_open() if o.offer_id in shown]
        if not checking:
            return
        try:
            result = await workflow.execute_activity_method(
                OfferActivities.recheck_offers,
                RecheckCall(roster_id=self._params.routing.roster_id, offers=checking),
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=RECHECK_RETRY,
            )
        except ActivityError as error:
            if is_cancelled_exception(error):
                raise
            workflow.logger.warning("offers not rechecked (tried again shortly): %s", error)
            return
        if written:
            checked = {o.offer_id for o in checking}
            self._unchecked = [o for o in self._unchecked if o not in checked]
        for withdrawal in result.withdraw:
            offer = self._offers.get(withdrawal.offer_id)
            # An accept, decline or withdrawal may have landed while the recheck ran.
            if (
                offer is None
                or offer.status is not OfferStatus.OPEN
                or self._accepted is not None
                or self._status is not EscalationStatus.WAITING
            ):
                continue
            self._withdraw(offer, withdrawal.reason)

    async def _carried_through(self, call: workflow.ActivityHandle[T]) -> T:
        """Await a roster call or an event publish, which must happen: since `CLEAN_UP_A_CANCEL`
        a cancel raises here while the call goes on, and `_clean_up` waits for it to finish."""
        if not workflow.patched(CLEAN_UP_A_CANCEL):
            return await call
        self._in_flight.append(call)
        call.add_done_callback(lambda _: self._in_flight.remove(call))
        return await asyncio.shield(call)

    async def _clean_up(self) -> None:
        """The conversation ended before anyone accepted, or as someone did: finish the calls the
        cancel interrupted, withdraw what is still offered and give back what an accept took
        that the conversation will not (it was not told of the accept)."""
        self._status = EscalationStatus.CANCELLED
        if self._in_flight:
            await self._finish_interrupted()
        if self._closing:
            # Closed and released (the release above, if the cancel interrupted it), unpublished.
            if workflow.patched(PUBLISH_INTERRUPTED_CLOSES):
                await self._announce(self._closed_events())
            else:
                self._closing = []  # as before the patch, whose histories publish nothing here
        if self._declines and workflow.patched(SETTLE_DECLINES_AT_THE_END):
            await self._settle_declines()
        await self._settle_withdrawals()
        await self._close_open(OfferStatus.WITHDRAWN, self._cancelled_because())
        accepted = self._accepted
        if accepted is None or self._told:
            return
        if self._occupied and workflow.patched(FREE_WHEN_CONVERSATION_GONE):
            await self._hand_back_slot(accepted)
        elif not self._occupied and workflow.patched(CLEAN_UP_A_CANCEL):
            await self._hand_back_slot(accepted, occupied=False)

    async def _finish_interrupted(self) -> None:
        """Wait for the calls a cancel interrupted, then release the offers an interrupted reserve
        made (the escalation never saw them) and count an interrupted occupy as done."""
        for call in list(self._in_flight):
            await asyncio.shield(call)
        reserving, self._reserving = self._reserving, None
        if reserving is not None:
            for reservation in reserving.result().reservations:
                if reservation.offer_id not in self._offers:
                    await self._release_offer(reservation.offer_id, idle=False)
        if self._occupying:
            self._occupied = True

    def _close(self, offer: Offer, status: OfferStatus) -> None:
        self._offers[offer.offer_id] = offer.model_copy(update={"status": status})

    async def _release(self, offer: Offer, *, idle: bool) -> None:
        await self._release_offer(offer.offer_id, idle=idle)

    async def _release_offer(self, offer: str, *, idle: bool) -> None:
        await self._carried_through(
            workflow.start_activity_method(
                RosterActivities.release,
                ReleaseCall(
                    roster_id=self._params.routing.roster_id,
                    request=ReleaseRequest(offer_id=offer, idle=idle),
                ),
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=DURABLE_RETRY,
            )
        )

    async def _announce(self, events: list[DomainEvent]) -> None:
        """Publish the events and bring the live view up to date, side by side; then recheck the
        offers this view shows whose specialist was not read again since (`_recheck`)."""
        self._version += 1
        # Taken with the view: a supervisor's offer made while this write runs is not in it.
        shown = list(self._unchecked)
        written = False
        view = workflow.start_activity_method(
            LiveViewActivities.sync_live_view,
            self._live_view(),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=VIEW_RETRY,
        )
        if events:
            await self._carried_through(
                workflow.start_activity_method(
                    EventActivities.publish_events,
                    EventBatch(events=events),
                    start_to_close_timeout=ACTIVITY_TIMEOUT,
                    retry_policy=DURABLE_RETRY,
                )
            )
        try:
            await view
        except ActivityError as error:
            if is_cancelled_exception(error) and workflow.patched(CLEAN_UP_A_CANCEL):
                raise
            self._view_behind = True
            workflow.logger.warning("live view not updated (a later change repairs it): %s", error)
        else:
            self._view_behind = False
            written = True
        if shown:
            await self._recheck(shown, written=written)

    def _event(self, event_type: EventType, step: str, data: dict[str, Any]) -> DomainEvent:
        params = self._params
        return DomainEvent(
            id=event_id(execution_scope(), step),
            type=event_type,
            source=f"/warmline/tenants/{params.tenant_id}",
            subject=params.conversation_id,
            time=workflow.now(),
            data=data,
        )


def _cleans_up_after(error: BaseException) -> bool:
    """Whether `run` cleans up after `error`: a cancel that interrupted a wait always, one that
    interrupted an activity since `CLEAN_UP_A_CANCEL` (before, it ended the workflow as it was)."""
    if isinstance(error, asyncio.CancelledError):
        return True
    return is_cancelled_exception(error) and workflow.patched(CLEAN_UP_A_CANCEL)


VERSIONS_PER_MILLISECOND = 2048
"""Room for an execution's changes before the next millisecond's execution would start; and
2^53 (exact in Redis's Lua numbers) over it is the year 2109 in milliseconds."""


def _incarnation() -> int:
    """Where this execution's view versions start: its start millisecond, times 2048.

    A conversation started again after it closed reuses its escalations' ids, and the live view
    keeps the last version of a finished escalation for a day to ignore late, older applies; the
    new execution's first views must count as newer than the old one's last, or its offers would
    never reach the specialists' screens (with seconds, a restart within the same second did not).
    """
    started = workflow.info().start_time
    return int(started.timestamp() * 1000) * VERSIONS_PER_MILLISECOND
