"""RosterWorkflow: one per deployment, the durable record of specialists' availability and load.

Escalations reserve specialists here (an update, so two escalations can never take the last slot of
the same person), accepts turn reservations into owned conversations, and completions free them.
All handlers are synchronous, so updates apply one at a time in history order; the workflow
continues as new before its history grows long.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from warmline.escalation import Rejection
    from warmline.roster import (
        AssignToRequest,
        AssignToResult,
        AvailabilityRequest,
        ConversationKey,
        FreeRequest,
        MemberState,
        OccupyRequest,
        ReleaseRequest,
        Reservation,
        ReserveRequest,
        ReserveResult,
        RosterInput,
        RosterMemberView,
        RosterSettings,
        RosterView,
        same_conversation,
    )
    from warmline.routing import (
        RoutingRequest,
        admission_named,
        candidates,
        count_work_in_hand,
        hold_crisis_responder,
        not_on_break,
        reserve_crisis_cover,
        strategy_named,
    )

CONTINUE_AS_NEW_AFTER = 2_000
"""Operations per run; each is one update in the history."""
CRISIS_COVER_PATCH = "crisis-by-outlook-and-evening-cover-reserve"
"""Histories from before it ranked a crisis by exposure now and reserved nobody."""
CRISIS_RESPONDER_PATCH = "work-in-hand-and-crisis-responder-held"
"""Histories from before it counted work in hand and held the next crisis responder back from
ordinary work held the evening's crisis cover instead."""
BREAKS_PATCH = "breaks-stop-offers-under-every-strategy"
"""Histories from before it let the classic strategies offer work to someone on a break."""


@workflow.defn
class RosterWorkflow:
    @workflow.init
    def __init__(self, params: RosterInput) -> None:
        self._roster_id = params.roster_id
        self._settings = params.settings
        self._states: dict[str, MemberState] = {s.id: s for s in params.states}
        self._reservations: dict[str, Reservation] = {r.offer_id: r for r in params.reservations}
        self._operations = 0
        self._configure(params.settings)

    @workflow.run
    async def run(self, params: RosterInput) -> None:
        await workflow.wait_condition(lambda: self._operations >= CONTINUE_AS_NEW_AFTER)
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(
            RosterInput(
                roster_id=self._roster_id,
                settings=self._settings,
                states=list(self._states.values()),
                reservations=list(self._reservations.values()),
            )
        )

    @workflow.update
    def configure(self, settings: RosterSettings) -> None:
        """Replace the members (a new configuration); known people keep their state."""
        self._operations += 1
        self._configure(settings)

    @configure.validator
    def _validate_configure(self, settings: RosterSettings) -> None:
        strategy_named(settings.strategy)

    @workflow.update
    def reserve(self, request: ReserveRequest) -> ReserveResult:
        """Reserve the best eligible specialists, one per offer id; repeats return the same."""
        self._operations += 1
        known = [self._reservations[o] for o in request.offer_ids if o in self._reservations]
        if known:
            return ReserveResult(reservations=known)
        # Nobody gets two offers of one conversation, nor an offer of one they already own; a
        # conversation is its tenant and id (another tenant's of the same id is another one).
        routing = RoutingRequest(
            skills=frozenset(request.skills),
            crisis=request.crisis,
            exclude=frozenset(request.exclude) | self._offered_this(request.conversation),
            intense=request.intense,
        )
        # Without wellness views (older requests, classic strategies) this is the old ranking.
        # Work is ranked by each shift's outlook, a crisis too (the day's early crises then go to
        # whoever goes home sooner), with the conversations each person is in the middle of
        # counted (`count_work_in_hand`); ordinary work goes first to anyone but the person the
        # next crisis would reach (`hold_crisis_responder`), who then takes it fresh. Histories
        # from before held the evening's crisis cover instead (`reserve_crisis_cover`), and
        # those from before that ranked a crisis by exposure now and held nobody.
        outlook = workflow.patched(CRISIS_COVER_PATCH)
        now = workflow.now() if outlook or not request.crisis else None
        states = [
            view.routing_state_with(request.wellness.get(view.member.id), now)
            for view in self._views()
        ]
        strategy, admits = (
            strategy_named(self._settings.strategy),
            admission_named(self._settings.strategy),
        )
        if outlook and workflow.patched(CRISIS_RESPONDER_PATCH):
            states = count_work_in_hand(states)
            if not request.crisis:
                states = hold_crisis_responder(states, strategy, admits)
        elif outlook and not request.crisis:
            states = reserve_crisis_cover(states)
        if self._settings.breaks_stop_offers and workflow.patched(BREAKS_PATCH):
            admits = not_on_break(admits)
        ranked = candidates(routing, states, strategy, admits=admits)
        chosen = []
        for offer, specialist in zip(request.offer_ids, ranked, strict=False):
            reservation = Reservation(
                offer_id=offer,
                specialist_id=specialist.id,
                conversation_id=request.conversation_id,
                tenant_id=request.tenant_id,
            )
            self._reservations[offer] = reservation
            state = self._states[specialist.id]
            self._states[specialist.id] = state.model_copy(
                update={"offers_received": state.offers_received + 1}
            )
            chosen.append(reservation)
        return ReserveResult(reservations=chosen)

    @workflow.update
    def assign_to(self, request: AssignToRequest) -> AssignToResult:
        """Reserve one named specialist for a supervisor's assignment; a repeat returns the same.

        The wellness filter (exposure budget, rotation, the crisis cap) and the ranking are the
        supervisor's to override; the roster, skills, availability, breaks and capacity are not.
        """
        self._operations += 1
        known = self._reservations.get(request.offer_id)
        if known is not None:
            return AssignToResult(reservation=known)
        refusal = self._assign_refusal(request)
        if refusal is not None:
            rejection, message = refusal
            # A result, not an error: the assign activity must not retry a refusal.
            return AssignToResult(refused=rejection.value, message=message)
        who = request.specialist_id
        state = self._states[who]
        reservation = Reservation(
            offer_id=request.offer_id,
            specialist_id=who,
            conversation_id=request.conversation_id,
            tenant_id=request.tenant_id,
        )
        self._reservations[request.offer_id] = reservation
        self._states[who] = state.model_copy(update={"offers_received": state.offers_received + 1})
        return AssignToResult(reservation=reservation)

    @workflow.update
    def release(self, request: ReleaseRequest) -> None:
        self._operations += 1
        reservation = self._reservations.pop(request.offer_id, None)
        if reservation is not None and request.idle:
            self._mark_idle(reservation.specialist_id)

    @workflow.update
    def occupy(self, request: OccupyRequest) -> None:
        self._operations += 1
        reservation = self._reservations.pop(request.offer_id, None)
        if reservation is None:
            return
        state = self._states[reservation.specialist_id]
        if not state.owns(reservation.conversation):
            self._states[reservation.specialist_id] = state.with_owned(
                [*state.owned, reservation.conversation]
            )

    @workflow.update
    def free(self, request: FreeRequest) -> None:
        self._operations += 1
        state = self._states.get(request.specialist_id)
        if state is None or not state.owns(request.conversation):
            return
        # One conversation ends: the one of this tenant, else one recorded without a tenant.
        owned = state.owned
        ending = next(
            (key for key in owned if key == request.conversation),
            next(key for key in owned if same_conversation(key, request.conversation)),
        )
        owned.remove(ending)
        self._states[request.specialist_id] = state.with_owned(owned).model_copy(
            update={"idle_since": workflow.now()}
        )

    @workflow.update
    def set_availability(self, request: AvailabilityRequest) -> MemberState:
        self._operations += 1
        state = self._states[request.specialist_id]
        if state.available != request.available:
            state = state.model_copy(
                update={"available": request.available, "idle_since": workflow.now()}
            )
            self._states[request.specialist_id] = state
        return state

    @set_availability.validator
    def _validate_availability(self, request: AvailabilityRequest) -> None:
        # A refusal the specialist API passes on as FAILED_PRECONDITION: its configuration may
        # list someone the workers' no longer does (a rollout that removes them), and a plain
        # exception would reach them as an internal error.
        if request.specialist_id not in self._members:
            raise ApplicationError(
                f"{request.specialist_id!r} is not on the roster (the workers' configuration "
                "does not list them)",
                type=Rejection.FAILED_PRECONDITION.value,
                non_retryable=True,
            )

    @workflow.query
    def view(self) -> RosterView:
        return RosterView(members=self._views(), reservations=list(self._reservations.values()))

    def _configure(self, settings: RosterSettings) -> None:
        self._settings = settings
        self._members = {m.id: m for m in settings.members}
        for member in settings.members:
            self._states.setdefault(member.id, MemberState(id=member.id))

    def _views(self) -> list[RosterMemberView]:
        reserved: dict[str, int] = {}
        for reservation in self._reservations.values():
            reserved[reservation.specialist_id] = reserved.get(reservation.specialist_id, 0) + 1
        return [
            RosterMemberView(member=m, state=self._states[m.id], reserved=reserved.get(m.id, 0))
            for m in self._members.values()
        ]

    def _assign_refusal(self, request: AssignToRequest) -> tuple[Rejection, str] | None:
        """Why the roster may not reserve the named specialist, in words a supervisor can act on."""
        who = request.specialist_id
        member = self._members.get(who)
        if member is None:
            return Rejection.NOT_FOUND, f"{who!r} is not on the roster"
        state = self._states[who]
        missing = sorted(set(request.skills) - set(member.skills))
        offered = self._offered_this(request.conversation)
        held = len(state.conversations) + sum(
            r.specialist_id == who for r in self._reservations.values()
        )
        checks = [
            (bool(missing), f"{who} lacks the queue's skills: {', '.join(missing)}"),
            (
                request.crisis and not member.crisis_trained,
                f"{who} is not crisis-trained (the crisis lane)",
            ),
            (
                request.wellness is not None and request.wellness.on_break,
                f"{who} is on a break, and a break is never overridden",
            ),
            (not state.available, f"{who} is marked unavailable"),
            (who in offered, f"{who} already holds this conversation or an offer of it"),
            (
                held >= member.capacity,
                f"{who} has no free slot ({held} of {member.capacity} in use)",
            ),
        ]
        for failed, message in checks:
            if failed:
                return Rejection.FAILED_PRECONDITION, message
        return None

    def _offered_this(self, conversation: ConversationKey) -> set[str]:
        """Specialists holding an open offer of this conversation or already owning it."""
        return {
            r.specialist_id
            for r in self._reservations.values()
            if same_conversation(r.conversation, conversation)
        } | {s.id for s in self._states.values() if s.owns(conversation)}

    def _mark_idle(self, specialist_id: str) -> None:
        state = self._states.get(specialist_id)
        if state is not None:
            self._states[specialist_id] = state.model_copy(update={"idle_since": workflow.now()})
