"""The specialist gRPC service (`warmline.v1.SpecialistService`) over grpc.aio, with health and
reflection.

Each call authenticates its bearer token, validates the request into a desk command, lets the
`Desk` do the work and maps what the desk refuses to a status code with the desk's message.
`serve()` runs the whole process: configuration, Temporal client, live view, server.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import signal
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final, NoReturn, TypeVar

import grpc
import redis
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

# The asyncio health servicer (exported as `health.aio`, which grpc-stubs does not declare).
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection
from temporalio.client import RPCTimeoutOrCancelledError
from typing_extensions import override

from warmline.api import desk as commands
from warmline.api.annotator import SERVICE_NAME as ANNOTATOR_SERVICE_NAME
from warmline.api.annotator import AnnotatorService
from warmline.api.auth import (
    Authenticator,
    Caller,
    UnauthenticatedError,
    call_cancelled,
    retry_later,
)
from warmline.api.desk import (
    MAX_WATCHERS,
    NO_ANSWER,
    BackendUnavailableError,
    Desk,
    HandoffNotReadyError,
    NoAnswerError,
    RefusalError,
    WatchReplacedError,
    command,
)
from warmline.api.malformed import MalformedRequests
from warmline.api.v1 import annotator_pb2_grpc, wellness_pb2_grpc
from warmline.api.v1 import specialist_pb2 as pb
from warmline.api.v1 import specialist_pb2_grpc as pb_grpc
from warmline.api.v1 import supervisor_pb2 as spb
from warmline.api.v1 import supervisor_pb2_grpc as spb_grpc
from warmline.api.wellness import SERVICE_NAME as WELLNESS_SERVICE
from warmline.api.wellness import WellnessAuthenticator, WellnessCaller, WellnessService
from warmline.conversation import ConversationView
from warmline.errors import ServiceError
from warmline.escalation import Offer, OfferStatus, Rejection
from warmline.handoff import HandoffPackage
from warmline.reach import check_redis, temporal_client
from warmline.roster import roster_workflow_id
from warmline.runtime import wellness_policy, worker_kinds
from warmline.wellness.client import WellnessClient
from warmline.wellness.view import WellnessStateStore

log = logging.getLogger(__name__)

SERVICE_NAME: Final = pb.DESCRIPTOR.services_by_name["SpecialistService"].full_name
SUPERVISOR_SERVICE: Final = spb.DESCRIPTOR.services_by_name["SupervisorService"].full_name
DEFAULT_LISTEN: Final = "127.0.0.1:50051"
STOP_GRACE_S: Final = 5.0
"""How long running calls may finish when the server stops (open watches are cancelled)."""
SETTLE_S: Final = 5.0
"""How long, after the server stopped, the calls it cancelled get to run their own ending."""

STATUS_OF: Final = {rejection: grpc.StatusCode[rejection.name] for rejection in Rejection}

KEEPALIVE_TIME: Final = timedelta(seconds=30)
"""How long a connection may stay silent before the server pings it: a client whose network
dropped without a word (a closed laptop, wifi to cellular) is noticed, and its calls (an open
WatchOffers holds a thread and one of the specialist's watches) are cancelled."""
KEEPALIVE_TIMEOUT: Final = timedelta(seconds=10)
"""How long the server waits for the answer to a ping before it closes the connection."""
CLIENT_PING_INTERVAL: Final = timedelta(seconds=10)
"""How often clients may send keepalive pings of their own, with or without calls."""
ResponseT = TypeVar("ResponseT")
Context = grpc.aio.ServicerContext[Any, Any]


class SpecialistService(pb_grpc.SpecialistServiceServicer):
    """The servicer: authentication, translation and status codes; the desk does the work."""

    def __init__(
        self,
        desk: Desk,
        authenticator: Authenticator,
        *,
        on_availability: Callable[[str, bool], Awaitable[None]] | None = None,
    ) -> None:
        self._desk = desk
        self._auth = authenticator
        self._on_availability = on_availability
        """Also told of the caller's availability (the wellness workflow: shifts without HR)."""

    # --- offers -----------------------------------------------------------------------------------

    @override
    async def WatchOffers(
        self, request: pb.WatchOffersRequest, context: Context
    ) -> AsyncIterator[pb.OfferEvent]:
        caller = await self._authenticate(context)
        try:
            # Closed with this stream (a client gone mid-write closes it): the watch is freed then.
            async with contextlib.aclosing(self._desk.watch(caller)) as changes:
                async for change in changes:
                    if change.offer is not None:
                        yield pb.OfferEvent(offered=_offer(change.offer))
                    elif change.gone is not None:
                        yield pb.OfferEvent(gone=pb.OfferGone(offer_id=change.gone))
                    else:
                        yield pb.OfferEvent(synced=pb.Synced())
        except Exception as error:  # noqa: BLE001 - every failure becomes a status, see _abort
            await _abort(context, error)

    @override
    async def Accept(self, request: pb.AcceptRequest, context: Context) -> pb.AcceptResponse:
        async def accept(caller: Caller) -> pb.AcceptResponse:
            accepted = await self._desk.accept(
                caller, command(commands.OfferCommand, offer_id=request.offer_id)
            )
            result = accepted.result
            response = pb.AcceptResponse(
                offer_id=result.offer_id,
                tenant_id=result.tenant_id,
                conversation_id=result.conversation_id,
                queue=result.queue,
            )
            if accepted.handoff is not None:
                response.handoff.CopyFrom(
                    _handoff(result.tenant_id, result.conversation_id, accepted.handoff)
                )
            return response

        return await self._call(context, accept)

    @override
    async def Decline(self, request: pb.DeclineRequest, context: Context) -> pb.DeclineResponse:
        async def decline(caller: Caller) -> pb.DeclineResponse:
            await self._desk.decline(
                caller,
                command(commands.Decline, offer_id=request.offer_id, reason=request.reason),
            )
            return pb.DeclineResponse()

        return await self._call(context, decline)

    # --- conversations ----------------------------------------------------------------------------

    @override
    async def GetHandoff(self, request: pb.GetHandoffRequest, context: Context) -> pb.Handoff:
        async def get_handoff(caller: Caller) -> pb.Handoff:
            ref = _ref(request)
            package = await self._desk.handoff(caller, ref)
            return _handoff(ref.tenant_id, ref.conversation_id, package)

        return await self._call(context, get_handoff)

    @override
    async def GetConversation(
        self, request: pb.GetConversationRequest, context: Context
    ) -> pb.Conversation:
        async def get_conversation(caller: Caller) -> pb.Conversation:
            ref = _ref(request)
            view = await self._desk.conversation(caller, ref)
            return _conversation(ref, view)

        return await self._call(context, get_conversation)

    @override
    async def AcknowledgeRisk(
        self, request: pb.AcknowledgeRiskRequest, context: Context
    ) -> pb.AcknowledgeRiskResponse:
        async def acknowledge(caller: Caller) -> pb.AcknowledgeRiskResponse:
            await self._desk.acknowledge_risk(caller, _ref(request))
            return pb.AcknowledgeRiskResponse()

        return await self._call(context, acknowledge)

    @override
    async def Reply(self, request: pb.ReplyRequest, context: Context) -> pb.ReplyResponse:
        async def reply(caller: Caller) -> pb.ReplyResponse:
            await self._desk.reply(
                caller,
                command(
                    commands.Reply,
                    tenant_id=request.tenant_id,
                    conversation_id=request.conversation_id,
                    message_id=request.message_id,
                    text=request.text,
                ),
            )
            return pb.ReplyResponse()

        return await self._call(context, reply)

    @override
    async def CorrectTriage(
        self, request: pb.CorrectTriageRequest, context: Context
    ) -> pb.CorrectTriageResponse:
        async def correct(caller: Caller) -> pb.CorrectTriageResponse:
            correction = await self._desk.correct_triage(
                caller,
                command(
                    commands.CorrectTriage,
                    tenant_id=request.tenant_id,
                    conversation_id=request.conversation_id,
                    message_id=request.message_id or None,
                    labels=list(request.labels),
                    note=request.note,
                ),
            )
            return pb.CorrectTriageResponse(
                message_id=correction.message_id,
                labels=correction.labels,
                ai_labels=correction.ai_labels,
            )

        return await self._call(context, correct)

    @override
    async def Transfer(self, request: pb.TransferRequest, context: Context) -> pb.TransferResponse:
        async def transfer(caller: Caller) -> pb.TransferResponse:
            await self._desk.transfer(
                caller,
                command(
                    commands.Transfer,
                    tenant_id=request.tenant_id,
                    conversation_id=request.conversation_id,
                    queue=request.queue,
                    note=request.note,
                ),
            )
            return pb.TransferResponse()

        return await self._call(context, transfer)

    @override
    async def HandBack(self, request: pb.HandBackRequest, context: Context) -> pb.HandBackResponse:
        async def hand_back(caller: Caller) -> pb.HandBackResponse:
            await self._desk.hand_back(
                caller,
                command(
                    commands.HandBack,
                    tenant_id=request.tenant_id,
                    conversation_id=request.conversation_id,
                    note=request.note,
                ),
            )
            return pb.HandBackResponse()

        return await self._call(context, hand_back)

    @override
    async def Complete(self, request: pb.CompleteRequest, context: Context) -> pb.CompleteResponse:
        async def complete(caller: Caller) -> pb.CompleteResponse:
            await self._desk.complete(
                caller,
                command(
                    commands.Complete,
                    tenant_id=request.tenant_id,
                    conversation_id=request.conversation_id,
                    outcome=request.outcome,
                    summary=request.summary,
                ),
            )
            return pb.CompleteResponse()

        return await self._call(context, complete)

    @override
    async def SetAvailability(
        self, request: pb.SetAvailabilityRequest, context: Context
    ) -> pb.SetAvailabilityResponse:
        async def set_availability(caller: Caller) -> pb.SetAvailabilityResponse:
            state = await self._desk.set_availability(caller, request.available)
            if self._on_availability is not None:
                await self._on_availability(caller.specialist_id, request.available)
            return pb.SetAvailabilityResponse(
                available=state.available, conversations=len(state.conversations)
            )

        return await self._call(context, set_availability)

    # --- plumbing ---------------------------------------------------------------------------------

    async def _authenticate(self, context: Context) -> Caller:
        try:
            return self._auth.authenticate(context.invocation_metadata())
        except UnauthenticatedError as error:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(error))

    async def _call(
        self, context: Context, action: Callable[[Caller], Awaitable[ResponseT]]
    ) -> ResponseT:
        caller = await self._authenticate(context)
        try:
            return await action(caller)
        except Exception as error:  # noqa: BLE001 - every failure becomes a status, see _abort
            await _abort(context, error)


class SupervisorService(spb_grpc.SupervisorServiceServicer):
    """Paged escalations for supervisors: list them, assign one to a specialist. Supervisors'
    tokens are the wellness API's (which knows every role, so a worker's token is told apart
    from an unknown one); the desk does the work."""

    def __init__(self, desk: Desk, authenticator: WellnessAuthenticator) -> None:
        self._desk = desk
        self._auth = authenticator

    @override
    async def ListPagedEscalations(
        self, request: spb.ListPagedEscalationsRequest, context: Context
    ) -> spb.ListPagedEscalationsResponse:
        async def paged(caller: WellnessCaller) -> spb.ListPagedEscalationsResponse:
            views = await self._desk.paged()
            return spb.ListPagedEscalationsResponse(
                escalations=[
                    spb.PagedEscalation(
                        tenant_id=v.tenant_id,
                        conversation_id=v.conversation_id,
                        queue=v.queue,
                        supervisor=v.paged_supervisor or "",
                        paged_at=_timestamp(v.paged_at) if v.paged_at else None,
                        reason=v.paged_reason or "",
                        crisis=v.crisis,
                        priority=v.priority,
                        offered_to=[
                            o.specialist_id for o in v.offers if o.status is OfferStatus.OPEN
                        ],
                    )
                    for v in views
                ]
            )

        return await self._call(context, paged)

    @override
    async def AssignEscalation(
        self, request: spb.AssignEscalationRequest, context: Context
    ) -> spb.AssignEscalationResponse:
        async def assign(caller: WellnessCaller) -> spb.AssignEscalationResponse:
            offer = await self._desk.assign(
                caller.id,
                command(
                    commands.Assign,
                    tenant_id=request.tenant_id,
                    conversation_id=request.conversation_id,
                    specialist_id=request.specialist_id,
                    reason=request.reason,
                ),
            )
            return spb.AssignEscalationResponse(
                offer_id=offer.offer_id,
                specialist_id=offer.specialist_id,
                expires_at=_timestamp(offer.expires_at),
            )

        return await self._call(context, assign)

    async def _call(
        self, context: Context, action: Callable[[WellnessCaller], Awaitable[ResponseT]]
    ) -> ResponseT:
        try:
            caller = self._auth.authenticate(context.invocation_metadata())
        except UnauthenticatedError as error:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(error))
        if caller.role != "supervisor":
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "this call is for supervisors")
        try:
            return await action(caller)
        except Exception as error:  # noqa: BLE001 - every failure becomes a status, see _abort
            await _abort(context, error)


async def _abort(context: Context, error: Exception) -> NoReturn:
    """End the call with the status `error` stands for; unexpected errors are logged, not shown.

    A call grpc cancelled (its client cancelled it or its deadline passed, or the server is
    stopping) has nobody to answer: it ends cancelled, and nothing is logged. Temporal's client
    reports the cancel as a timeout, which would be logged as workers that do not answer.
    """
    if call_cancelled():
        raise asyncio.CancelledError from None
    if isinstance(error, RefusalError):
        await context.abort(STATUS_OF[error.rejection], error.message)
    if isinstance(error, WatchReplacedError):
        await context.abort(grpc.StatusCode.CANCELLED, str(error))
    if isinstance(error, NoAnswerError | RPCTimeoutOrCancelledError):
        # The latter from the roster's update helpers, which the desk shares with the workers.
        log.warning("a workflow did not answer in time (are the workers up?)")
        await context.abort(grpc.StatusCode.UNAVAILABLE, NO_ANSWER)
    if isinstance(error, HandoffNotReadyError | BackendUnavailableError):
        await context.abort(grpc.StatusCode.UNAVAILABLE, str(error))
    if isinstance(error, redis.ConnectionError | redis.TimeoutError):
        log.warning("live view unreachable: %s", error)
        await context.abort(grpc.StatusCode.UNAVAILABLE, "the live view is unreachable; retry")
    if (message := retry_later(error)) is not None:
        log.warning("Temporal failed a call (the client is told to retry): %s", error)
        await context.abort(grpc.StatusCode.UNAVAILABLE, message)
    log.exception("specialist API call failed", exc_info=error)
    await context.abort(grpc.StatusCode.INTERNAL, "internal error (logged on the server)")


def _ref(request: Any) -> commands.ConversationRef:
    return command(
        commands.ConversationRef,
        tenant_id=request.tenant_id,
        conversation_id=request.conversation_id,
    )


# --- model to message -----------------------------------------------------------------------------


def _timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def _offer(offer: Offer) -> pb.Offer:
    return pb.Offer(
        offer_id=offer.offer_id,
        tenant_id=offer.tenant_id,
        conversation_id=offer.conversation_id,
        queue=offer.queue,
        priority=offer.priority,
        reason=offer.reason,
        crisis=offer.crisis,
        created_at=_timestamp(offer.created_at),
        expires_at=_timestamp(offer.expires_at),
        assigned_by=offer.assigned_by or "",
    )


def _handoff(tenant_id: str, conversation_id: str, package: HandoffPackage) -> pb.Handoff:
    return pb.Handoff(
        tenant_id=tenant_id,
        conversation_id=conversation_id,
        queue=package.queue,
        rendered=package.rendered,
        risk_flags=[flag.value for flag in package.risk_flags],
        requires_acknowledgement=package.requires_acknowledgement,
        referrals=[
            pb.Referral(
                name=referral.name,
                phone=referral.phone or "",
                text=referral.text or "",
                url=referral.url or "",
                hours=referral.hours,
            )
            for referral in package.referrals
        ],
        customer_profile=package.customer_profile,
        render_error=package.render_error or "",
        truncated=package.truncated,
        profile_unavailable=package.profile_unavailable,
    )


def _conversation(ref: commands.ConversationRef, view: ConversationView) -> pb.Conversation:
    message = pb.Conversation(
        tenant_id=ref.tenant_id,
        conversation_id=ref.conversation_id,
        status=view.status.value,
        turns=[
            pb.Turn(
                role=turn.role.value,
                message_id=turn.message_id,
                text=turn.text,
                sent_at=_timestamp(turn.at) if turn.at else None,
            )
            for turn in view.turns
        ],
        risk_acknowledged=view.risk_acknowledged,
        distress=view.trajectory[-1].distress if view.trajectory else 0.0,
        message_count=view.message_count,
    )
    if view.handoff is not None:
        message.handoff.CopyFrom(_handoff(ref.tenant_id, ref.conversation_id, view.handoff))
    return message


# --- the server -----------------------------------------------------------------------------------


def _ms(duration: timedelta) -> int:
    return round(duration.total_seconds() * 1000)


def server_options(
    keepalive_time: timedelta = KEEPALIVE_TIME, keepalive_timeout: timedelta = KEEPALIVE_TIMEOUT
) -> list[tuple[str, int]]:
    """The gRPC server's channel arguments: keepalive pings on every connection, calls or not,
    and room for the clients' own pings every `CLIENT_PING_INTERVAL`."""
    return [
        ("grpc.keepalive_time_ms", _ms(keepalive_time)),
        ("grpc.keepalive_timeout_ms", _ms(keepalive_timeout)),
        # grpc core waits this long for any ping's ack (a minute by default once keepalive is on)
        # whatever the keepalive timeout: a dead connection would take 30 s + 60 s to notice.
        ("grpc.http2.ping_timeout_ms", _ms(keepalive_timeout)),
        ("grpc.keepalive_permit_without_calls", 1),
        # An open WatchOffers may stay silent for hours: keep pinging without data.
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.http2.min_ping_interval_without_data_ms", _ms(CLIENT_PING_INTERVAL)),
        # grpc core sets SO_REUSEPORT by default: a second server on a port one already serves
        # would start without a word and take half of its connections (an old process, another
        # configuration). A port in use is refused instead, see `listen_on`.
        ("grpc.so_reuseport", 0),
    ]


async def start_server(
    desk: Desk,
    authenticator: Authenticator,
    listen: str = DEFAULT_LISTEN,
    *,
    annotator: AnnotatorService | None = None,
    wellness: WellnessService | None = None,
    supervisor: SupervisorService | None = None,
    keepalive_time: timedelta = KEEPALIVE_TIME,
    keepalive_timeout: timedelta = KEEPALIVE_TIMEOUT,
) -> tuple[grpc.aio.Server, int]:
    """Start the specialist service (and the annotator, wellness and supervisor services, if
    given) with health and reflection on `listen`; returns the port.

    `listen` is `host:port`; port 0 picks a free one. The connection is plaintext: put TLS in
    front (a mesh or proxy) outside a trusted network, since bearer tokens cross it. A connection
    that does not answer a keepalive ping (sent after `keepalive_time` of silence) within
    `keepalive_timeout` is closed and its calls are cancelled.
    """
    server = grpc.aio.server(
        interceptors=[MalformedRequests()],
        options=server_options(keepalive_time, keepalive_timeout),
    )
    specialists = SpecialistService(
        desk,
        authenticator,
        on_availability=wellness.availability_changed if wellness is not None else None,
    )
    pb_grpc.add_SpecialistServiceServicer_to_server(specialists, server)
    services = [SERVICE_NAME]
    if annotator is not None:
        annotator_pb2_grpc.add_AnnotatorServiceServicer_to_server(annotator, server)
        services.append(ANNOTATOR_SERVICE_NAME)
    if wellness is not None:
        wellness_pb2_grpc.add_WellnessServiceServicer_to_server(wellness, server)
        services.append(WELLNESS_SERVICE)
    if supervisor is not None:
        spb_grpc.add_SupervisorServiceServicer_to_server(supervisor, server)
        services.append(SUPERVISOR_SERVICE)
    health_servicer = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [*services, health.SERVICE_NAME, reflection.SERVICE_NAME], server
    )
    port = listen_on(server, listen)
    await server.start()
    for service in (*services, ""):
        await health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
    return server, port


async def serve(
    config_path: Path,
    *,
    temporal: str,
    namespace: str = "default",
    redis_url: str,
    listen: str = DEFAULT_LISTEN,
    task_queue: str = "warmline",
) -> None:
    """Run the specialist API until SIGTERM or SIGINT, then stop gracefully.

    `task_queue` is the workers' task queue, which names the roster availability goes to and
    scopes a rebuild of the live view to this deployment's workflows.
    """
    from warmline.config.loader import load_config
    from warmline.liveview import LiveView

    config = load_config(config_path)
    authenticator = Authenticator.from_config(config)
    client = await temporal_client(temporal, namespace)
    check_redis(redis_url)
    live_view = LiveView.connect(redis_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    with ThreadPoolExecutor(MAX_WATCHERS, thread_name_prefix="specialist-api") as executor:
        roster_id = roster_workflow_id(config.metadata.name, task_queue)
        desk = Desk(client, live_view, config, executor, roster_id=roster_id, task_queue=task_queue)
        workers = WellnessClient(
            client,
            deployment=config.metadata.name,
            policy=wellness_policy(config),
            task_queue=task_queue,
            kinds=worker_kinds(config),
        )
        annotator = AnnotatorService(client, config, wellness=workers)
        store = WellnessStateStore.connect(redis_url, deployment=config.metadata.name)
        staff = WellnessAuthenticator.from_config(config)
        wellness = WellnessService(config, workers, store, staff)
        server, port = await start_server(
            desk,
            authenticator,
            listen,
            annotator=annotator,
            wellness=wellness,
            supervisor=SupervisorService(desk, staff),
        )
        log.info("specialist API listening on port %d", port)
        try:
            await stop.wait()
        finally:
            log.info("stopping: running calls have %g s to finish", STOP_GRACE_S)
            await server.stop(STOP_GRACE_S)
            await calls_ended()
            live_view.close()
            store.close()


async def calls_ended(timeout_s: float = SETTLE_S) -> None:
    """Wait until the calls a stopping server cancelled have run their ending (a watch frees its
    slot, a stream its generator).

    `server.stop` returns as soon as grpc core has ended the calls, while their handlers, told of
    it by a cancellation, still have to unwind. Whatever is still pending when `serve` returns is
    cancelled by `asyncio.run` instead, in the middle of grpc's own bookkeeping, which logs
    "Exception not handled by _handle_exceptions" at ERROR with a traceback for every call: on
    every shutdown with offer watches open.
    """
    current = asyncio.current_task()
    pending = {task for task in asyncio.all_tasks() if task is not current}
    if pending:
        await asyncio.wait(pending, timeout=timeout_s)


def listen_on(server: grpc.aio.Server, listen: str) -> int:
    """Bind `server` to `listen` (host:port, port 0 for any free one); returns the port.

    A port that cannot be bound is `ServiceError` with the reason (grpc says only "Failed to bind
    to address", after logging the reason itself in a line of its own).
    """
    problem = bind_problem(listen)
    if problem is not None:
        raise ServiceError(f"cannot listen on {listen}: {problem}")
    try:
        port = server.add_insecure_port(listen)
    except RuntimeError:
        port = 0
    if port == 0:
        problem = bind_problem(listen) or "grpc could not bind it"
        raise ServiceError(f"cannot listen on {listen}: {problem}")
    return port


def bind_problem(listen: str) -> str | None:
    """Why `listen` (host:port) cannot be bound, or None when it can: as for grpc, one address of
    those a host name resolves to is enough, but a port another server holds is not shared."""
    host, _, port_text = listen.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not host or not port_text.isdecimal():
        return None  # not host:port (a unix socket, all interfaces): grpc decides
    try:
        addresses = socket.getaddrinfo(
            host, int(port_text), type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as error:
        return f"no such host ({error.strerror})"
    refusals: list[OSError] = []
    for family, kind, protocol, _, address in addresses:
        with socket.socket(family, kind, protocol) as probe:
            # As grpc binds: a port that only has connections closing on it is free to it.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as error:
                refusals.append(error)
    if any(error.errno == errno.EADDRINUSE for error in refusals):
        return "the port is in use (is another warmline api or server running there?)"
    if refusals and len(refusals) == len(addresses):
        return refusals[0].strerror or str(refusals[0])
    return None
