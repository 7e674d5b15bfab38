"""The wellness gRPC service (`warmline.v1.WellnessService`): check-ins, breaks, team figures.

Workers (specialists and annotators) act on their own wellness workflow; supervisors read team
figures from the Redis view; a wellness lead reads a worker's check-in notes only when the policy's
`note_visibility` is `wellness_lead`. Requests are validated before any backend is contacted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Literal, NoReturn, TypeVar

import grpc
import redis
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import BaseModel, Field, ValidationError, field_validator
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from typing_extensions import override

from warmline.api.auth import (
    NO_ANSWER_MESSAGE,
    UnauthenticatedError,
    answered_within,
    bearer_token,
    call_cancelled,
    holder_of,
    retry_later,
)
from warmline.api.desk import RPC_TIMEOUT
from warmline.api.v1 import wellness_pb2 as pb
from warmline.api.v1 import wellness_pb2_grpc as pb_grpc
from warmline.config.model import WarmlineConfig
from warmline.escalation import Rejection
from warmline.wellness.aggregate import team_figures
from warmline.wellness.client import WellnessClient
from warmline.wellness.policy import MAX_NOTE_CHARACTERS, CheckIn, WellnessState
from warmline.wellness.types import BreakRequest, CheckInRequest, EndBreakRequest
from warmline.wellness.view import WellnessStateStore, WorkerWellness
from workflows.wellness import WellnessWorkflow

log = logging.getLogger(__name__)

SERVICE_NAME: Final = pb.DESCRIPTOR.services_by_name["WellnessService"].full_name
STATUS_OF: Final = {rejection: grpc.StatusCode[rejection.name] for rejection in Rejection}
Context = grpc.aio.ServicerContext[Any, Any]
ResponseT = TypeVar("ResponseT")
AnswerT = TypeVar("AnswerT")


@dataclass(frozen=True)
class WellnessCaller:
    id: str
    role: Literal["worker", "supervisor"]
    wellness_lead: bool = False


class WellnessAuthenticator:
    """Bearer tokens of specialists and annotators (workers) and supervisors."""

    def __init__(self, entries: list[tuple[bytes, WellnessCaller]]) -> None:
        self._entries = [(token, caller) for token, caller in entries if token]

    @classmethod
    def from_config(cls, config: WarmlineConfig) -> WellnessAuthenticator:
        entries = [
            (s.token.reveal().encode(), WellnessCaller(s.id, "worker"))
            for s in config.routing.specialists
        ]
        entries += [
            (a.token.reveal().encode(), WellnessCaller(a.id, "worker"))
            for a in config.annotation.annotators
        ]
        entries += [
            (s.token.reveal().encode(), WellnessCaller(s.id, "supervisor", s.wellness_lead))
            for s in config.routing.supervisors
        ]
        return cls(entries)

    def authenticate(self, metadata: Any) -> WellnessCaller:
        return holder_of(bearer_token(metadata), self._entries)


class RefusedError(Exception):
    def __init__(self, rejection: Rejection, message: str) -> None:
        super().__init__(message)
        self.rejection = rejection
        self.message = message


class _CheckIn(BaseModel):
    mood: int
    note: str = Field(default="", max_length=MAX_NOTE_CHARACTERS)


class _Break(BaseModel):
    minutes: float = Field(ge=0, le=240)
    """0 for the configured length; else at least a minute (a shorter one would end as it
    started and still count as a break taken)."""

    @field_validator("minutes")
    @classmethod
    def _a_minute_at_least(cls, minutes: float) -> float:
        if 0 < minutes < 1:
            raise ValueError("a break is at least 1 minute (0 for the configured length)")
        return minutes


class _Worker(BaseModel):
    worker_id: str = Field(min_length=1, max_length=200)


class NoAnswerError(Exception):
    """A worker's wellness workflow did not answer within the service's `rpc_timeout` (its
    workers are down or overloaded): `UNAVAILABLE`, try again."""


class WellnessService(pb_grpc.WellnessServiceServicer):
    """Workers' and supervisors' calls. `rpc_timeout` bounds each wait for a wellness workflow's
    answer, as the specialist desk's does: with the workers down a workflow never answers, and
    the caller is told `UNAVAILABLE` (try again) instead of waiting for ever."""

    def __init__(
        self,
        config: WarmlineConfig,
        wellness: WellnessClient,
        store: WellnessStateStore,
        authenticator: WellnessAuthenticator,
        *,
        rpc_timeout: timedelta = RPC_TIMEOUT,
    ) -> None:
        self._config = config
        self._rpc_timeout = rpc_timeout
        self._wellness = wellness
        self._store = store
        self._auth = authenticator
        self._kinds = {s.id: "specialist" for s in config.routing.specialists} | {
            a.id: "annotator" for a in config.annotation.annotators
        }
        self._workers = set(self._kinds)

    async def availability_changed(self, worker_id: str, available: bool) -> None:
        """The specialist service's `SetAvailability` tells the worker's wellness workflow."""
        await self._wellness.availability(worker_id, available)

    # --- workers ----------------------------------------------------------------------------

    @override
    async def GetMyWellness(
        self, request: pb.GetMyWellnessRequest, context: Context
    ) -> pb.MyWellness:
        async def mine(caller: WellnessCaller) -> pb.MyWellness:
            self._worker(caller)
            view, checkins = await self._mine(caller.id)
            scale = self._config.wellness.checkins.scale
            return pb.MyWellness(
                state=_state(view),
                checkins=[_checkin(c) for c in checkins],
                scale_min=scale.min,
                scale_max=scale.max,
                scale_labels=scale.labels,
            )

        return await self._call(context, mine)

    @override
    async def SubmitCheckIn(
        self, request: pb.SubmitCheckInRequest, context: Context
    ) -> pb.WorkerState:
        async def submit(caller: WellnessCaller) -> pb.WorkerState:
            self._worker(caller)
            answer = _validated(_CheckIn, mood=request.mood, note=request.note)
            scale = self._config.wellness.checkins.scale
            if not scale.min <= answer.mood <= scale.max:
                raise RefusedError(
                    Rejection.INVALID_ARGUMENT, f"mood must be between {scale.min} and {scale.max}"
                )
            update = CheckInRequest(mood=answer.mood, note=answer.note, break_now=request.break_now)
            return _state(await self._update(caller.id, WellnessWorkflow.submit_checkin, update))

        return await self._call(context, submit)

    @override
    async def BreakNow(self, request: pb.BreakNowRequest, context: Context) -> pb.WorkerState:
        async def take(caller: WellnessCaller) -> pb.WorkerState:
            self._worker(caller)
            length = _validated(_Break, minutes=request.minutes).minutes
            update = BreakRequest(minutes=length or None)
            return _state(await self._update(caller.id, WellnessWorkflow.break_now, update))

        return await self._call(context, take)

    @override
    async def EndBreak(self, request: pb.EndBreakRequest, context: Context) -> pb.WorkerState:
        async def end(caller: WellnessCaller) -> pb.WorkerState:
            self._worker(caller)
            update = EndBreakRequest()
            return _state(await self._update(caller.id, WellnessWorkflow.end_break, update))

        return await self._call(context, end)

    # --- supervisors ------------------------------------------------------------------------

    @override
    async def GetTeamWellness(
        self, request: pb.GetTeamWellnessRequest, context: Context
    ) -> pb.TeamWellness:
        async def team(caller: WellnessCaller) -> pb.TeamWellness:
            self._supervisor(caller)
            views = await asyncio.to_thread(self._store.read, sorted(self._workers))
            # A worker with no view yet still belongs to their team.
            views = {
                worker: view if view.updated_at else view.model_copy(update={"kind": kind})
                for worker, view in views.items()
                for kind in [self._kinds.get(worker, "specialist")]
            }
            size = self._config.wellness.min_group_size
            groups = team_figures(
                views.values(),
                queues=[q.name for q in self._config.routing.queues],
                min_group_size=size,
            )
            return pb.TeamWellness(
                groups=[pb.GroupFigures(**g.model_dump()) for g in groups], min_group_size=size
            )

        return await self._call(context, team)

    @override
    async def GetCheckInNotes(
        self, request: pb.GetCheckInNotesRequest, context: Context
    ) -> pb.CheckInNotes:
        async def notes(caller: WellnessCaller) -> pb.CheckInNotes:
            self._supervisor(caller)
            if not caller.wellness_lead:
                raise RefusedError(
                    Rejection.PERMISSION_DENIED, "only a wellness lead may read check-in notes"
                )
            if self._config.wellness.checkins.note_visibility != "wellness_lead":
                raise RefusedError(
                    Rejection.PERMISSION_DENIED,
                    "the policy keeps check-in notes with the worker "
                    "(note_visibility: worker_only)",
                )
            worker = _validated(_Worker, worker_id=request.worker_id).worker_id
            if worker not in self._workers:
                raise RefusedError(Rejection.INVALID_ARGUMENT, f"unknown worker {worker!r}")
            state = await self._state(worker)
            checkins = state.checkins if state is not None else []
            # A check-in given while the policy kept notes with the worker stays theirs, even
            # once the configuration lets the lead read notes.
            shared = [c for c in checkins if c.shared_with_lead is not False]
            return pb.CheckInNotes(worker_id=worker, checkins=[_checkin(c) for c in shared])

        return await self._call(context, notes)

    # --- plumbing ---------------------------------------------------------------------------

    def _worker(self, caller: WellnessCaller) -> None:
        if caller.role != "worker":
            raise RefusedError(Rejection.PERMISSION_DENIED, "this call is for workers")

    def _supervisor(self, caller: WellnessCaller) -> None:
        if caller.role != "supervisor":
            raise RefusedError(Rejection.PERMISSION_DENIED, "this call is for supervisors")

    async def _mine(self, worker_id: str) -> tuple[WorkerWellness, list[CheckIn]]:
        handle = self._wellness.handle(worker_id)
        try:
            view = await self._answered(
                handle.query(WellnessWorkflow.view, rpc_timeout=self._rpc_timeout)
            )
            history = await self._answered(
                handle.query(WellnessWorkflow.checkins, rpc_timeout=self._rpc_timeout)
            )
        except RPCError as error:
            if error.status is RPCStatusCode.NOT_FOUND:
                return WorkerWellness(worker_id=worker_id), []
            raise
        return view, history.checkins

    async def _state(self, worker_id: str) -> WellnessState | None:
        try:
            return await self._answered(
                self._wellness.handle(worker_id).query(
                    WellnessWorkflow.state, rpc_timeout=self._rpc_timeout
                )
            )
        except RPCError as error:
            if error.status is RPCStatusCode.NOT_FOUND:
                return None
            raise

    async def _update(self, worker_id: str, update: Any, argument: BaseModel) -> WorkerWellness:
        await self._wellness.ensure(worker_id)
        try:
            result: WorkerWellness = await self._answered(
                self._wellness.handle(worker_id).execute_update(
                    update, argument, rpc_timeout=self._rpc_timeout
                )
            )
        except WorkflowUpdateFailedError as error:
            cause = error.cause
            if isinstance(cause, ApplicationError) and cause.type in set(Rejection):
                raise RefusedError(Rejection(cause.type), cause.message) from None
            raise
        return result

    async def _answered(self, call: Awaitable[AnswerT]) -> AnswerT:
        """`call` (a query or an update) within `rpc_timeout` in all, else `NoAnswerError` (see
        `answered_within`)."""
        return await answered_within(self._rpc_timeout, call, NoAnswerError)

    async def _call(
        self,
        context: Context,
        action: Callable[[WellnessCaller], Awaitable[ResponseT]],
    ) -> ResponseT:
        try:
            caller = self._auth.authenticate(context.invocation_metadata())
        except UnauthenticatedError as error:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(error))
        try:
            return await action(caller)
        except Exception as error:  # noqa: BLE001 - every failure becomes a status, see _abort
            await _abort(context, error)


async def _abort(context: Context, error: Exception) -> NoReturn:
    """End the call with the status `error` stands for; unexpected errors are logged, not shown.
    A call grpc cancelled ends cancelled, with nothing logged (see `call_cancelled`)."""
    if call_cancelled():
        raise asyncio.CancelledError from None
    if isinstance(error, RefusedError):
        await context.abort(STATUS_OF[error.rejection], error.message)
    if isinstance(error, NoAnswerError | TimeoutError):
        log.warning("a wellness workflow did not answer in time (are its workers up?)")
        await context.abort(grpc.StatusCode.UNAVAILABLE, NO_ANSWER_MESSAGE)
    if isinstance(error, redis.ConnectionError | redis.TimeoutError):
        log.warning("wellness view unreachable: %s", error)
        await context.abort(grpc.StatusCode.UNAVAILABLE, "the wellness view is unreachable; retry")
    if (message := retry_later(error)) is not None:
        log.warning("Temporal failed a call (the client is told to retry): %s", error)
        await context.abort(grpc.StatusCode.UNAVAILABLE, message)
    log.exception("wellness API call failed", exc_info=error)
    await context.abort(grpc.StatusCode.INTERNAL, "internal error (logged on the server)")


ModelT = TypeVar("ModelT", bound=BaseModel)


def _validated(model: type[ModelT], **fields: Any) -> ModelT:
    try:
        return model.model_validate(fields)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise RefusedError(Rejection.INVALID_ARGUMENT, f"{where}: {first['msg']}") from None


def _timestamp(moment: datetime | None) -> Timestamp | None:
    if moment is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def _state(view: WorkerWellness) -> pb.WorkerState:
    return pb.WorkerState(
        worker_id=view.worker_id,
        exposure_minutes=view.exposure_minutes,
        budget_minutes=view.budget_minutes or 0.0,
        on_break=view.on_break,
        break_until=_timestamp(view.break_until),
        over_budget=view.over_budget,
        rotated_off_intense=view.rotated_off_intense,
        rotation_until=_timestamp(view.rotation_until),
        crisis_blocked=view.crisis_blocked,
        checkin_pending=view.checkin_pending,
        in_shift=view.in_shift,
        available=view.available,
    )


def _checkin(checkin: CheckIn) -> pb.CheckIn:
    return pb.CheckIn(
        at=_timestamp(checkin.at), mood=checkin.mood, note=checkin.note, reason=checkin.reason
    )
