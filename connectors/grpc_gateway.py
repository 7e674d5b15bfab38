"""The `grpc` connector: a gateway that hands warmline's events to connector processes written in
any language, over `warmline.v1.ConnectorGateway` (proto/warmline/v1/connector.proto).

It is an ordinary SDK connector, so the runner still consumes, deduplicates, retries and
dead-letters. Its one handler forwards each event to the subscribed processes and returns only
once they have acknowledged it, so an offset is committed only after an ack: a retryable nack, a
silent process or a lost connection raises `RetryableError` and the event is delivered again; a
permanent nack raises `PermanentError` and the event is dead-lettered. See
docs/connector-protocol.md.
"""

from __future__ import annotations

import asyncio
import fnmatch
import hmac
import logging
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Collection, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Final

import grpc
from google.protobuf.message import DecodeError
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

# The asyncio health servicer (exported as `health.aio`, which grpc-stubs does not declare).
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection
from pydantic import BaseModel, ConfigDict, Field, field_validator
from typing_extensions import override

from connectors.sdk.connector import (
    Connector,
    ConnectorContext,
    ConnectorError,
    Event,
    PermanentError,
    RetryableError,
    handles,
)
from warmline.api.v1 import connector_pb2 as pb
from warmline.api.v1 import connector_pb2_grpc as pb_grpc
from warmline.config.durations import PositiveDuration, format_duration
from warmline.errors import WarmlineError
from warmline.events.catalog import EventData
from warmline.events.envelope import CONTENT_TYPE
from warmline.events.types import EventType

log = logging.getLogger(__name__)

SERVICE_NAME: Final = pb.DESCRIPTOR.services_by_name["ConnectorGateway"].full_name
DEFAULT_LISTEN: Final = "127.0.0.1:50052"
SUBSCRIBED_HEADER: Final = "warmline-subscribed"
"""Initial metadata sent once a subscription is accepted; its value is the connector name."""
STOP_GRACE_S: Final = 5.0
TOKEN_SECRET: Final = "token"  # noqa: S105 - the secret's name, not its value
"""The secret every connector name may use; `token.<name>` overrides it for one name."""
EMITTED: Final = tuple(t for t in EventType if not t.inbound)
MAX_REMEMBERED: Final = 10_000
"""Events whose partial progress (who acked, how many attempts) is kept between retries."""
MAX_OVERDUE: Final = 1_000
"""Deliveries a process let time out that are remembered against it, when picking a process."""
KEEPALIVE: Final = (
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_timeout_ms", 10_000),
)
"""Ping idle subscribers so a process that vanished without closing its socket is noticed."""

Context = grpc.aio.ServicerContext[pb.SubscribeRequest, pb.Delivery]


def _is_token(name: str) -> bool:
    return name == TOKEN_SECRET or name.startswith(f"{TOKEN_SECRET}.")


class GatewayConfigError(WarmlineError):
    """The gateway cannot run as configured (no token secret)."""


class GrpcGatewaySettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    listen: Annotated[str, Field(pattern=r"^\S+:\d{1,5}$")] = DEFAULT_LISTEN
    """`host:port` the gateway listens on; port 0 picks a free one. Plaintext: put TLS in front
    (a mesh or a proxy) outside a trusted network, since tokens cross it."""
    ack_timeout: PositiveDuration = timedelta(seconds=30)
    """How long one attempt may take: waiting for a subscribed process, then for its ack."""
    max_in_flight: Annotated[int, Field(ge=1)] = 64
    """Deliveries awaiting an ack at once, across every connected process."""

    @field_validator("listen")
    @classmethod
    def _port_in_range(cls, listen: str) -> str:
        port = int(listen.rpartition(":")[2])
        if port > 65535:
            raise ValueError(f"port {port} does not exist: use 1-65535, or 0 for a free one")
        return listen


@dataclass(frozen=True)
class _Nacked:
    reason: str
    permanent: bool


class _DisconnectedError(Exception):
    """The process went away before settling a delivery."""


class _Stream:
    """One connected process: what it subscribed to, what it was sent, what it has not settled."""

    def __init__(self, name: str, patterns: tuple[str, ...]) -> None:
        self.name = name
        self.patterns = patterns
        self.outbox: asyncio.Queue[pb.Delivery | None] = asyncio.Queue()
        self.pending: dict[str, asyncio.Future[_Nacked | None]] = {}
        self.overdue: OrderedDict[str, None] = OrderedDict()
        """Deliveries it left unanswered past `ack_timeout` (the newest `MAX_OVERDUE`), until a
        late ack or nack of one shows the process is working after all."""
        self.closed = False
        self.malformed: str | None = None
        """Why the process's stream was cut: a message that is not a `SubscribeRequest`."""

    def send(self, delivery: pb.Delivery) -> asyncio.Future[_Nacked | None]:
        settled: asyncio.Future[_Nacked | None] = asyncio.get_running_loop().create_future()
        self.pending[delivery.delivery_id] = settled
        self.outbox.put_nowait(delivery)
        return settled

    @property
    def load(self) -> int:
        """What the process has not answered: the deliveries awaiting its ack, and those it let
        time out. A process whose handler hangs while its connection stays up (keepalives are
        answered below the application) would otherwise look idle again after each timeout and
        be chosen again, retries included, over a peer that works, until the event was
        dead-lettered."""
        return len(self.pending) + len(self.overdue)

    def time_out(self, delivery_id: str) -> None:
        """`delivery_id` went unanswered within `ack_timeout`."""
        self.overdue[delivery_id] = None
        while len(self.overdue) > MAX_OVERDUE:
            self.overdue.popitem(last=False)

    def settle(self, delivery_id: str, outcome: _Nacked | None) -> bool:
        """Resolve a delivery by its ack or nack; False when nothing waits for that id."""
        self.overdue.pop(delivery_id, None)
        settled = self.pending.pop(delivery_id, None)
        if settled is None or settled.done():
            return False
        settled.set_result(outcome)
        return True

    def close(self) -> None:
        """Fail what is unsettled (it is delivered again) and end the response stream."""
        if self.closed:
            return
        self.closed = True
        for settled in self.pending.values():
            if not settled.done():
                settled.set_exception(_DisconnectedError())
        self.pending.clear()
        self.outbox.put_nowait(None)


def _malformed(error: DecodeError) -> str:
    return (
        "a message on the stream is not a valid warmline.v1.SubscribeRequest (a client built "
        f"from another connector.proto, or a string that is not UTF-8): {error}"
    )


def _matches(patterns: Iterable[str], event_type: str) -> bool:
    return any(fnmatch.fnmatchcase(event_type, pattern) for pattern in patterns)


class _Hub:
    """The connected processes, and the subscription each connector name last made."""

    def __init__(self) -> None:
        self.streams: list[_Stream] = []
        self.known: dict[str, tuple[str, ...]] = {}
        self._changed = asyncio.Event()

    def attach(self, name: str, patterns: tuple[str, ...]) -> _Stream:
        stream = _Stream(name, patterns)
        self.streams.append(stream)
        self.known[name] = patterns
        self._notify()
        return stream

    def detach(self, stream: _Stream) -> None:
        stream.close()
        if stream in self.streams:
            self.streams.remove(stream)
            self._notify()

    def close_all(self) -> None:
        for stream in list(self.streams):
            self.detach(stream)

    def live(self, name: str, event_type: str) -> list[_Stream]:
        """Connected processes of `name` that subscribed to `event_type` themselves (processes
        sharing a name should subscribe alike; none is sent a type it did not ask for)."""
        return [
            s
            for s in self.streams
            if s.name == name and not s.closed and _matches(s.patterns, event_type)
        ]

    async def changed(self) -> None:
        """Until a process subscribes or disconnects."""
        await self._changed.wait()

    def _notify(self) -> None:
        # Wake every waiter once, then start a fresh event for the next change.
        self._changed.set()
        self._changed = asyncio.Event()


class _GatewayService(pb_grpc.ConnectorGatewayServicer):
    """The protocol: authenticate the subscription, stream deliveries, settle acks and nacks."""

    def __init__(self, hub: _Hub, secrets: dict[str, str]) -> None:
        self._hub = hub
        self._secrets = secrets

    @override
    async def Subscribe(
        self, request_iterator: AsyncIterator[pb.SubscribeRequest], context: Context
    ) -> AsyncIterator[pb.Delivery]:
        requests = aiter(request_iterator)
        try:
            first = await anext(requests, None)
        except DecodeError as error:
            # grpcio would answer UNKNOWN and log a traceback: the bytes are the client's mistake.
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, _malformed(error))
        subscription = await self._accept(first, context)
        stream = self._hub.attach(subscription.connector_name, tuple(subscription.event_types))
        log.info("connector %s subscribed to %s", stream.name, ", ".join(subscription.event_types))
        reader = asyncio.create_task(self._read(requests, stream))
        try:
            await context.send_initial_metadata(((SUBSCRIBED_HEADER, stream.name),))
            while (delivery := await stream.outbox.get()) is not None:
                yield delivery
            if stream.malformed is not None:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, stream.malformed)
        finally:
            self._hub.detach(stream)
            reader.cancel()
            log.info("connector %s disconnected", stream.name)

    async def _accept(self, first: pb.SubscribeRequest | None, context: Context) -> pb.Subscription:
        if first is None or first.WhichOneof("message") != "subscription":
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "the first message must be a subscription"
            )
        subscription = first.subscription
        if not self._authentic(subscription.connector_name, subscription.token):
            await context.abort(
                grpc.StatusCode.UNAUTHENTICATED,
                f"wrong token for connector {subscription.connector_name!r}",
            )
        if not subscription.connector_name:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "connector_name is empty")
        if not subscription.event_types:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                "event_types is empty: subscribe to at least one, e.g. io.warmline.handoff.*",
            )
        unknown = [
            p for p in subscription.event_types if not any(_matches([p], t.value) for t in EMITTED)
        ]
        if unknown:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"{', '.join(map(repr, unknown))} match(es) no event type warmline emits "
                "(they look like io.warmline.handoff.accepted.v1; see docs/events.md)",
            )
        return subscription

    def _authentic(self, name: str, token: str) -> bool:
        expected = self._secrets.get(f"{TOKEN_SECRET}.{name}", self._secrets.get(TOKEN_SECRET))
        if expected is None:
            return False
        return hmac.compare_digest(expected.encode(), token.encode())

    async def _read(self, requests: AsyncIterator[pb.SubscribeRequest], stream: _Stream) -> None:
        """Settle deliveries as acks and nacks arrive; the client closing its side ends the
        stream, since it could settle nothing more."""
        try:
            async for request in requests:
                kind = request.WhichOneof("message")
                if kind == "ack":
                    delivery_id, outcome = request.ack.delivery_id, None
                elif kind == "nack":
                    nack = request.nack
                    delivery_id = nack.delivery_id
                    outcome = _Nacked(nack.reason or "no reason given", nack.permanent)
                else:
                    log.warning("connector %s: ignored a %s message", stream.name, kind or "empty")
                    continue
                if not stream.settle(delivery_id, outcome):
                    log.warning(
                        "connector %s: ignored %s of unknown delivery %r (settled, timed out or "
                        "from an earlier connection)",
                        stream.name,
                        kind,
                        delivery_id,
                    )
        except DecodeError as error:
            # Ended with INVALID_ARGUMENT rather than OK, which tells the process to reconnect
            # and send the same bytes again; what it had not settled is delivered again.
            stream.malformed = _malformed(error)
            log.warning("connector %s: %s", stream.name, stream.malformed)
        except Exception as error:  # noqa: BLE001 - however reading ends, the stream ends with it
            log.info("connector %s: stream read ended: %r", stream.name, error)
        finally:
            self._hub.detach(stream)


@dataclass
class _Progress:
    """What earlier attempts at one event achieved, so a retry goes only where it must."""

    acked: set[str] = field(default_factory=set)
    attempts: dict[str, int] = field(default_factory=dict)


class GrpcGatewayConnector(Connector):
    """Forwards events to out-of-process connectors; see the module docstring."""

    type_name = "grpc"
    Settings = GrpcGatewaySettings
    settings: GrpcGatewaySettings

    @classmethod
    @override
    def secrets_problem(cls, names: Collection[str]) -> str | None:
        if any(_is_token(name) for name in names):
            return None
        return (
            f"needs a `{TOKEN_SECRET}` secret, or `{TOKEN_SECRET}.<connector_name>` per connector "
            f"process (found: {', '.join(sorted(names)) or 'none'})"
        )

    def __init__(self, settings: BaseModel, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        self.port: int | None = None
        """The port listened on, once started (the chosen one when `listen` ends in `:0`)."""
        self.undelivered = 0
        """Events no subscription wanted, so they were committed without delivery."""
        self._hub: _Hub | None = None
        self._server: grpc.aio.Server | None = None
        self._health: HealthServicer | None = None
        self._slots: asyncio.Semaphore | None = None
        self._progress: OrderedDict[str, _Progress] = OrderedDict()

    # --- lifecycle ---------------------------------------------------------------------------

    @override
    async def start(self) -> None:
        secrets = dict(self.context.secrets)
        problem = self.secrets_problem(secrets)
        if problem is not None:
            raise GatewayConfigError(f"connector {self.context.name!r} (grpc) {problem}")
        self._hub = _Hub()
        self._slots = asyncio.Semaphore(self.settings.max_in_flight)
        server = grpc.aio.server(options=KEEPALIVE)
        pb_grpc.add_ConnectorGatewayServicer_to_server(_GatewayService(self._hub, secrets), server)
        self._health = HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        reflection.enable_server_reflection(
            [SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME], server
        )
        port = server.add_insecure_port(self.settings.listen)
        if port == 0:
            raise OSError(f"cannot listen on {self.settings.listen}")
        await server.start()
        for service in (SERVICE_NAME, ""):
            await self._health.set(service, health_pb2.HealthCheckResponse.SERVING)
        self._server, self.port = server, port
        log.info("connector gateway %s listening on port %d", self.context.name, port)

    @override
    async def stop(self) -> None:
        """Report NOT_SERVING, end every stream (processes reconnect elsewhere or later), stop."""
        if self._server is None:
            return
        if self._health is not None:
            await self._health.enter_graceful_shutdown()
        if self._hub is not None:
            self._hub.close_all()
        await self._server.stop(STOP_GRACE_S)
        self._server = None

    def connected(self, name: str | None = None) -> int:
        """How many processes are subscribed (under `name`, when given)."""
        if self._hub is None:
            return 0
        return len([s for s in self._hub.streams if not s.closed and name in (None, s.name)])

    # --- forwarding --------------------------------------------------------------------------

    @handles(*EMITTED)
    async def forward(self, event: Event[EventData]) -> None:
        """Deliver to every connector name subscribed to the type; return once all acked."""
        hub, slots = self._hub, self._slots
        if hub is None or slots is None:
            raise RetryableError("the gateway is not started")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.ack_timeout.total_seconds()
        await self._first_subscription(hub, deadline)
        progress = self._progress_of(event.id)
        names = [
            name
            for name, patterns in hub.known.items()
            if name not in progress.acked and _matches(patterns, event.type.value)
        ]
        if not names:
            if not progress.acked:
                self.undelivered += 1
                log.debug("%s: no subscription wants %s", self.context.name, event.type.value)
            self._progress.pop(event.id, None)
            return
        outcomes = await asyncio.gather(
            *(self._deliver(hub, slots, name, event, progress, deadline) for name in names),
            return_exceptions=True,
        )
        failures: list[ConnectorError] = []
        for name, outcome in zip(names, outcomes, strict=True):
            if outcome is None:
                progress.acked.add(name)
            elif isinstance(outcome, ConnectorError):
                failures.append(outcome)
            else:
                raise outcome
        permanent = [f for f in failures if isinstance(f, PermanentError)]
        if permanent or not failures:
            self._progress.pop(event.id, None)
        if permanent:
            raise PermanentError("; ".join(map(str, permanent)))
        if failures:
            raise RetryableError("; ".join(map(str, failures)))

    async def _first_subscription(self, hub: _Hub, deadline: float) -> None:
        """Hold events until some process has subscribed: until then no one can say who wants
        what, and committing them undelivered would lose them."""
        try:
            async with asyncio.timeout_at(deadline):
                while not hub.known:
                    await hub.changed()
        except TimeoutError:
            raise RetryableError(
                f"no connector process has subscribed to {self.context.name} yet"
            ) from None

    async def _deliver(
        self,
        hub: _Hub,
        slots: asyncio.Semaphore,
        name: str,
        event: Event[EventData],
        progress: _Progress,
        deadline: float,
    ) -> None:
        waited = format_duration(self.settings.ack_timeout)
        stream: _Stream | None = None
        delivery_id = uuid.uuid4().hex
        try:
            async with asyncio.timeout_at(deadline):
                while not (live := hub.live(name, event.type.value)):
                    await hub.changed()
                stream = min(live, key=lambda s: s.load)
                async with slots:
                    if stream.closed:
                        raise _DisconnectedError
                    attempt = progress.attempts.get(name, 0) + 1
                    progress.attempts[name] = attempt
                    outcome = await stream.send(
                        pb.Delivery(delivery_id=delivery_id, attempt=attempt, event=_cloud(event))
                    )
        except TimeoutError:
            if stream is None:
                raise RetryableError(f"no process of connector {name!r} connected") from None
            if delivery_id in stream.pending:
                stream.time_out(delivery_id)
            raise RetryableError(f"{name} did not acknowledge {event.id} within {waited}") from None
        except _DisconnectedError:
            raise RetryableError(f"{name} disconnected before acknowledging {event.id}") from None
        finally:
            if stream is not None:
                stream.pending.pop(delivery_id, None)
        if outcome is None:
            return
        if outcome.permanent:
            raise PermanentError(f"{name} refused {event.id}: {outcome.reason}")
        raise RetryableError(f"{name} could not handle {event.id} yet: {outcome.reason}")

    def _progress_of(self, event_id: str) -> _Progress:
        progress = self._progress.get(event_id)
        if progress is None:
            progress = self._progress[event_id] = _Progress()
            while len(self._progress) > MAX_REMEMBERED:
                self._progress.popitem(last=False)
        return progress


def _cloud(event: Event[EventData]) -> pb.CloudEvent:
    return pb.CloudEvent(
        id=event.id,
        type=event.type.value,
        source=event.source,
        subject=event.subject,
        time=event.time.isoformat(),
        datacontenttype=CONTENT_TYPE,
        data=event.data.model_dump_json().encode(),
    )
