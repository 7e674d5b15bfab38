"""The annotator gRPC service (`warmline.v1.AnnotatorService`): the annotation loop's updates
behind bearer-token authentication and standard status codes.

Authentication mirrors the specialist API: a token names one annotator (or a supervisor, who may
read the agreement report and adjudicate when the policy says so), compared in constant time
against every configured token. Requests are validated before Temporal is contacted; the
workflow's update validators are the final judge, and their refusals become status codes.
An annotator's own availability goes to their wellness workflow, whose view the loop reads before
it hands out a task.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Final, NoReturn, TypeVar

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from typing_extensions import override

from warmline.annotation.client import (
    AnnotationLoop,
    AnnotationNoAnswerError,
    AnnotationRefusedError,
    AnnotationUnavailableError,
)
from warmline.annotation.model import (
    MAX_LABELS,
    MAX_REASON_CHARS,
    TONE_LABELS,
    AnnotationReport,
    TaskView,
)
from warmline.api.auth import (
    UnauthenticatedError,
    answered_within,
    bearer_token,
    call_cancelled,
    holder_of,
    retry_later,
)
from warmline.api.desk import RPC_TIMEOUT
from warmline.api.v1 import annotator_pb2 as pb
from warmline.api.v1 import annotator_pb2_grpc as pb_grpc
from warmline.config.model import WarmlineConfig
from warmline.wellness.client import WellnessClient
from warmline.wellness.types import Availability
from workflows.annotation import Rejected
from workflows.wellness import WellnessWorkflow

log = logging.getLogger(__name__)

SERVICE_NAME: Final = pb.DESCRIPTOR.services_by_name["AnnotatorService"].full_name
MAX_TASK_ID_CHARS = 600
LOOP_NOT_RUNNING = "the annotation loop is not running (not started yet, or stopped)"
"""`NextTask`'s reason, with no task, when the deployment's annotation loop is not running."""
STATUS_OF: Final = {
    Rejected.INVALID_ARGUMENT: grpc.StatusCode.INVALID_ARGUMENT,
    Rejected.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    Rejected.PERMISSION_DENIED: grpc.StatusCode.PERMISSION_DENIED,
    Rejected.FAILED_PRECONDITION: grpc.StatusCode.FAILED_PRECONDITION,
    Rejected.ALREADY_EXISTS: grpc.StatusCode.ALREADY_EXISTS,
    Rejected.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
}
ResponseT = TypeVar("ResponseT")
Context = grpc.aio.ServicerContext[Any, Any]


class Role(StrEnum):
    ANNOTATOR = "annotator"
    SUPERVISOR = "supervisor"


@dataclass(frozen=True)
class Worker:
    """An authenticated annotator or supervisor."""

    worker_id: str
    role: Role


class WorkerAuthenticator:
    """Maps bearer tokens to annotators and supervisors; built once from a configuration."""

    def __init__(self, entries: Iterable[tuple[str, Worker]]) -> None:
        self._entries = [(token.encode(), worker) for token, worker in entries if token]

    @classmethod
    def from_config(cls, config: WarmlineConfig) -> WorkerAuthenticator:
        return cls(
            [
                *(
                    (a.token.reveal(), Worker(a.id, Role.ANNOTATOR))
                    for a in config.annotation.annotators
                ),
                *(
                    (s.token.reveal(), Worker(s.id, Role.SUPERVISOR))
                    for s in config.routing.supervisors
                ),
            ]
        )

    def authenticate(self, metadata: Iterable[tuple[str, str | bytes]] | None) -> Worker:
        return holder_of(bearer_token(metadata), self._entries)


# --- validated requests ---------------------------------------------------------------------------

TaskId = Annotated[
    str, Field(min_length=1, max_length=MAX_TASK_ID_CHARS, pattern=r"^[^\x00-\x1f]+$")
]
Label = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,62}$")]


class _Request(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TaskRequest(_Request):
    task_id: TaskId


class Labels(_Request):
    task_id: TaskId
    labels: Annotated[list[Label], Field(min_length=1, max_length=MAX_LABELS)]


class Skip(_Request):
    task_id: TaskId
    reason: Annotated[str, Field(min_length=1, max_length=MAX_REASON_CHARS, pattern=r"\S")]


class Flag(_Request):
    task_id: TaskId
    note: Annotated[str, Field(max_length=MAX_REASON_CHARS)] = ""


class InvalidRequestError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotServedError(Exception):
    """A call this server was started without what it needs for (UNIMPLEMENTED)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


ModelT = TypeVar("ModelT", bound=BaseModel)


def _validated(model: type[ModelT], **fields: Any) -> ModelT:
    try:
        return model.model_validate(fields)
    except ValidationError as error:
        problems = []
        for detail in error.errors(include_url=False, include_input=False):
            where = ".".join(str(part) for part in detail["loc"]) or "request"
            problems.append(f"{where}: {detail['msg'].removeprefix('Value error, ')}")
        raise InvalidRequestError("; ".join(problems)) from None


# --- the service ----------------------------------------------------------------------------------


class AnnotatorService(pb_grpc.AnnotatorServiceServicer):
    """Authentication, validation and status codes; the annotation workflow does the work.

    `wellness` reaches the annotators' wellness workflows (the workers' task queue, where they
    run); without it `SetAvailability` is UNIMPLEMENTED. `rpc_timeout` bounds each wait for a
    workflow's answer, as the specialist desk's does: with the workers down a workflow never
    answers, and the caller is told `UNAVAILABLE` (try again) instead of waiting for ever.
    """

    def __init__(
        self,
        client: Client,
        config: WarmlineConfig,
        *,
        wellness: WellnessClient | None = None,
        rpc_timeout: timedelta = RPC_TIMEOUT,
    ) -> None:
        self._loop = AnnotationLoop(client, config.metadata.name, rpc_timeout=rpc_timeout)
        self._auth = WorkerAuthenticator.from_config(config)
        self._labels = frozenset(config.annotation.taxonomy.label_set) | frozenset(TONE_LABELS)
        self._wellness = wellness
        self._rpc_timeout = rpc_timeout

    @override
    async def NextTask(self, request: pb.NextTaskRequest, context: Context) -> pb.NextTaskResponse:
        async def next_task(worker: Worker) -> pb.NextTaskResponse:
            try:
                result = await self._loop.next_task(worker.worker_id)
            except RPCError as error:
                if error.status is not RPCStatusCode.NOT_FOUND:
                    raise
                # Not started yet, or stopped (Temporal answers an update to an ended workflow
                # with NOT_FOUND too): no task, and nothing the annotator did wrong.
                return pb.NextTaskResponse(reason=LOOP_NOT_RUNNING)
            response = pb.NextTaskResponse(reason=result.reason)
            if result.task is not None:
                response.task.CopyFrom(_task(result.task))
            return response

        return await self._call(context, next_task)

    @override
    async def SubmitLabels(
        self, request: pb.SubmitLabelsRequest, context: Context
    ) -> pb.SubmitLabelsResponse:
        async def submit(worker: Worker) -> pb.SubmitLabelsResponse:
            labels = _validated(Labels, task_id=request.task_id, labels=list(request.labels))
            unknown = [label for label in labels.labels if label not in self._labels]
            if unknown:
                raise InvalidRequestError(
                    f"label(s) {', '.join(map(repr, unknown))} are not in the taxonomy"
                )
            result = await self._missing_as_not_found(
                self._loop.submit(worker.worker_id, labels.task_id, labels.labels)
            )
            return pb.SubmitLabelsResponse(task_id=result.task_id, duplicate=result.duplicate)

        return await self._call(context, submit)

    @override
    async def SkipTask(self, request: pb.SkipTaskRequest, context: Context) -> pb.SkipTaskResponse:
        async def skip(worker: Worker) -> pb.SkipTaskResponse:
            checked = _validated(Skip, task_id=request.task_id, reason=request.reason)
            await self._missing_as_not_found(
                self._loop.skip(worker.worker_id, checked.task_id, checked.reason)
            )
            return pb.SkipTaskResponse()

        return await self._call(context, skip)

    @override
    async def FlagDistressing(
        self, request: pb.FlagDistressingRequest, context: Context
    ) -> pb.FlagDistressingResponse:
        async def flag(worker: Worker) -> pb.FlagDistressingResponse:
            checked = _validated(Flag, task_id=request.task_id, note=request.note)
            result = await self._missing_as_not_found(
                self._loop.flag(worker.worker_id, checked.task_id, checked.note)
            )
            return pb.FlagDistressingResponse(duplicate=result.duplicate)

        return await self._call(context, flag)

    @override
    async def RevealText(
        self, request: pb.RevealTextRequest, context: Context
    ) -> pb.AnnotationTask:
        async def reveal(worker: Worker) -> pb.AnnotationTask:
            checked = _validated(TaskRequest, task_id=request.task_id)
            view = await self._missing_as_not_found(
                self._loop.reveal(worker.worker_id, checked.task_id)
            )
            return _task(view)

        return await self._call(context, reveal)

    @override
    async def GetAgreementReport(
        self, request: pb.GetAgreementReportRequest, context: Context
    ) -> pb.AgreementReport:
        async def report(worker: Worker) -> pb.AgreementReport:
            if worker.role is not Role.SUPERVISOR:
                raise AnnotationRefusedError(
                    Rejected.PERMISSION_DENIED, "only supervisors may read the agreement report"
                )
            return _report(await self._missing_as_not_found(self._loop.report()))

        return await self._call(context, report)

    @override
    async def SetAvailability(
        self, request: pb.SetAnnotatorAvailabilityRequest, context: Context
    ) -> pb.AnnotatorAvailability:
        async def set_availability(worker: Worker) -> pb.AnnotatorAvailability:
            if worker.role is not Role.ANNOTATOR:
                raise AnnotationRefusedError(
                    Rejected.PERMISSION_DENIED, "only annotators set their availability here"
                )
            if self._wellness is None:
                raise NotServedError("this server does not reach the wellness workflows")
            await self._wellness.ensure(worker.worker_id)
            # An update, not the signal HR's events use: it answers once the wellness view says
            # so, and the next NextTask reads that view.
            # Bounded in all, not per RPC only: the SDK polls again while the server says
            # "not yet" (`answered_within`); past the bound, UNAVAILABLE.
            view = await answered_within(
                self._rpc_timeout,
                self._wellness.handle(worker.worker_id).execute_update(
                    WellnessWorkflow.set_availability,
                    Availability(available=request.available),
                    rpc_timeout=self._rpc_timeout,
                ),
                AnnotationNoAnswerError,
            )
            return pb.AnnotatorAvailability(available=view.available, in_shift=view.in_shift)

        return await self._call(context, set_availability)

    # --- plumbing ---------------------------------------------------------------------------------

    async def _missing_as_not_found(self, call: Awaitable[ResponseT]) -> ResponseT:
        try:
            return await call
        except RPCError as error:
            if error.status is RPCStatusCode.NOT_FOUND:
                raise AnnotationRefusedError(
                    Rejected.NOT_FOUND, "the annotation loop is not running"
                ) from None
            raise

    async def _call(
        self, context: Context, action: Callable[[Worker], Awaitable[ResponseT]]
    ) -> ResponseT:
        try:
            worker = self._auth.authenticate(context.invocation_metadata())
        except UnauthenticatedError as error:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(error))
        try:
            return await action(worker)
        except Exception as error:  # noqa: BLE001 - every failure becomes a status, see _abort
            await _abort(context, error)


async def _abort(context: Context, error: Exception) -> NoReturn:
    """End the call with the status `error` stands for; unexpected errors are logged, not shown.
    A call grpc cancelled ends cancelled, with nothing logged (see `call_cancelled`)."""
    if call_cancelled():
        raise asyncio.CancelledError from None
    if isinstance(error, InvalidRequestError):
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, error.message)
    if isinstance(error, NotServedError):
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, error.message)
    if isinstance(error, AnnotationUnavailableError):
        log.warning("annotation loop backend unreachable: %s", error.detail)
    if isinstance(error, AnnotationNoAnswerError):
        log.warning("the annotation loop did not answer in time (are its workers up?)")
    if isinstance(error, AnnotationRefusedError):
        await context.abort(STATUS_OF.get(error.kind, grpc.StatusCode.INTERNAL), error.message)
    if (message := retry_later(error)) is not None:
        log.warning("Temporal failed a call (the client is told to retry): %s", error)
        await context.abort(grpc.StatusCode.UNAVAILABLE, message)
    log.exception("annotator API call failed", exc_info=error)
    await context.abort(grpc.StatusCode.INTERNAL, "internal error (logged on the server)")


# --- model to message -----------------------------------------------------------------------------


def _timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def _task(view: TaskView) -> pb.AnnotationTask:
    return pb.AnnotationTask(
        task_id=view.task_id,
        kind=view.kind.value,
        item_kind=view.item_kind.value,
        text=view.text,
        blurred=view.blurred,
        content_warning=view.content_warning,
        labels=view.labels,
        prior=view.prior,
        distress=view.distress,
        language=view.language,
        assigned_at=_timestamp(view.assigned_at),
    )


def _report(report: AnnotationReport) -> pb.AgreementReport:
    return pb.AgreementReport(
        items=report.items,
        open_tasks=report.open_tasks,
        gold=report.gold,
        dropped=report.dropped,
        shed=report.shed,
        flags=report.flags,
        batches=[
            pb.BatchAgreement(
                batch=b.batch,
                kind=b.kind.value,
                alpha=b.alpha,
                items=b.items,
                annotators=b.annotators,
                threshold=b.threshold,
                gold=b.gold,
                adjudicated=b.adjudicated,
                measured_at=_timestamp(b.measured_at),
                per_annotator=[
                    pb.AnnotatorBatchStat(
                        annotator_id=s.annotator_id,
                        items=s.items,
                        agreed=s.agreed,
                        mean_exposure_minutes=s.mean_exposure_minutes,
                    )
                    for s in b.per_annotator
                ],
            )
            for b in report.batches
        ],
        exposure=[
            pb.ExposureAgreement(
                annotator_id=s.annotator_id,
                band=s.band.value,
                items=s.items,
                agreed=s.agreed,
                rate=s.rate,
            )
            for s in report.exposure
        ],
        reply_quality=[
            pb.ReplyQuality(
                model_version=q.model_version,
                audited=q.audited,
                appropriate=q.appropriate,
                rate=q.rate,
                findings=q.findings,
            )
            for q in report.reply_quality
        ],
    )
