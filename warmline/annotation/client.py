"""Talking to the annotation loop from Python: start it, submit items, pull and label tasks.

The sampler, the annotator API and benchmarks all go through these functions, so the workflow's
signal, update and query names live in one place.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from datetime import timedelta
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as ActivityTimeoutError
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_delay,
    wait_exponential,
)

from warmline.annotation.model import (
    AnnotationInput,
    AnnotationPolicy,
    AnnotationReport,
    FlagRequest,
    FlagResult,
    FlushResult,
    ItemRequest,
    LabelSubmission,
    NextTaskRequest,
    NextTaskResult,
    RevealRequest,
    SkipRequest,
    SubmitResult,
    Task,
    TaskView,
    TextItem,
    annotation_workflow_id,
)
from warmline.annotation.redact import Redactor
from warmline.api.auth import NO_ANSWER_MESSAGE, answered_within
from warmline.errors import WarmlineError
from workflows.annotation import AnnotationWorkflow, Rejected

ResultT = TypeVar("ResultT", bound=BaseModel)
AnswerT = TypeVar("AnswerT")
LoopHandle = WorkflowHandle[AnnotationWorkflow, AnnotationReport]


class AnnotationRefusedError(WarmlineError):
    """The loop refused a request; `kind` is one of `Rejected`'s names (a gRPC status)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class AnnotationUnavailableError(AnnotationRefusedError):
    """An update failed because an activity it waits on could not reach its backend (Redis, for
    the wellness view `next_task` reads) through its retries: `Rejected.UNAVAILABLE`, retry later.
    `detail` is the activity and its error, for the server's log, not the caller."""

    def __init__(self, detail: str) -> None:
        super().__init__(
            Rejected.UNAVAILABLE, "a store the annotation loop reads is unreachable; retry"
        )
        self.detail = detail


class AnnotationNoAnswerError(AnnotationRefusedError):
    """The loop did not answer within the `rpc_timeout` of `AnnotationLoop` (its workers are down
    or overloaded): `Rejected.UNAVAILABLE`, try again. An update may still be applied later, when
    the workers are back; every update of the loop answers a repeat as it answered the first."""

    def __init__(self) -> None:
        super().__init__(Rejected.UNAVAILABLE, NO_ANSWER_MESSAGE)


async def start_loop(client: Client, policy: AnnotationPolicy, *, task_queue: str) -> LoopHandle:
    """The deployment's annotation workflow, started if it is not running."""
    return await client.start_workflow(
        AnnotationWorkflow.run,
        AnnotationInput(policy=policy),
        id=annotation_workflow_id(policy.deployment),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )


async def apply_policy(client: Client, policy: AnnotationPolicy, *, task_queue: str) -> None:
    """Start the loop with `policy`, or hand a running loop the (redeployed) policy."""
    await client.start_workflow(
        AnnotationWorkflow.run,
        AnnotationInput(policy=policy),
        id=annotation_workflow_id(policy.deployment),
        task_queue=task_queue,
        start_signal="set_policy",
        start_signal_args=[policy],
    )


async def submit_item(
    client: Client, policy: AnnotationPolicy, request: ItemRequest, *, task_queue: str
) -> None:
    """Signal-with-start: the loop annotates the message (it fetches and redacts the text)."""
    await client.start_workflow(
        AnnotationWorkflow.run,
        AnnotationInput(policy=policy),
        id=annotation_workflow_id(policy.deployment),
        task_queue=task_queue,
        start_signal="submit_item",
        start_signal_args=[request],
    )


async def submit_texts(
    client: Client,
    policy: AnnotationPolicy,
    items: Iterable[TextItem],
    *,
    task_queue: str,
    redactor: Redactor | None = None,
) -> int:
    """Annotate texts the caller holds (benchmarks, imports); redacted here before they are sent,
    so no personal data enters the workflow's history. Returns how many were sent."""
    redactor = redactor or Redactor()
    sent = 0
    for item in items:
        text, _ = redactor.redact(item.text)
        await client.start_workflow(
            AnnotationWorkflow.run,
            AnnotationInput(policy=policy),
            id=annotation_workflow_id(policy.deployment),
            task_queue=task_queue,
            start_signal="submit_text",
            start_signal_args=[item.model_copy(update={"text": text})],
        )
        sent += 1
    return sent


class AnnotationLoop:
    """The updates and queries of one deployment's running loop, with refusals as exceptions.

    `rpc_timeout` bounds each wait for the loop's answer, in all: with the workers down an update
    or a query is never answered, and the SDK's own `rpc_timeout` bounds one RPC of the several
    an update may take (it polls again for as long as the server answers "not yet"). A call not
    answered in time raises `AnnotationNoAnswerError`; None (the default) waits as long as the
    caller does.
    """

    def __init__(
        self, client: Client, deployment: str, *, rpc_timeout: timedelta | None = None
    ) -> None:
        self._handle: LoopHandle = client.get_workflow_handle_for(
            AnnotationWorkflow.run, annotation_workflow_id(deployment)
        )
        self._rpc_timeout = rpc_timeout

    async def next_task(self, annotator_id: str) -> NextTaskResult:
        return await self._update(
            "next_task", NextTaskRequest(annotator_id=annotator_id), NextTaskResult
        )

    async def submit(self, annotator_id: str, task_id: str, labels: list[str]) -> SubmitResult:
        submission = LabelSubmission(annotator_id=annotator_id, task_id=task_id, labels=labels)
        return await self._update("submit_labels", submission, SubmitResult)

    async def skip(self, annotator_id: str, task_id: str, reason: str) -> None:
        request = SkipRequest(annotator_id=annotator_id, task_id=task_id, reason=reason)
        await self._execute("skip_task", request, None)

    async def flag(self, annotator_id: str, task_id: str, note: str = "") -> FlagResult:
        request = FlagRequest(annotator_id=annotator_id, task_id=task_id, note=note)
        return await self._update("flag_distressing", request, FlagResult)

    async def reveal(self, annotator_id: str, task_id: str) -> TaskView:
        request = RevealRequest(annotator_id=annotator_id, task_id=task_id)
        return await self._update("reveal_text", request, TaskView)

    async def flush(self) -> FlushResult:
        return await self._update("flush", None, FlushResult)

    async def report(self) -> AnnotationReport:
        return await self._answered(
            self._handle.query(AnnotationWorkflow.report, rpc_timeout=self._rpc_timeout)
        )

    async def tasks(self) -> list[Task]:
        """Open tasks, with every annotator's labels (for supervisors and tests)."""
        return await self._answered(
            self._handle.query(AnnotationWorkflow.open_tasks, rpc_timeout=self._rpc_timeout)
        )

    async def _update(
        self, name: str, argument: BaseModel | None, result: type[ResultT]
    ) -> ResultT:
        value = await self._execute(name, argument, result)
        if not isinstance(value, result):
            raise TypeError(f"the {name} update answered {type(value).__name__}, not {result}")
        return value

    async def _execute(self, name: str, argument: BaseModel | None, result: Any) -> Any:
        """Run the update; a refusal while the loop rolls over to a fresh run is retried for up
        to `ROLLOVER_WAIT_S` before it reaches the caller as `Rejected.UNAVAILABLE`."""
        args = [] if argument is None else [argument]
        retrying = AsyncRetrying(
            retry=retry_if_exception(_rolling_over),
            wait=wait_exponential(multiplier=0.05, max=1.0),
            stop=stop_after_delay(ROLLOVER_WAIT_S),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._answered(
                        self._handle.execute_update(
                            name, args=args, result_type=result, rpc_timeout=self._rpc_timeout
                        )
                    )
        except WorkflowUpdateFailedError as error:
            cause = error.cause
            if isinstance(cause, ApplicationError) and cause.type in _REFUSALS:
                raise AnnotationRefusedError(cause.type, cause.message) from None
            if isinstance(cause, ActivityError) and _unreachable(cause):
                raise AnnotationUnavailableError(
                    f"{cause.activity_type}: {cause.cause or cause}"
                ) from error
            raise
        raise AssertionError("unreachable: tenacity re-raises the last attempt's error")

    async def _answered(self, call: Awaitable[AnswerT]) -> AnswerT:
        """`call`'s answer, or `AnnotationNoAnswerError` once `rpc_timeout` has passed (see
        `answered_within`)."""
        return await answered_within(self._rpc_timeout, call, AnnotationNoAnswerError)


ROLLOVER_WAIT_S = 30.0
"""How long an update waits for the loop's continue-as-new (normally well under a second)."""


def _rolling_over(error: BaseException) -> bool:
    cause = error.cause if isinstance(error, WorkflowUpdateFailedError) else None
    return isinstance(cause, ApplicationError) and cause.type == Rejected.UNAVAILABLE


UNREACHABLE_ERRORS = frozenset({"ConnectionError", "TimeoutError"})
"""Error types an activity reports for a backend it cannot reach: redis-py's and Python's
`ConnectionError` and `TimeoutError` (a failed activity carries its exception's class name)."""


def _unreachable(error: ActivityError) -> bool:
    """The activity gave up on a backend: it timed out, or failed to connect or to be answered;
    any other activity failure is a fault of ours and stays an error."""
    cause = error.cause
    while cause is not None:
        if isinstance(cause, ActivityTimeoutError) or (
            isinstance(cause, ApplicationError) and cause.type in UNREACHABLE_ERRORS
        ):
            return True
        cause = cause.__cause__
    return False


_REFUSALS = {
    Rejected.INVALID_ARGUMENT,
    Rejected.NOT_FOUND,
    Rejected.PERMISSION_DENIED,
    Rejected.FAILED_PRECONDITION,
    Rejected.ALREADY_EXISTS,
    Rejected.UNAVAILABLE,
}
