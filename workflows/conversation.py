"""ConversationWorkflow: one per conversation, from the first message to its close.

It takes customer messages through a validated update, has each one triaged by an activity (the
crisis screen always runs), keeps the emotional trajectory, applies the configured escalation rules,
and on an escalation starts an `EscalationWorkflow` child to find a specialist. Once one accepts,
it renders the warm handoff and holds the specialist's side of the conversation: risk
acknowledgement, replies, corrections of the AI's reading, transfer, hand-back to the AI, completion
and the customer's satisfaction score. It emits a domain event for every step, closes on request
or after inactivity, and continues as new before its history grows long. Everything that touches
the outside world is an activity.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError, FailureError
from temporalio.workflow import ParentClosePolicy

from workflows.scope import execution_scope

with workflow.unsafe.imports_passed_through():
    from activities.events import EventActivities, EventBatch
    from activities.handoff import HandoffActivities
    from activities.routing import FreeCall, RosterActivities
    from activities.triage import EventStamp, TriageActivities, TriageCall, triage_events
    from warmline.config.expressions import (
        Condition,
        EvaluationContext,
        EvaluationError,
        parse_condition,
    )
    from warmline.conversation import (
        MAX_MESSAGE_CHARS,
        MAX_MESSAGE_ID_CHARS,
        RECEIVE_MESSAGE_SIGNAL,
        AIReply,
        Carry,
        CloseRequest,
        CompleteRequest,
        ConversationInput,
        ConversationOutcome,
        ConversationView,
        Correction,
        CustomerMessage,
        EndedHandoff,
        EndingRequest,
        EscalationPolicy,
        HandBackRequest,
        HandoffState,
        MessageAccepted,
        RefusedMessage,
        RuleSpec,
        SatisfactionRating,
        SpecialistAction,
        SpecialistReply,
        Status,
        TrajectoryPoint,
        TransferRequest,
        TriageCorrection,
        Turn,
    )
    from warmline.escalation import (
        ASSIGNED_SIGNAL,
        CRISIS_NOTICE_SIGNAL,
        MOVED_TO_THE_CRISIS_LANE,
        Assignment,
        CallOff,
        CrisisNotice,
        Escalation,
        EscalationInput,
        Rejection,
        escalation_workflow_id,
    )
    from warmline.events import DomainEvent, EventType, event_id
    from warmline.handoff import HandoffPoint, HandoffRequest, HandoffTurn, crisis_by
    from warmline.roster import FreeRequest
    from warmline.triage.types import (
        GOEMOTIONS_LABELS,
        NEGATIVE_EMOTIONS,
        POSITIVE_EMOTIONS,
        ContextMessage,
        RiskFlag,
        Role,
        TriageRequest,
        TriageResult,
    )
    from workflows.escalation import EscalationWorkflow

# Triage retries until its events are published: a provider that keeps failing is replaced by
# the lexicon from the third attempt (`activities.triage`), so only Kafka can hold a message up,
# and its events must wait for it rather than be lost. Before, five failed attempts (two minutes
# of a Kafka or LLM outage) failed the whole conversation, crisis ones included. Retry options
# are not part of the history's commands, so running conversations replay unchanged.
TRIAGE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
)
# Events and roster changes must never be lost: retry until Kafka (or Temporal) is back.
PUBLISH_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
)
ACTIVITY_TIMEOUT = timedelta(seconds=30)
TRIAGE_PUBLISHES = "triage-publishes-its-events"
"""Patch marker: from here on the triage activity publishes `message.triaged` itself."""
LEAN_MESSAGES = "started-with-first-triage-one-inactivity-timer"
"""Patch marker: `conversation.started` goes out with the first triage's events, and one inactivity
timer runs per quiet spell instead of one per message."""
LOCAL_ACTIVITIES = "short-steps-as-local-activities"
"""Patch marker: event publishes, and triage when the policy asks for it
(`EscalationPolicy.triage_as_local_activity`), run as local activities inside the workflow task."""
CANCEL_THE_ESCALATION_BY_ID = "cancel-the-escalation-by-its-workflow-id"
"""Patch marker: the conversation cancels its escalation by workflow id, which reaches a run the
escalation continued as new, and tells it so (`EscalationInput.cancelled_by_workflow_id`)."""
CALL_OFF_SEARCH = "cancel-the-escalation-on-close"
"""Patch marker: a conversation that closes while its escalation still looks for a specialist
cancels that escalation itself and waits for it to end."""
A_REPEATED_REPLY_IS_SENT_ONCE = "a-repeated-reply-is-sent-once"
"""Patch marker: a specialist's reply whose `message_id` was already sent (a client's retry) adds
no second turn."""
A_REPEATED_CORRECTION_IS_KEPT_ONCE = "a-repeated-correction-is-kept-once"
"""Patch marker: a triage correction equal to the last one (a client's retry) is neither kept nor
published again."""
A_COMPLETION_ENDS_THE_ESCALATION = "a-completion-ends-the-escalation"
"""Patch marker: a specialist's `complete` ends the escalation, so the customer's messages during
the satisfaction survey are screened for escalation again (a crisis escalates and closes the
survey); before, nothing escalated after a completion."""
A_REPEATED_MESSAGE_GETS_ITS_ANSWER = "a-repeated-message-gets-its-answer"
"""Patch marker: a customer message whose id was already received (a client's retry) is answered
with what triage made of the first (after it is triaged, if it still waits), not with a bare
`duplicate` that says no crisis and no escalation; a signalled one with other text is refused."""
AN_AI_REPLY_IS_RECORDED_ONCE = "an-ai-reply-is-recorded-once"
"""Patch marker: an AI reply whose `message_id` was already recorded (a client's retry) adds no
second turn."""
LONG_MESSAGE_IDS_ARE_REFUSED = "long-message-ids-are-refused"
"""Patch marker: a signalled customer message whose id is over `MAX_MESSAGE_ID_CHARS` is refused
(kept in state, carried over and sent with every event, it had no limit)."""
SEEN_IDS_ARE_CARRIED = "seen-message-ids-are-carried"
"""Patch marker: the ids of the last `SEEN_KEPT` customer messages are carried over a
continue-as-new; before, only those still in the kept transcript were, so a retry of an older
message was triaged and counted again."""
CRISIS_UPGRADES_A_WAITING_ESCALATION = "crisis-upgrades-a-waiting-escalation"
"""Patch marker: a crisis written while an ordinary escalation still waits for a specialist (nobody
accepted yet) ends that escalation (its offers withdrawn) and escalates to the crisis lane. Before,
`crisis.detected` went out but the conversation kept waiting in the ordinary queue, with its SLA,
no crisis-trained offer and no referrals."""
AN_UPGRADE_SAYS_WHY = "a-crisis-upgrade-tells-the-escalation-why"
"""Patch marker: before cancelling the waiting escalation a crisis moves to the crisis lane, the
conversation tells it why (`call_off`), so its withdrawn offers say `moved to the crisis lane`;
before, they said `conversation closed`, which was false."""
TRANSCRIPT_WITHIN_A_BUDGET = "transcript-kept-within-a-size-budget"
"""Patch marker: the transcript kept, carried over a continue-as-new and sent to `render_handoff`
is the newest turns within `TRANSCRIPT_CHARS_KEPT` characters; before, only `TURNS_KEPT` bounded
it, up to 4 MB of text, and a continue-as-new or a handoff over Temporal's payload limit failed."""
A_RETRIED_END_GETS_THE_FIRST_ANSWER = "a-retried-end-of-a-handoff-gets-the-first-answer"
"""Patch marker: a specialist's `complete`, `hand_back` or `transfer` sent again after it ended
their handoff (a client's retry after a lost answer: the same request from the same specialist)
is answered as the first was and does nothing. Before, the retry was refused
(`FailedPrecondition`, "no specialist owns this conversation now") though the first went through.
The end is recorded (`EndedHandoff`) and carried over a continue-as-new."""
A_RATING_AFTER_THE_SURVEY_IS_REFUSED = "a-rating-after-the-survey-is-refused"
"""Patch marker: a rating whose handler runs once the conversation is closing (closed, or the
survey timed out) is refused; before, it published `satisfaction.recorded` after
`conversation.closed`, whose satisfaction was None."""
A_REPLY_RESTARTS_THE_QUIET_SPELL = "a-reply-restarts-the-quiet-spell"
"""Patch marker: a specialist's reply or the AI's restarts the quiet spell, so the inactivity
timeout counts from the last message from anyone in the conversation; before, only the customer's
messages (and the conversation's own steps) did, and a specialist who replied 25 minutes into a
30-minute quiet spell saw the conversation close 5 minutes later, before the customer could
answer."""
AN_ACTION_WAITS_FOR_THE_PACKAGE = "an-action-during-the-render-waits-for-the-package"
"""Patch marker: a specialist's `acknowledge_risk` or `specialist_reply` accepted while their
handoff package is still being prepared waits for it (or for the handoff to end), and the handler
checks the action again as its validator would once the package is there. A worker replaying the
conversation (no cached run) hands a new update to the workflow in one activation with the
render's result and runs the validator before the result is applied, so the validator saw no
package and refused ("still being prepared") although the `view` query already showed it; the
validator now lets the package's owner through while it is being prepared. Recorded at the first
acknowledgement or reply of a run (whether it waited or not)."""
A_CLOSE_MEANWHILE_IS_KEPT = "a-close-or-transfer-meanwhile-stops-the-continue-as-new"
"""Patch marker: a conversation about to continue as new waits for its running handlers; when
one of them closed it (`complete` without a survey, `rate`, or a `close` signal that came
meanwhile) or started an escalation (`transfer`), it does not continue as new but closes, or
waits for the escalation, as it would have without the continue-as-new. Before, it continued as
new all the same: the carry has no close reason, so a completed conversation stayed open until
the inactivity timeout closed it (`conversation.closed` with reason `inactivity`, a day later),
a rating's satisfaction was lost; and the new run had no handle on the transfer's escalation, so
a customer who then left was still offered to specialists."""
RULES_READ_THE_CONFIGURED_CRISIS = "rules-read-the-configured-crisis-flags"
"""Patch marker: a rule's `crisis` holds when a message raised one of the deployment's crisis
flags (`triage.crisis.flags`), the verdict triage gives; before, it read every flag but `hostile`,
so with `abuse` left out of the crisis flags (to route it by a rule), `not crisis` was false for
an abuse message and a rule such as `distress >= 0.8 and not crisis` never escalated it."""
CONTEXT_MESSAGES = 5
"""How many earlier messages (customer and AI) the triage provider sees."""
TURNS_KEPT = 200
"""Transcript turns kept in state (and carried over) for the handoff's history."""
TRANSCRIPT_CHARS_KEPT = 300_000
"""Characters of turn text kept in state, carried over and sent to the handoff (the newest turns
that fit, and always the latest). `TURNS_KEPT` turns of up to `MAX_MESSAGE_CHARS` are 4 MB, over
Temporal's 2 MB payload limit (the server warns from 512 KB), so the continue-as-new input or the
`render_handoff` input of a long, wordy conversation would fail and leave it stuck. 300,000
characters is about 300 KB of ASCII text and still under 2 MB, with the carry's other fields, if
every character took 4 bytes of UTF-8; a specialist reads far less than that of a transcript."""
TRAJECTORY_KEPT = 100
"""Trajectory points kept in state (and carried over); rules look back at most this far."""
SEEN_KEPT = 1000
"""Customer message ids carried over for the dedupe (twice the default run's messages)."""
REFUSED_KEPT = 20
"""Refused `receive_message` signals kept for the view (not carried over)."""


def _reject(message: str, rejection: Rejection) -> ApplicationError:
    return ApplicationError(message, type=rejection.value)


@workflow.defn
class ConversationWorkflow:
    @workflow.init
    def __init__(self, params: ConversationInput) -> None:
        carry = params.carry
        self._params = params
        self._rules: list[tuple[RuleSpec, Condition]] = [
            (rule, parse_condition(rule.when)) for rule in params.policy.rules
        ]
        self._rule_window = max((condition.window for _, condition in self._rules), default=1)
        """How many recent messages the rules look back over."""
        self._pending: list[CustomerMessage] = list(carry.pending) if carry else []
        self._turns: list[Turn] = list(carry.turns) if carry else []
        self._trajectory: list[TrajectoryPoint] = list(carry.trajectory) if carry else []
        self._message_count = carry.message_count if carry else 0
        self._escalation: Escalation | None = carry.escalation if carry else None
        """The escalation in force: set from the escalation until a hand-back to the AI or the
        specialist's completion."""
        self._last_escalation = (carry.last_escalation or carry.escalation) if carry else None
        self._escalations = carry.escalations if carry else 0
        self._handoff: HandoffState | None = carry.handoff if carry else None
        self._handled_by: list[str] = list(carry.handled_by) if carry else []
        self._notes: list[str] = list(
            (carry.notes if carry else []) or (self._handoff.notes if self._handoff else [])
        )
        """Notes from every earlier specialist (transfers and hand-backs), passed on to the next
        handoff."""
        self._seen_order: list[str] = list(
            dict.fromkeys(
                [
                    *((carry.seen or []) if carry else []),
                    *(t.message_id for t in self._turns if t.role is Role.CUSTOMER),
                    *(m.message_id for m in self._pending),
                ]
            )
        )
        """Customer message ids received, oldest first (the last `SEEN_KEPT` are carried)."""
        self._seen: set[str] = set(self._seen_order)
        self._unanswered: set[str] = {m.message_id for m in self._pending}
        """Accepted customer messages not triaged yet."""
        self._refused: list[RefusedMessage] = []
        """Signalled messages dropped because `add_message` would have refused them."""
        self._close_reason: str | None = None
        self._handled_this_run = 0
        self._answers: dict[str, MessageAccepted] = {}
        """Answers waiting for their update handler to pick them up."""
        self._assignments: list[Assignment] = []
        self._notices: list[CrisisNotice] = []
        self._survey_open = carry.survey_open if carry else False
        self._handoff_outcome: str | None = carry.handoff_outcome if carry else None
        self._completed = self._survey_open
        """The last escalation's specialist completed: the view still shows that escalation."""
        self._satisfaction: int | None = None
        self._waits_for_package: bool | None = None
        """Whether this run takes `AN_ACTION_WAITS_FOR_THE_PACKAGE`'s path, once an action has
        asked: a run from before it (False) keeps its validators as they were, so no handler of
        its old path takes an action its validator let through while the package was prepared."""
        self._ended: EndedHandoff | None = carry.ended if carry else None
        """The last handoff a specialist ended, and the request that ended it (a retry of that
        request is answered as the first was)."""
        self._unannounced: list[DomainEvent] = []
        """Events published with the next triage (or the close): `conversation.started`."""
        self._last_activity = workflow.now()
        self._idle = False
        """Set by the inactivity watcher once nothing happened for the inactivity timeout."""
        self._lock = asyncio.Lock()
        """Held by every step that awaits: messages, specialists' actions, assignments."""
        self._search: workflow.ChildWorkflowHandle[EscalationWorkflow, Any] | None = None
        """The escalation child started in this run (None after a continue-as-new)."""
        self._search_by_id = False
        """`_search` was started told that it is cancelled by workflow id
        (`CANCEL_THE_ESCALATION_BY_ID`)."""

    @workflow.run
    async def run(self, params: ConversationInput) -> ConversationOutcome:
        policy = params.policy
        lean = workflow.patched(LEAN_MESSAGES)
        if params.carry is None:
            await self._announce_start(lean=lean)
        if lean:
            watcher = asyncio.create_task(self._watch_inactivity(policy.inactivity_timeout))
        while True:
            await self._wait_for_work(policy, lean=lean)
            async with self._lock:
                # Messages accepted before a close are still triaged: nothing accepted is dropped.
                while self._assignments:
                    await self._take_assignment(self._assignments.pop(0))
                while self._notices:
                    await self._send_referrals(self._notices.pop(0))
                while self._pending:
                    await self._handle(self._pending.pop(0))
            self._last_activity = workflow.now()
            self._idle = False
            if self._close_reason is not None:
                break
            if (
                self._handled_this_run >= policy.max_messages_before_continue_as_new
                and not self._waiting_for_specialist()
            ):
                await self._continue_as_new_once_handled(params)

        async with self._lock:
            search = self._search
            if (
                search is not None
                and not search.done()
                and self._handoff is None
                and workflow.patched(CALL_OFF_SEARCH)
            ):
                await self._call_off(search)
            if self._handoff is not None:
                # The customer left while a specialist held the conversation: free the slot.
                await self._free(self._handoff.owner)
            closed = self._event(
                EventType.CONVERSATION_CLOSED,
                "closed",
                {
                    "reason": self._close_reason,
                    "messages": self._message_count,
                    "outcome": self._handoff_outcome,
                    "satisfaction": self._satisfaction,
                },
            )
            await self._publish([*self._unannounced, closed])
            self._unannounced = []
        if lean:
            watcher.cancel()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return ConversationOutcome(
            conversation_id=params.conversation_id,
            message_count=self._message_count,
            escalation=self._last_escalation,
            closed_reason=self._close_reason or "resolved",
            handoff_outcome=self._handoff_outcome,
            satisfaction=self._satisfaction,
            handled_by=self._handled_by,
        )

    async def _continue_as_new_once_handled(self, params: ConversationInput) -> None:
        """Continue as new once the running handlers have finished, unless one of them left the
        run something to do: work (a message, an assignment, a crisis notice), a close or an
        escalation to wait for. Returns to the run loop when it does not continue as new."""
        # A handler still running means work arrived meanwhile: do it first.
        await workflow.wait_condition(
            lambda: workflow.all_handlers_finished() or bool(self._pending or self._assignments)
        )
        if self._pending or self._assignments or self._notices:
            return
        if (self._close_reason is not None or self._waiting_for_specialist()) and workflow.patched(
            A_CLOSE_MEANWHILE_IS_KEPT
        ):
            # A handler that finished meanwhile closed the conversation (`complete`, `rate`, a
            # `close` signal) or started an escalation (`transfer`): a carry keeps neither the
            # close nor the escalation child's handle.
            return
        workflow.continue_as_new(params.model_copy(update={"carry": self._carry()}))

    async def _wait_for_work(self, policy: EscalationPolicy, *, lean: bool) -> None:
        """Until there is work or the conversation closes (asked to, or by a timeout)."""
        if lean and not self._survey_open:
            await workflow.wait_condition(
                lambda: self._has_work() or self._close_reason is not None or self._idle
            )
            if self._idle and not self._has_work() and self._close_reason is None:
                self._close_reason = "inactivity"
        else:
            try:
                await workflow.wait_condition(
                    lambda: self._has_work() or self._close_reason is not None,
                    timeout=policy.survey_within
                    if self._survey_open
                    else policy.inactivity_timeout,
                )
            except TimeoutError:
                self._close_reason = "completed" if self._survey_open else "inactivity"

    async def _call_off(
        self, search: workflow.ChildWorkflowHandle[EscalationWorkflow, Any]
    ) -> None:
        """The customer left while the escalation still looks for someone: cancel it and wait
        until it has withdrawn its offers, rather than leave that to the parent close policy
        (which Temporal's time-skipping test server does not apply, so a benchmark there would
        keep offering departed customers to specialists). An accept that won the race arrives
        as an assignment: that specialist's slot is freed, since nobody is left to talk to."""
        if self._search_by_id:
            with contextlib.suppress(FailureError):
                await workflow.get_external_workflow_handle(search.id).cancel()
        else:
            search.cancel()
        await workflow.wait([search])
        while self._assignments:
            await self._free(self._assignments.pop(0).specialist_id)

    async def _announce_start(self, *, lean: bool) -> None:
        started = self._event(
            EventType.CONVERSATION_STARTED, "started", {"channel": self._params.channel}
        )
        if lean:
            self._unannounced.append(started)
        else:
            await self._publish([started])

    def _waiting_for_specialist(self) -> bool:
        """An escalation child is still looking for someone (no continue-as-new meanwhile)."""
        return (
            self._params.policy.routing is not None
            and self._escalation is not None
            and self._handoff is None
            and not self._survey_open
        )

    def _has_work(self) -> bool:
        return bool(self._pending or self._assignments or self._notices)

    async def _watch_inactivity(self, quiet_for: timedelta) -> None:
        """One timer per quiet spell rather than one per message: wake when `timeout` has passed
        since the last activity, and sleep on if something happened meanwhile."""
        while True:
            remaining = self._last_activity + quiet_for - workflow.now()
            if remaining > timedelta(0):
                await workflow.sleep(remaining)
                continue
            self._idle = True
            await workflow.wait_condition(lambda: not self._idle)

    def _restart_quiet_spell(self) -> None:
        """A reply restarts the quiet spell: the conversation closes for inactivity once nobody
        (customer, AI or specialist) has written for the inactivity timeout. The watcher's timer
        for the old spell wakes on it and sleeps on for the rest of the new one."""
        if workflow.patched(A_REPLY_RESTARTS_THE_QUIET_SPELL):
            self._last_activity = workflow.now()
            self._idle = False

    # --- the customer and the AI ---------------------------------------------------------------

    @workflow.update
    async def add_message(self, message: CustomerMessage) -> MessageAccepted:
        """Take a customer message; answer once it is triaged. A repeated id is not re-triaged:
        it is answered with what triage made of the first."""
        if message.message_id in self._seen:
            if workflow.patched(A_REPEATED_MESSAGE_GETS_ITS_ANSWER):
                return await self._answer_again(message.message_id)
            return MessageAccepted(message_id=message.message_id, duplicate=True)
        self._accept(message)
        await workflow.wait_condition(lambda: message.message_id in self._answers)
        return self._answers.pop(message.message_id)

    @add_message.validator
    def _validate_message(self, message: CustomerMessage) -> None:
        # Validators do not run on replay, so changes here need no patch marker.
        if message.message_id in self._seen:
            # A client's retry, also once the conversation closes: it is answered, not refused,
            # so a message that was taken is never reported lost.
            other = self._other_text(message)
            if other is not None:
                raise _reject(other, Rejection.ALREADY_EXISTS)
            return
        self._refuse_if_closed()
        problem = _message_problem(message) or _id_problem(message.message_id)
        if problem is not None:
            raise ValueError(problem)

    def _accept(self, message: CustomerMessage) -> None:
        self._seen.add(message.message_id)
        self._seen_order.append(message.message_id)
        self._unanswered.add(message.message_id)
        self._pending.append(message)

    def _other_text(self, message: CustomerMessage) -> str | None:
        """Why a message with a received id is not a retry of it (its text differs), or None."""
        known = [m.text for m in self._pending if m.message_id == message.message_id] + [
            t.text
            for t in self._turns
            if t.role is Role.CUSTOMER and t.message_id == message.message_id
        ]
        if known and message.text not in known:
            return (
                f"message {message.message_id!r} was already received with other text; give a "
                "new message a new message_id"
            )
        return None

    async def _answer_again(self, message_id: str) -> MessageAccepted:
        """The answer to a repeated message id: the first's reading, once it is triaged."""
        await workflow.wait_condition(lambda: message_id not in self._unanswered)
        point = next((p for p in reversed(self._trajectory) if p.message_id == message_id), None)
        return MessageAccepted(
            message_id=message_id,
            duplicate=True,
            distress=point.distress if point else None,
            crisis=point.crisis if point else False,
            escalated=self._escalation is not None,
        )

    @workflow.signal(name=RECEIVE_MESSAGE_SIGNAL)
    def receive_message(self, message: CustomerMessage) -> None:
        """Take a customer message from the inbound bridge, which signals-with-start: the first
        message starts the conversation. A repeated id is not re-triaged, as with `add_message`;
        a signal cannot be refused, so a message `add_message` would refuse (empty, too long, the
        conversation closing) is dropped and kept in the view's `refused` list instead."""
        if message.message_id in self._seen:
            other = self._other_text(message)
            if other is None or not workflow.patched(A_REPEATED_MESSAGE_GETS_ITS_ANSWER):
                return
            self._refuse(message, other)
            return
        problem = (
            f"conversation is closed ({self._close_reason})"
            if self._close_reason is not None
            else _message_problem(message)
        )
        if (
            problem is None
            and _id_problem(message.message_id) is not None
            and workflow.patched(LONG_MESSAGE_IDS_ARE_REFUSED)
        ):
            problem = _id_problem(message.message_id)
        if problem is not None:
            self._refuse(message, problem)
            return
        self._accept(message)

    def _refuse(self, message: CustomerMessage, problem: str) -> None:
        """Keep a dropped signalled message in the view's `refused` list, with why."""
        message_id = message.message_id[:MAX_MESSAGE_ID_CHARS]
        # The reason only: customer text stays out of logs.
        workflow.logger.warning("refused message %s: %s", message_id, problem)
        if all(r.message_id != message_id for r in self._refused):
            refused = RefusedMessage(message_id=message_id, reason=problem)
            self._refused = [*self._refused, refused][-REFUSED_KEPT:]

    @workflow.update
    def record_reply(self, reply: AIReply) -> None:
        """Record a reply the AI sent, so the conversation shows (and triage reads) all of it."""
        if self._recorded(reply) is not None and workflow.patched(AN_AI_REPLY_IS_RECORDED_ONCE):
            return  # the client's retry: recorded already
        self._add_turn(Turn(role=Role.AI, message_id=reply.message_id, text=reply.text))
        self._restart_quiet_spell()

    def _recorded(self, reply: AIReply) -> Turn | None:
        """The AI's turn with this reply's `message_id`, if it was recorded already."""
        return next(
            (t for t in self._turns if t.role is Role.AI and t.message_id == reply.message_id),
            None,
        )

    @record_reply.validator
    def _validate_reply(self, reply: AIReply) -> None:
        recorded = self._recorded(reply)
        if recorded is not None and recorded.text == reply.text:
            # A client's retry, also once the conversation is escalated or closes: the reply was
            # recorded, so it is answered as the first was rather than reported refused.
            return
        self._refuse_if_closed()
        if self._escalation is not None:
            raise ValueError(
                f"the conversation is escalated to {self._escalation.queue!r}: a person owns it "
                "and the AI no longer replies"
            )
        _check_text(reply.text, "reply")
        problem = _id_problem(reply.message_id)
        if problem is not None:
            raise ValueError(problem)
        if recorded is not None:
            raise _reject(
                f"reply {reply.message_id!r} was already recorded with other text; give a new "
                "reply a new message_id",
                Rejection.ALREADY_EXISTS,
            )

    @workflow.signal
    def close(self, request: CloseRequest) -> None:
        if self._close_reason is None:
            self._close_reason = request.reason

    @workflow.update
    async def rate(self, rating: SatisfactionRating) -> None:
        """The customer's satisfaction score, asked for when a specialist completed the handoff."""
        async with self._lock:
            if self._close_reason is not None and workflow.patched(
                A_RATING_AFTER_THE_SURVEY_IS_REFUSED
            ):
                # Closed (or the survey timed out) while the rating waited for the lock: the
                # closed event has gone out without it, so it is not recorded after it.
                raise _reject(
                    f"the survey is over: the conversation has ended ({self._close_reason})",
                    Rejection.FAILED_PRECONDITION,
                )
            if not self._completed:
                # A message escalated while the rating waited: the survey closed, someone is needed.
                raise _reject(
                    "the survey closed: the conversation was escalated again",
                    Rejection.FAILED_PRECONDITION,
                )
            self._satisfaction = rating.score
            self._survey_open = False
            await self._publish(
                [
                    self._event(
                        EventType.SATISFACTION_RECORDED,
                        "rated",
                        {"score": rating.score, "outcome": self._handoff_outcome},
                    )
                ]
            )
            self._close_reason = "completed"

    @rate.validator
    def _validate_rating(self, rating: SatisfactionRating) -> None:
        # A survey that timed out, or a `close` during it, leaves `_survey_open` set: the
        # conversation's end is what closes the survey then.
        if self._close_reason is not None:
            raise _reject(
                f"the survey is over: the conversation has ended ({self._close_reason})",
                Rejection.FAILED_PRECONDITION,
            )
        if not self._survey_open:
            raise _reject("no satisfaction survey is open", Rejection.FAILED_PRECONDITION)

    # --- escalation and handoff ---------------------------------------------------------------

    @workflow.signal(name=ASSIGNED_SIGNAL)
    def assigned(self, assignment: Assignment) -> None:
        """A specialist accepted the escalation's offer (sent by the escalation workflow)."""
        self._assignments.append(assignment)

    @workflow.signal(name=CRISIS_NOTICE_SIGNAL)
    def crisis_notice(self, notice: CrisisNotice) -> None:
        """Nobody accepted the crisis in time: the customer gets the referral resources now."""
        self._notices.append(notice)

    @workflow.update
    async def acknowledge_risk(self, action: SpecialistAction) -> None:
        # The package is rendered holding the lock: one still being prepared when the validator
        # ran (on a worker replaying the conversation) is ready once the lock is had, or the
        # acknowledgement is refused as its validator would refuse it now.
        checked = self._waits_for_package = workflow.patched(AN_ACTION_WAITS_FOR_THE_PACKAGE)
        async with self._lock:
            handoff = self._owned_by(action.specialist_id)
            if checked:
                self._check_acknowledgement(action, preparing=False)
            if handoff.acknowledged:
                return
            self._handoff = handoff.model_copy(update={"acknowledged": True})
            flags = handoff.package.risk_flags if handoff.package else []
            await self._publish(
                [
                    self._event(
                        EventType.RISK_ACKNOWLEDGED,
                        f"{self._escalations}/acknowledged",
                        {
                            "specialist": action.specialist_id,
                            "risk_flags": [f.value for f in flags],
                        },
                    )
                ]
            )

    @acknowledge_risk.validator
    def _validate_acknowledgement(self, action: SpecialistAction) -> None:
        # The package's owner is let through while it is being prepared: the handler waits for it.
        self._check_acknowledgement(action, preparing=self._waits_for_package is not False)

    def _check_acknowledgement(self, action: SpecialistAction, *, preparing: bool) -> None:
        """Refuse `action` as `acknowledge_risk` must; with `preparing`, a package still being
        prepared for the caller's handoff is no reason (the handler waits for it)."""
        handoff = self._owned_by(action.specialist_id)
        if handoff.package is None and not preparing:
            raise _reject(
                "the handoff package is still being prepared", Rejection.FAILED_PRECONDITION
            )

    async def _until_prepared(self, specialist_id: str) -> bool:
        """Wait while the package of `specialist_id`'s handoff is still being prepared (until it
        is ready, the handoff is no longer theirs or the conversation ends); True when the calling
        handler must then check its action again, as its validator would without `preparing`.

        A validator lets the owner through while the package is prepared, since a worker that
        replays the conversation runs it before the render's result is applied in the same
        activation. A later replay of that history may hand the update over after the result,
        so whether the handler waited must change nothing else: the marker is asked for at every
        call (False only for histories from before it), and the action is always checked again.
        """
        self._waits_for_package = workflow.patched(AN_ACTION_WAITS_FOR_THE_PACKAGE)
        if not self._waits_for_package:
            return False
        if not self._prepared_or_gone(specialist_id):
            await workflow.wait_condition(lambda: self._prepared_or_gone(specialist_id))
        return True

    def _prepared_or_gone(self, specialist_id: str) -> bool:
        handoff = self._handoff
        return (
            self._close_reason is not None
            or handoff is None
            or handoff.owner != specialist_id
            or handoff.package is not None
        )

    @workflow.update
    async def specialist_reply(self, reply: SpecialistReply) -> None:
        if await self._until_prepared(reply.specialist_id):
            self._check_reply(reply, preparing=False)
        if self._sent(reply) is not None and workflow.patched(A_REPEATED_REPLY_IS_SENT_ONCE):
            return
        self._add_turn(Turn(role=Role.SPECIALIST, message_id=reply.message_id, text=reply.text))
        self._restart_quiet_spell()

    def _sent(self, reply: SpecialistReply) -> Turn | None:
        """The specialist's turn with this reply's `message_id`, if it was sent already."""
        return next(
            (
                turn
                for turn in self._turns
                if turn.role is Role.SPECIALIST and turn.message_id == reply.message_id
            ),
            None,
        )

    @specialist_reply.validator
    def _validate_specialist_reply(self, reply: SpecialistReply) -> None:
        # The package's owner is let through while it is being prepared: the handler waits for it
        # and checks the acknowledgement then.
        self._check_reply(reply, preparing=self._waits_for_package is not False)

    def _check_reply(self, reply: SpecialistReply, *, preparing: bool) -> None:
        """Refuse `reply` as `specialist_reply` must; with `preparing`, a package still being
        prepared for the caller's handoff is no reason (the handler waits for it, and checks
        then that the risk was acknowledged if the package asks for it)."""
        handoff = self._owned_by(reply.specialist_id)
        if handoff.package is None and not preparing:
            raise _reject(
                "read the handoff first: it is still being prepared", Rejection.FAILED_PRECONDITION
            )
        if (
            handoff.package is not None
            and handoff.package.requires_acknowledgement
            and not handoff.acknowledged
        ):
            flags = ", ".join(f.value for f in handoff.package.risk_flags)
            raise _reject(
                f"acknowledge the risk flags ({flags}) before replying",
                Rejection.FAILED_PRECONDITION,
            )
        try:
            _check_text(reply.text, "reply")
        except ValueError as error:
            raise _reject(str(error), Rejection.INVALID_ARGUMENT) from None
        problem = _id_problem(reply.message_id)
        if problem is not None:
            raise _reject(problem, Rejection.INVALID_ARGUMENT)
        sent = self._sent(reply)
        if sent is not None and sent.text != reply.text:
            raise _reject(
                f"reply {reply.message_id!r} was already sent with other text; give a new "
                "reply a new message_id",
                Rejection.ALREADY_EXISTS,
            )

    @workflow.update
    async def correct_triage(self, correction: TriageCorrection) -> Correction:
        async with self._lock:
            handoff = self._owned_by(correction.specialist_id)
            point = self._point(correction.message_id)
            ai_labels = sorted(point.emotions, key=lambda label: -point.emotions[label])[:3]
            kept = Correction(
                specialist_id=correction.specialist_id,
                message_id=point.message_id,
                labels=correction.labels,
                note=correction.note,
                ai_labels=ai_labels,
            )
            if (
                handoff.corrections
                and handoff.corrections[-1] == kept
                and workflow.patched(A_REPEATED_CORRECTION_IS_KEPT_ONCE)
            ):
                return kept  # the client's retry: recorded and published already
            self._handoff = handoff.model_copy(update={"corrections": [*handoff.corrections, kept]})
            number = len(handoff.corrections) + 1
            await self._publish(
                [
                    self._event(
                        EventType.TRIAGE_CORRECTED,
                        f"{self._escalations}/corrected/{number}",
                        {**kept.model_dump(mode="json"), "model_version": point.model_version},
                    )
                ]
            )
            return kept

    @correct_triage.validator
    def _validate_correction(self, correction: TriageCorrection) -> None:
        self._owned_by(correction.specialist_id)
        if not correction.labels:
            raise _reject("give at least one label", Rejection.INVALID_ARGUMENT)
        unknown = [label for label in correction.labels if label not in GOEMOTIONS_LABELS]
        if unknown:
            raise _reject(
                f"unknown label(s) {', '.join(unknown)}; use the GoEmotions labels",
                Rejection.INVALID_ARGUMENT,
            )
        self._point(correction.message_id)

    @workflow.update
    async def transfer(self, request: TransferRequest) -> None:
        """Move the conversation to another queue; the context goes with it."""
        async with self._lock:
            if self._repeats_the_end(request) and workflow.patched(
                A_RETRIED_END_GETS_THE_FIRST_ANSWER
            ):
                return  # the client's retry: transferred already
            handoff = self._owned_for_ending(request)
            routing = self._params.policy.routing
            if routing is None:
                raise _reject("this deployment has no queues", Rejection.FAILED_PRECONDITION)
            from_queue = handoff.queue
            await self._free(request.specialist_id)
            self._handoff = None
            self._ended = EndedHandoff.by(request, queue=from_queue, escalation=self._escalations)
            queue = routing.queue(request.queue)
            note = f"{request.specialist_id} transferred from {from_queue}: {request.note}".strip()
            escalation = Escalation(
                queue=queue.name,
                reason=f"Transferred from {from_queue}. {request.note}".strip(),
                priority=queue.priority,
                rule="transfer",
                crisis=queue.name == routing.crisis.queue,
                message_id=self._last_message_id(),
            )
            await self._publish(
                [
                    self._event(
                        EventType.ESCALATION_REROUTED,
                        f"{self._escalations}/transferred",
                        {
                            "from_queue": from_queue,
                            "to_queue": queue.name,
                            "reason": "transfer",
                            "specialist": request.specialist_id,
                            "note": request.note,
                        },
                    )
                ]
            )
            self._notes = [*self._notes, note]
            self._record_escalation(escalation)
            await self._route(escalation, exclude=[request.specialist_id])

    @transfer.validator
    def _validate_transfer(self, request: TransferRequest) -> None:
        if self._repeats_the_end(request):
            return  # a client's retry, answered as the first was (also once closed)
        handoff = self._owned_for_ending(request)
        routing = self._params.policy.routing
        if routing is None or request.queue not in routing.queue_names:
            known = ", ".join(routing.queue_names) if routing else "none"
            raise _reject(
                f"no queue {request.queue!r}; queues: {known}", Rejection.INVALID_ARGUMENT
            )
        if request.queue == handoff.queue:
            raise _reject(
                f"the conversation is already in {request.queue!r}", Rejection.INVALID_ARGUMENT
            )

    @workflow.update
    async def hand_back(self, request: HandBackRequest) -> None:
        """Give the conversation back to the AI, which reads the note with the next message."""
        async with self._lock:
            if self._repeats_the_end(request) and workflow.patched(
                A_RETRIED_END_GETS_THE_FIRST_ANSWER
            ):
                return  # the client's retry: handed back already
            handoff = self._owned_for_ending(request)
            await self._free(request.specialist_id)
            self._handoff = None
            self._ended = EndedHandoff.by(
                request, queue=handoff.queue, escalation=self._escalations
            )
            self._escalation = None
            self._notes = [
                *self._notes,
                f"{request.specialist_id} handed back to the AI from {handoff.queue}: "
                f"{request.note}",
            ]
            self._add_turn(
                Turn(
                    role=Role.SPECIALIST,
                    message_id=f"handback-{self._escalations}",
                    text=f"Note for the AI from {request.specialist_id}: {request.note}",
                )
            )
            await self._publish(
                [
                    self._event(
                        EventType.HANDOFF_RETURNED,
                        f"{self._escalations}/returned",
                        {"specialist": request.specialist_id, "note": request.note},
                    )
                ]
            )

    @hand_back.validator
    def _validate_hand_back(self, request: HandBackRequest) -> None:
        if self._repeats_the_end(request):
            return  # a client's retry, answered as the first was (also once closed)
        self._owned_for_ending(request)
        if not request.note.strip():
            raise _reject("leave the AI a note", Rejection.INVALID_ARGUMENT)

    @workflow.update
    async def complete(self, request: CompleteRequest) -> None:
        async with self._lock:
            if self._repeats_the_end(request) and workflow.patched(
                A_RETRIED_END_GETS_THE_FIRST_ANSWER
            ):
                return  # the client's retry: completed already
            handoff = self._owned_for_ending(request)
            await self._free(request.specialist_id)
            self._handoff = None
            self._ended = EndedHandoff.by(
                request, queue=handoff.queue, escalation=self._escalations
            )
            self._handoff_outcome = request.outcome
            self._completed = True
            if workflow.patched(A_COMPLETION_ENDS_THE_ESCALATION):
                self._escalation = None
            await self._publish(
                [
                    self._event(
                        EventType.HANDOFF_COMPLETED,
                        f"{self._escalations}/completed",
                        {
                            "specialist": request.specialist_id,
                            "queue": handoff.queue,
                            "outcome": request.outcome,
                            "summary": request.summary,
                        },
                    )
                ]
            )
            if self._params.policy.satisfaction_survey:
                self._survey_open = True
            else:
                self._close_reason = "completed"

    @complete.validator
    def _validate_complete(self, request: CompleteRequest) -> None:
        if self._repeats_the_end(request):
            return  # a client's retry, answered as the first was (also once closed)
        self._owned_for_ending(request)
        if not request.outcome.strip():
            raise _reject("give an outcome, e.g. 'resolved'", Rejection.INVALID_ARGUMENT)

    @workflow.query
    def view(self) -> ConversationView:
        if self._close_reason is not None:
            status = Status.CLOSED
        elif self._survey_open:
            status = Status.SURVEY
        elif self._handoff is not None:
            status = Status.HANDOFF
        elif self._escalation is not None:
            status = Status.ESCALATED
        else:
            status = Status.OPEN
        handoff = self._handoff
        return ConversationView(
            status=status,
            message_count=self._message_count,
            trajectory=self._trajectory,
            escalation=self._last_escalation if self._completed else self._escalation,
            turns=self._turns,
            owner=handoff.owner if handoff else None,
            handoff=handoff.package if handoff else None,
            risk_acknowledged=handoff.acknowledged if handoff else False,
            corrections=handoff.corrections if handoff else [],
            escalations=self._escalations,
            refused=self._refused,
            ended=self._ended,
        )

    # --- steps ----------------------------------------------------------------------------------

    def _refuse_if_closed(self) -> None:
        if self._close_reason is not None:
            # A refusal the desk can name (FAILED_PRECONDITION), not an error it cannot.
            raise _reject(
                f"the conversation has ended ({self._close_reason})", Rejection.FAILED_PRECONDITION
            )

    def _owned_by(self, specialist_id: str) -> HandoffState:
        """The handoff, if `specialist_id` holds it; otherwise the reason they may not act."""
        self._refuse_if_closed()
        if self._handoff is None:
            raise _reject("no specialist owns this conversation now", Rejection.FAILED_PRECONDITION)
        if self._handoff.owner != specialist_id:
            raise _reject(
                "the conversation is owned by another specialist", Rejection.PERMISSION_DENIED
            )
        return self._handoff

    def _repeats_the_end(self, request: EndingRequest) -> bool:
        """Whether `request` is the one that ended the last handoff, sent again by its specialist
        (a client's retry after a lost answer): they must not hold the conversation again since,
        or it is a new request of theirs."""
        ended, handoff = self._ended, self._handoff
        return (
            ended is not None
            and ended.repeated_by(request)
            and (handoff is None or handoff.owner != request.specialist_id)
        )

    def _owned_for_ending(self, request: EndingRequest) -> HandoffState:
        """The handoff `request` ends, if its specialist holds it; otherwise why not. The
        specialist who ended the last handoff, asking to end it another way while nobody holds
        the conversation, is told what they did rather than that nobody owns it."""
        ended = self._ended
        if (
            ended is not None
            and ended.specialist_id == request.specialist_id
            and self._handoff is None
        ):
            raise _reject(ended.refusal(), Rejection.FAILED_PRECONDITION)
        return self._owned_by(request.specialist_id)

    def _point(self, message_id: str | None) -> TrajectoryPoint:
        if not self._trajectory:
            raise _reject("no message has been triaged yet", Rejection.FAILED_PRECONDITION)
        if message_id is None:
            return self._trajectory[-1]
        for point in self._trajectory:
            if point.message_id == message_id:
                return point
        raise _reject(f"no triaged message {message_id!r}", Rejection.NOT_FOUND)

    def _last_message_id(self) -> str:
        return self._trajectory[-1].message_id if self._trajectory else ""

    def _add_turn(self, turn: Turn) -> None:
        if turn.at is None:
            turn = turn.model_copy(update={"at": workflow.now()})
        self._turns = self._within_budget([*self._turns, turn][-TURNS_KEPT:])

    def _within_budget(self, turns: list[Turn]) -> list[Turn]:
        """`turns`, or once they hold over `TRANSCRIPT_CHARS_KEPT` characters the newest that
        fit, and at least the latest. Turns carried by a run from before the patch may be over."""
        over = sum(len(t.text) for t in turns) > TRANSCRIPT_CHARS_KEPT
        if not over or not workflow.patched(TRANSCRIPT_WITHIN_A_BUDGET):
            return turns
        kept: list[Turn] = []
        total = 0
        for turn in reversed(turns):
            total += len(turn.text)
            if kept and total > TRANSCRIPT_CHARS_KEPT:
                break
            kept.append(turn)
        return kept[::-1]

    async def _handle(self, message: CustomerMessage) -> None:
        self._message_count += 1
        self._handled_this_run += 1
        params = self._params
        request = TriageRequest(
            tenant_id=params.tenant_id,
            conversation_id=params.conversation_id,
            message_id=message.message_id,
            text=message.text,
            context=[
                ContextMessage(role=t.role, text=t.text) for t in self._turns[-CONTEXT_MESSAGES:]
            ],
            country=params.country,
            crisis_flags=params.policy.crisis_flags,
        )
        step = message.message_id
        stamp = EventStamp(
            scope=execution_scope(),
            source=f"/warmline/tenants/{params.tenant_id}",
            time=workflow.now(),
        )
        events: list[DomainEvent] = []
        if workflow.patched(TRIAGE_PUBLISHES):
            call = TriageCall(request=request, stamp=stamp, preceding=self._unannounced)
            if params.policy.triage_as_local_activity and workflow.patched(LOCAL_ACTIVITIES):
                result: TriageResult = await workflow.execute_local_activity_method(
                    TriageActivities.triage_and_publish,
                    call,
                    start_to_close_timeout=ACTIVITY_TIMEOUT,
                    retry_policy=TRIAGE_RETRY,
                )
            else:
                result = await workflow.execute_activity_method(
                    TriageActivities.triage_and_publish,
                    call,
                    start_to_close_timeout=ACTIVITY_TIMEOUT,
                    retry_policy=TRIAGE_RETRY,
                )
            self._unannounced = []
        else:
            result = await workflow.execute_activity_method(
                TriageActivities.triage_message,
                request,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=TRIAGE_RETRY,
            )
            events = triage_events(result, step, stamp, params.conversation_id)
        self._add_turn(Turn(role=Role.CUSTOMER, message_id=message.message_id, text=message.text))
        point = TrajectoryPoint.from_result(message.message_id, result)
        self._trajectory = [*self._trajectory, point][-TRAJECTORY_KEPT:]

        escalation = self._decide(result, step) if self._escalation is None else None
        upgrade = escalation is None and self._upgrades_to_crisis(result)
        if upgrade:
            escalation = self._decide(result, step)
        if escalation is not None:
            events.append(
                self._event(
                    EventType.CONVERSATION_ESCALATED,
                    f"{step}/escalated",
                    escalation.model_dump(mode="json"),
                )
            )
        if upgrade:
            await self._end_waiting_escalation()
        if escalation is not None:
            # Someone is needed again: the survey about the last specialist is closed unanswered.
            self._survey_open = False
            self._record_escalation(escalation)
        if events:
            await self._publish(events)
        if escalation is not None:
            await self._route(escalation, exclude=[])
        # Answered once every effect of the message is durable, so nothing is left in flight.
        self._answers[step] = MessageAccepted(
            message_id=step,
            distress=result.distress,
            crisis=result.crisis,
            escalated=self._escalation is not None,
        )
        self._unanswered.discard(step)

    def _upgrades_to_crisis(self, result: TriageResult) -> bool:
        """A crisis while an ordinary escalation still waits for someone: it moves to the crisis
        lane. Once a specialist owns the conversation (or their accept is in), it stays theirs:
        they see the crisis in the transcript and trajectory and may transfer it."""
        escalation = self._escalation
        return (
            result.crisis
            and escalation is not None
            and not escalation.crisis
            and self._handoff is None
            and not self._completed
            and not self._survey_open
            and not any(a.sequence == self._escalations for a in self._assignments)
            and workflow.patched(CRISIS_UPGRADES_A_WAITING_ESCALATION)
        )

    async def _end_waiting_escalation(self) -> None:
        """End the escalation that still waits, before the crisis lane's starts: it withdraws its
        open offers and releases their reservations, as when the customer leaves. An accept that
        lands meanwhile is too late: that specialist's slot is freed (`_call_off`)."""
        search = self._search
        if search is None or search.done():
            return
        if workflow.patched(AN_UPGRADE_SAYS_WHY):
            try:
                await search.signal(
                    EscalationWorkflow.call_off, CallOff(reason=MOVED_TO_THE_CRISIS_LANE)
                )
            except FailureError as error:
                # It ended meanwhile (an accept won): `_call_off` frees that slot all the same.
                workflow.logger.warning("the escalation did not take the call-off: %s", error)
        await self._call_off(search)

    def _record_escalation(self, escalation: Escalation) -> None:
        self._escalation = escalation
        self._last_escalation = escalation
        self._completed = False
        self._escalations += 1

    async def _route(self, escalation: Escalation, *, exclude: list[str]) -> None:
        """When routing is configured, start the escalation that finds a specialist."""
        routing = self._params.policy.routing
        if routing is None:
            return
        params = self._params
        self._search_by_id = workflow.patched(CANCEL_THE_ESCALATION_BY_ID)
        self._search = await workflow.start_child_workflow(
            EscalationWorkflow.run,
            EscalationInput(
                tenant_id=params.tenant_id,
                conversation_id=params.conversation_id,
                sequence=self._escalations,
                escalation=escalation,
                routing=routing,
                country=params.country,
                conversation_workflow_id=workflow.info().workflow_id,
                exclude=exclude,
                cancelled_by_workflow_id=self._search_by_id,
            ),
            id=escalation_workflow_id(params.tenant_id, params.conversation_id, self._escalations),
            parent_close_policy=ParentClosePolicy.REQUEST_CANCEL,
        )

    async def _take_assignment(self, assignment: Assignment) -> None:
        """A specialist accepted: they own the conversation once the handoff is rendered."""
        if assignment.sequence != self._escalations or self._escalation is None:
            workflow.logger.warning("ignoring a stale assignment %s", assignment.offer_id)
            return
        self._handled_by = [*self._handled_by, assignment.specialist_id]
        self._handoff = HandoffState(
            owner=assignment.specialist_id, queue=assignment.queue, notes=self._notes
        )
        package = await workflow.execute_activity_method(
            HandoffActivities.render_handoff,
            self._handoff_request(assignment),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=TRIAGE_RETRY,
        )
        if self._handoff is not None and self._handoff.owner == assignment.specialist_id:
            self._handoff = self._handoff.model_copy(update={"package": package})

    def _handoff_request(self, assignment: Assignment) -> HandoffRequest:
        params = self._params
        escalation = self._escalation
        if escalation is None:
            raise RuntimeError("a handoff needs an escalation")
        flags: list[RiskFlag] = []
        for point in self._trajectory:
            flags.extend(f for f in point.risk_flags if f not in flags)
        routing = params.policy.routing
        referrals = (
            routing.crisis.referrals_for(params.country)
            if routing is not None and crisis_by(escalation, flags)
            else []
        )
        rationale = next(
            (p.rationale for p in self._trajectory if p.message_id == escalation.message_id), ""
        )
        return HandoffRequest(
            tenant_id=params.tenant_id,
            conversation_id=params.conversation_id,
            specialist_id=assignment.specialist_id,
            queue=assignment.queue,
            escalation=escalation,
            history=[
                HandoffTurn(role=t.role, text=t.text, at=t.at)
                for t in self._within_budget(self._turns)
            ],
            trajectory=[
                HandoffPoint(
                    message_id=p.message_id,
                    distress=p.distress,
                    emotions=p.emotions,
                    risk_flags=p.risk_flags,
                    confidence=p.confidence,
                )
                for p in self._trajectory
            ],
            rationale=rationale,
            risk_flags=flags,
            referrals=referrals,
            country=params.country,
            customer_tier=params.customer_tier,
            waited=assignment.waited,
            notes=self._notes,
        )

    async def _send_referrals(self, notice: CrisisNotice) -> None:
        lines = [
            " · ".join(
                part
                for part in (
                    r.name,
                    f"call {r.phone}" if r.phone else "",
                    f"text {r.text}" if r.text else "",
                    r.url or "",
                    r.hours,
                )
                if part
            )
            for r in notice.referrals
        ]
        self._add_turn(
            Turn(
                role=Role.SYSTEM,
                message_id=f"referrals-{self._escalations}",
                text="You can reach someone right now:\n" + "\n".join(lines),
            )
        )
        await self._publish(
            [
                self._event(
                    EventType.REFERRALS_SENT,
                    f"{self._escalations}/referrals",
                    {
                        "country": self._params.country,
                        "referrals": [r.model_dump(mode="json") for r in notice.referrals],
                        "supervisor": notice.supervisor,
                    },
                )
            ]
        )

    async def _free(self, specialist_id: str) -> None:
        routing = self._params.policy.routing
        if routing is None:
            return
        await workflow.execute_activity_method(
            RosterActivities.free,
            FreeCall(
                roster_id=routing.roster_id,
                request=FreeRequest(
                    specialist_id=specialist_id,
                    conversation_id=self._params.conversation_id,
                    tenant_id=self._params.tenant_id,
                ),
            ),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=PUBLISH_RETRY,
        )

    def _decide(self, result: TriageResult, message_id: str) -> Escalation | None:
        """The crisis lane first, then the first configured rule that holds."""
        policy = self._params.policy
        if result.crisis:
            flags = ", ".join(f.value for f in result.risk_flags if f.is_crisis)
            return Escalation(
                queue=policy.crisis_queue,
                reason=f"Crisis screen raised {flags}.",
                priority=policy.crisis_priority,
                rule="crisis",
                crisis=True,
                message_id=message_id,
            )
        context = EvaluationContext(self._rule_values())
        for rule, condition in self._rules:
            try:
                holds = condition.evaluate(context)
            except EvaluationError as error:
                workflow.logger.warning("rule %s could not be evaluated: %s", rule.name, error)
                continue
            if holds:
                return Escalation(
                    queue=rule.queue,
                    reason=rule.reason,
                    priority=rule.priority,
                    rule=rule.name,
                    crisis=rule.queue == policy.crisis_queue,
                    message_id=message_id,
                )
        return None

    def _rule_values(self) -> list[dict[str, Any]]:
        """The values rule conditions read, one mapping per message of the trajectory."""
        params = self._params
        window = self._trajectory[-self._rule_window :]
        first = self._message_count - len(window) + 1
        values = []
        for offset, point in enumerate(window):
            positive = sum(s for label, s in point.emotions.items() if label in POSITIVE_EMOTIONS)
            negative = sum(s for label, s in point.emotions.items() if label in NEGATIVE_EMOTIONS)
            values.append(
                {
                    "distress": point.distress,
                    "confidence": point.confidence,
                    "sentiment": max(-1.0, min(1.0, positive - negative)),
                    "message_count": first + offset,
                    "risk_flags": [flag.value for flag in point.risk_flags],
                    "crisis": self._crisis_verdict(point),
                    "hostile": any(flag.value == "hostile" for flag in point.risk_flags),
                    "channel": params.channel,
                    "locale": params.locale or "",
                    "country": params.country or "",
                    "intent": "",
                    "customer_tier": params.customer_tier,
                    "emotions": point.emotions,
                }
            )
        return values

    def _crisis_verdict(self, point: TrajectoryPoint) -> bool:
        """What a rule's `crisis` reads for `point`: whether one of its risk flags is a crisis
        flag of the deployment (`triage.crisis.flags`), as triage decides `crisis`; every flag
        but `hostile` when the policy names none. Before `RULES_READ_THE_CONFIGURED_CRISIS` the
        rules read every flag but `hostile` whatever the configuration."""
        flagged = any(flag.is_crisis for flag in point.risk_flags)
        configured = self._params.policy.crisis_flags
        if configured is None:
            return flagged
        verdict = any(flag in configured for flag in point.risk_flags)
        if verdict != flagged and workflow.patched(RULES_READ_THE_CONFIGURED_CRISIS):
            return verdict
        return flagged

    def _carry(self) -> Carry:
        return Carry(
            message_count=self._message_count,
            trajectory=self._trajectory,
            pending=self._pending,
            turns=self._within_budget(self._turns),
            escalation=self._escalation,
            handoff=self._handoff,
            escalations=self._escalations,
            handled_by=self._handled_by,
            notes=self._notes,
            last_escalation=self._last_escalation,
            survey_open=self._survey_open,
            handoff_outcome=self._handoff_outcome,
            seen=self._seen_order[-SEEN_KEPT:] if workflow.patched(SEEN_IDS_ARE_CARRIED) else None,
            ended=(
                self._ended
                if self._ended is not None and workflow.patched(A_RETRIED_END_GETS_THE_FIRST_ANSWER)
                else None
            ),
        )

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

    async def _publish(self, events: list[DomainEvent]) -> None:
        if workflow.patched(LOCAL_ACTIVITIES):
            # A publish takes milliseconds; run in the workflow task it needs no activity task and
            # no second workflow task. Retries past the local retry threshold become timers.
            await workflow.execute_local_activity_method(
                EventActivities.publish_events,
                EventBatch(events=events),
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=PUBLISH_RETRY,
            )
            return
        await workflow.execute_activity_method(
            EventActivities.publish_events,
            EventBatch(events=events),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=PUBLISH_RETRY,
        )


def _message_problem(message: CustomerMessage) -> str | None:
    """Why a customer message cannot be taken, or None."""
    if not message.text.strip():
        return "message is empty"
    if len(message.text) > MAX_MESSAGE_CHARS:
        return f"message has {len(message.text)} characters; the limit is {MAX_MESSAGE_CHARS}"
    if not message.message_id.strip():
        return "message_id is empty"
    return None


def _id_problem(message_id: str) -> str | None:
    """Why a message id cannot be taken (too long), or None."""
    if len(message_id) > MAX_MESSAGE_ID_CHARS:
        return f"message_id has {len(message_id)} characters; the limit is {MAX_MESSAGE_ID_CHARS}"
    return None


def _check_text(text: str, what: str) -> None:
    if not text.strip():
        raise ValueError(f"{what} is empty")
    if len(text) > MAX_MESSAGE_CHARS:
        raise ValueError(f"{what} has {len(text)} characters; the limit is {MAX_MESSAGE_CHARS}")
