"""Connecting to the services a command was pointed at, with an error a user can act on when one
is not there.

Temporal's client reports a server that is down as a `RuntimeError` carrying the Rust transport's
debug text, and redis-py connects lazily, so a Redis that is down would surface only in the first
activity that needs it, to be retried for ever. Commands connect through here at start-up and
stop with one line instead: which service, at which address, and why.
"""

from __future__ import annotations

import asyncio
import re
import socket
from urllib.parse import urlsplit, urlunsplit

from kafka import KafkaAdminClient
from kafka.cluster import collect_hosts
from kafka.errors import KafkaError, KafkaTimeoutError
from redis import Redis, RedisError
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode

from warmline.errors import ServiceError

TEMPORAL_UNREACHABLE = "Failed client connect"
"""How Temporal's client says it could not connect: a `RuntimeError`, not an `RPCError`, so it is
recognised by its message (a lazily connecting client says it on its first call)."""

CHECK_TIMEOUT_S = 5.0
"""How long a start-up check waits for Redis or Kafka to answer."""

_CAUSE = re.compile(r'(?:message|error): "([^"]*)"')


async def temporal_client(address: str, namespace: str = "default") -> Client:
    """A client of the Temporal frontend at `address` with warmline's data converter, once the
    server has said `namespace` exists (the client itself would only find out at its first call,
    inside a worker or a request)."""
    try:
        client = await Client.connect(
            address, namespace=namespace, data_converter=pydantic_data_converter
        )
    except RuntimeError as error:
        if not str(error).startswith(TEMPORAL_UNREACHABLE):
            raise
        raise ServiceError(
            f"cannot reach Temporal at {address}: {temporal_cause(error)}; "
            "is the server running there?"
        ) from None
    try:
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=namespace)
        )
    except RPCError as error:
        # Only a namespace the server does not know stops us; a credential that may not describe
        # namespaces can still run workflows in its own.
        if error.status != RPCStatusCode.NOT_FOUND:
            return client
        raise ServiceError(
            f"Temporal at {address} has no namespace {namespace!r}; create it "
            f"(temporal operator namespace create --namespace {namespace}) or pass the "
            "--namespace it has"
        ) from None
    return client


WORKER_WAIT_S = 10.0
"""How long a command that needs the workers waits for one to poll its task queue."""


async def check_workers(client: Client, task_queue: str, *, wait_s: float = WORKER_WAIT_S) -> None:
    """Raise `ServiceError` unless a worker polls `task_queue` within `wait_s`: a workflow started
    there would otherwise wait, silently, for one that never comes."""
    request = DescribeTaskQueueRequest(
        namespace=client.namespace,
        task_queue=TaskQueue(name=task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    )
    deadline = asyncio.get_running_loop().time() + wait_s
    while True:
        described = await client.workflow_service.describe_task_queue(request)
        if described.pollers:
            return
        if asyncio.get_running_loop().time() >= deadline:
            raise ServiceError(
                f"no worker polls task queue {task_queue!r} in namespace {client.namespace!r}; "
                "start `warmline worker --config ...`, or pass the --task-queue the workers use"
            )
        await asyncio.sleep(0.5)


def check_temporal(address: str, namespace: str = "default") -> None:
    """Raise `ServiceError` unless a client connects to the Temporal frontend at `address` (from
    code that is not inside an event loop)."""
    asyncio.run(temporal_client(address, namespace))


def temporal_cause(error: RuntimeError) -> str:
    """The reason inside the transport's debug text (e.g. "Connection refused"), else the text."""
    causes = _CAUSE.findall(str(error))
    if causes:
        return str(causes[-1])
    return str(error).removeprefix(TEMPORAL_UNREACHABLE).lstrip(": ")


def check_redis(url: str) -> None:
    """Raise `ServiceError` unless the Redis at `url` answers a PING."""
    client = Redis.from_url(
        url, socket_connect_timeout=CHECK_TIMEOUT_S, socket_timeout=CHECK_TIMEOUT_S
    )
    try:
        client.ping()
    except RedisError as error:
        reason = str(error).rstrip(".")
        raise ServiceError(
            f"cannot reach Redis at {without_password(url)}: {reason}; is the server running there?"
        ) from None
    finally:
        client.close()


def check_kafka(bootstrap: str, timeout_s: float = CHECK_TIMEOUT_S) -> None:
    """Raise `ServiceError` unless a broker of `bootstrap` answers within `timeout_s`.

    When no server of `bootstrap` accepts a connection at all, the reason is known at once
    (kafka-python would only say, at the end of its wait, that it could not bootstrap)."""
    refused = _unconnectable(bootstrap, timeout_s)
    if refused is not None:
        raise ServiceError(
            f"cannot reach Kafka at {bootstrap}: {refused}; is the broker running there?"
        )
    timeout_ms = int(timeout_s * 1000)
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap,
            request_timeout_ms=timeout_ms,
            bootstrap_timeout_ms=timeout_ms,
        )
    except KafkaTimeoutError:
        reason = f"no broker answered within {timeout_s:g} s"
    except KafkaError as error:
        reason = str(error)
    else:
        admin.close()
        return
    raise ServiceError(f"cannot reach Kafka at {bootstrap}: {reason}; is the broker running there?")


def _unconnectable(bootstrap: str, timeout_s: float) -> str | None:
    """Why no server of `bootstrap` takes a TCP connection, or None when one does."""
    reasons: list[str] = []
    for host, port, _family in collect_hosts(bootstrap):
        try:
            socket.create_connection((host, port), timeout=timeout_s).close()
        except OSError as error:
            reasons.append(error.strerror or str(error))
        else:
            return None
    return "; ".join(dict.fromkeys(reasons)) or None


_QUERY_PASSWORD = re.compile(r"(^|&)(password=)[^&]*")
"""A `password` query parameter, which redis-py takes as the password as readily as the one
before the host."""


def without_password(url: str) -> str:
    """`url` with any password in it replaced by `***`, fit for an error message."""
    parts = urlsplit(url)
    if parts.password is not None:
        user = parts.username or ""
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port is not None else "")
        url = urlunsplit(parts._replace(netloc=netloc))
    # Edited as text: `urlunsplit` would turn `unix:///run/redis.sock` into `unix:/run/redis.sock`.
    before, mark, after = url.partition("?")
    query, hash_mark, fragment = after.partition("#")
    return before + mark + _QUERY_PASSWORD.sub(r"\1\2***", query) + hash_mark + fragment
