"""ConversationWorkflow: one per conversation, from the first message to its close.

It takes customer messages through a validated update, has each one triaged by an activity (the
crisis screen always runs), keeps the emotional trajectory, applies the configured escalation rules,
emits a domain event for every step, closes on request or after inactivity, and continues as new
before its history grows long. Everything that touches the outside world is an activity.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.events import EventActivities, EventBatch
    from activities.triage import TriageActivities
    from warmline.config.expressions import (
        Condition,
        EvaluationContext,
        EvaluationError,
        parse_condition,
    )
    from warmline.conversation import (
        MAX_MESSAGE_CHARS,
        AIReply,
        Carry,
        CloseRequest,
        ConversationInput,
        ConversationOutcome,
        ConversationView,
        CustomerMessage,
        Escalation,
        MessageAccepted,
        RuleSpec,
        Status,
        TrajectoryPoint,
        Turn,
    )
    from warmline.events import DomainEvent, EventType, event_id
    from warmline.triage.types import (
        NEGATIVE_EMOTIONS,
        POSITIVE_EMOTIONS,
        ContextMessage,
        Role,
        TriageRequest,
        TriageResult,
    )

# Triage is worth retrying a few times; past that the activity error surfaces in the history.
TRIAGE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
)
# Events must never be lost: publishing retries until Kafka is back, however long that takes.
PUBLISH_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
)
ACTIVITY_TIMEOUT = timedelta(seconds=30)
CONTEXT_MESSAGES = 5
"""How many earlier messages (customer and AI) the triage provider sees."""
TRAJECTORY_KEPT = 100
"""Trajectory points kept in state (and carried over); rules look back at most this far."""


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
        self._seen: set[str] = {
            *(t.message_id for t in self._turns if t.role is Role.CUSTOMER),
            *(m.message_id for m in self._pending),
        }
        self._close_reason: str | None = None
        self._handled_this_run = 0
        self._answers: dict[str, MessageAccepted] = {}
        """Answers waiting for their update handler to pick them up."""

    @workflow.run
    async def run(self, params: ConversationInput) -> ConversationOutcome:
        if params.carry is None:
            started = self._event(
                EventType.CONVERSATION_STARTED, "started", {"channel": params.channel}
            )
            await self._publish([started])
        policy = params.policy
        while True:
            try:
                await workflow.wait_condition(
                    lambda: bool(self._pending) or self._close_reason is not None,
                    timeout=policy.inactivity_timeout,
                )
            except TimeoutError:
                self._close_reason = "inactivity"
            # Messages accepted before a close are still triaged: nothing accepted is dropped.
            while self._pending:
                await self._handle(self._pending.pop(0))
            if self._close_reason is not None:
                break
            if self._handled_this_run >= policy.max_messages_before_continue_as_new:
                # A handler still waiting means a message arrived meanwhile: triage it first.
                await workflow.wait_condition(
                    lambda: workflow.all_handlers_finished() or bool(self._pending)
                )
                if not self._pending:
                    workflow.continue_as_new(params.model_copy(update={"carry": self._carry()}))

        closed = self._event(
            EventType.CONVERSATION_CLOSED,
            "closed",
            {"reason": self._close_reason, "messages": self._message_count},
        )
        await self._publish([closed])
        await workflow.wait_condition(workflow.all_handlers_finished)
        return ConversationOutcome(
            conversation_id=params.conversation_id,
            message_count=self._message_count,
            escalation=self._escalation,
            closed_reason=self._close_reason or "resolved",
        )

    @workflow.update
    async def add_message(self, message: CustomerMessage) -> MessageAccepted:
        """Take a customer message; answer once it is triaged. A repeated id is not re-triaged."""
        if message.message_id in self._seen:
            return MessageAccepted(message_id=message.message_id, duplicate=True)
        self._seen.add(message.message_id)
        self._pending.append(message)
        await workflow.wait_condition(lambda: message.message_id in self._answers)
        return self._answers.pop(message.message_id)

    @add_message.validator
    def _validate_message(self, message: CustomerMessage) -> None:
        if self._close_reason is not None:
            raise ValueError(f"conversation is closed ({self._close_reason})")
        if not message.text.strip():
            raise ValueError("message is empty")
        if len(message.text) > MAX_MESSAGE_CHARS:
            raise ValueError(
                f"message has {len(message.text)} characters; the limit is {MAX_MESSAGE_CHARS}"
            )
        if not message.message_id.strip():
            raise ValueError("message_id is empty")

    @workflow.update
    def record_reply(self, reply: AIReply) -> None:
        """Record a reply the AI sent, so the conversation shows (and triage reads) all of it."""
        self._add_turn(Turn(role=Role.AI, message_id=reply.message_id, text=reply.text))

    @record_reply.validator
    def _validate_reply(self, reply: AIReply) -> None:
        if self._close_reason is not None:
            raise ValueError(f"conversation is closed ({self._close_reason})")
        if self._escalation is not None:
            raise ValueError(
                f"the conversation is escalated to {self._escalation.queue!r}: a person owns it "
                "and the AI no longer replies"
            )
        if not reply.text.strip():
            raise ValueError("reply is empty")
        if len(reply.text) > MAX_MESSAGE_CHARS:
            raise ValueError(
                f"reply has {len(reply.text)} characters; the limit is {MAX_MESSAGE_CHARS}"
            )

    @workflow.signal
    def close(self, request: CloseRequest) -> None:
        if self._close_reason is None:
            self._close_reason = request.reason

    @workflow.query
    def view(self) -> ConversationView:
        if self._close_reason is not None:
            status = Status.CLOSED
        elif self._escalation is not None:
            status = Status.ESCALATED
        else:
            status = Status.OPEN
        return ConversationView(
            status=status,
            message_count=self._message_count,
            trajectory=self._trajectory,
            escalation=self._escalation,
            turns=self._turns,
        )

    def _add_turn(self, turn: Turn) -> None:
        self._turns = [*self._turns, turn][-CONTEXT_MESSAGES:]

    async def _handle(self, message: CustomerMessage) -> None:
        self._message_count += 1
        self._handled_this_run += 1
        params = self._params
        request = TriageRequest(
            tenant_id=params.tenant_id,
            conversation_id=params.conversation_id,
            message_id=message.message_id,
            text=message.text,
            context=[ContextMessage(role=t.role, text=t.text) for t in self._turns],
            country=params.country,
        )
        result: TriageResult = await workflow.execute_activity_method(
            TriageActivities.triage_message,
            request,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=TRIAGE_RETRY,
        )
        self._add_turn(Turn(role=Role.CUSTOMER, message_id=message.message_id, text=message.text))
        point = TrajectoryPoint.from_result(message.message_id, result)
        self._trajectory = [*self._trajectory, point][-TRAJECTORY_KEPT:]

        step = message.message_id
        events = [
            self._event(EventType.MESSAGE_TRIAGED, f"{step}/triaged", _triaged_data(result, step))
        ]
        if result.crisis:
            events.append(
                self._event(
                    EventType.CRISIS_DETECTED,
                    f"{step}/crisis",
                    {"message_id": step, "risk_flags": [f.value for f in result.risk_flags]},
                )
            )
        if self._escalation is None:
            self._escalation = self._decide(result, step)
            if self._escalation is not None:
                events.append(
                    self._event(
                        EventType.CONVERSATION_ESCALATED,
                        f"{step}/escalated",
                        self._escalation.model_dump(mode="json"),
                    )
                )
        await self._publish(events)
        self._answers[step] = MessageAccepted(
            message_id=step,
            distress=result.distress,
            crisis=result.crisis,
            escalated=self._escalation is not None,
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
                    crisis=False,
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
                    "crisis": any(flag.is_crisis for flag in point.risk_flags),
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

    def _carry(self) -> Carry:
        return Carry(
            message_count=self._message_count,
            trajectory=self._trajectory,
            pending=self._pending,
            turns=self._turns,
            escalation=self._escalation,
        )

    def _event(self, event_type: EventType, step: str, data: dict[str, Any]) -> DomainEvent:
        params = self._params
        return DomainEvent(
            id=event_id(workflow.info().workflow_id, step),
            type=event_type,
            source=f"/warmline/tenants/{params.tenant_id}",
            subject=params.conversation_id,
            time=workflow.now(),
            data=data,
        )

    async def _publish(self, events: list[DomainEvent]) -> None:
        await workflow.execute_activity_method(
            EventActivities.publish_events,
            EventBatch(events=events),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=PUBLISH_RETRY,
        )


def _triaged_data(result: TriageResult, message_id: str) -> dict[str, Any]:
    return {
        "message_id": message_id,
        **result.model_dump(mode="json", exclude={"provider"}),
    }
