"""Start-up checks of the services a command was pointed at: the real ones answer, and a port
nobody listens on is one line naming the service, its address and why."""

from __future__ import annotations

import socket
import uuid

import pytest
from temporalio.worker import Worker

from warmline.errors import ServiceError
from warmline.reach import (
    check_kafka,
    check_redis,
    check_temporal,
    check_workers,
    temporal_cause,
    temporal_client,
    without_password,
)
from warmline.services import Endpoints
from warmline.services.ports import free_port
from workflows.roster import RosterWorkflow


def test_the_sessions_services_answer(services: Endpoints) -> None:
    assert services.temporal is not None
    check_temporal(services.temporal)
    assert services.kafka is not None
    check_kafka(services.kafka)
    assert services.redis is not None
    check_redis(services.redis)


async def test_a_client_of_the_real_temporal_has_warmline_s_converter(
    temporal_address: str,
) -> None:
    client = await temporal_client(temporal_address)
    assert client.data_converter.payload_converter_class.__name__ == "PydanticPayloadConverter"


async def test_a_namespace_the_real_temporal_lacks_is_named(temporal_address: str) -> None:
    with pytest.raises(ServiceError) as raised:
        await temporal_client(temporal_address, "no-such-namespace")
    assert str(raised.value) == (
        f"Temporal at {temporal_address} has no namespace 'no-such-namespace'; create it "
        "(temporal operator namespace create --namespace no-such-namespace) or pass the "
        "--namespace it has"
    )


async def test_a_task_queue_no_worker_polls_is_named_after_the_wait(
    temporal_address: str,
) -> None:
    client = await temporal_client(temporal_address)
    queue = f"nobody-{uuid.uuid4().hex[:8]}"
    with pytest.raises(ServiceError) as raised:
        await check_workers(client, queue, wait_s=1.0)
    assert str(raised.value) == (
        f"no worker polls task queue {queue!r} in namespace 'default'; start `warmline worker "
        "--config ...`, or pass the --task-queue the workers use"
    )
    worker = Worker(client, task_queue=queue, workflows=[RosterWorkflow])
    async with worker:
        await check_workers(client, queue, wait_s=10.0)


def test_a_temporal_nobody_runs_is_named_with_the_reason() -> None:
    address = f"127.0.0.1:{free_port()}"
    with pytest.raises(ServiceError) as raised:
        check_temporal(address)
    assert str(raised.value) == (
        f"cannot reach Temporal at {address}: Connection refused; is the server running there?"
    )


def test_a_redis_nobody_runs_is_named_without_its_password() -> None:
    port = free_port()
    with pytest.raises(ServiceError) as raised:
        check_redis(f"redis://:hunter2@127.0.0.1:{port}/0")
    message = str(raised.value)
    assert message.startswith(f"cannot reach Redis at redis://:***@127.0.0.1:{port}/0: ")
    assert "Connection refused; is the server running there?" in message
    assert "hunter2" not in message


def test_a_kafka_nobody_runs_is_named_at_once() -> None:
    bootstrap = f"127.0.0.1:{free_port()},127.0.0.1:{free_port()}"
    with pytest.raises(ServiceError) as raised:
        check_kafka(bootstrap, timeout_s=30)
    assert str(raised.value) == (
        f"cannot reach Kafka at {bootstrap}: Connection refused; is the broker running there?"
    )


def test_a_port_that_listens_but_is_no_broker_is_named_once_the_wait_is_over() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:
        bootstrap = f"127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(ServiceError) as raised:
            check_kafka(bootstrap, timeout_s=0.5)
    assert str(raised.value) == (
        f"cannot reach Kafka at {bootstrap}: no broker answered within 0.5 s; "
        "is the broker running there?"
    )


def test_the_reason_is_read_out_of_the_transport_s_text() -> None:
    dns = RuntimeError(
        "Failed client connect: Server connection error: tonic::transport::Error(Transport, "
        'ConnectError(ConnectError("dns error", Custom { kind: Uncategorized, error: "failed to '
        'lookup address information: Name or service not known" })))'
    )
    assert temporal_cause(dns) == "failed to lookup address information: Name or service not known"
    assert temporal_cause(RuntimeError("Failed client connect: something new")) == "something new"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("redis://:s3cret@10.0.0.5:6380/2", "redis://:***@10.0.0.5:6380/2"),
        ("rediss://app:s3cret@cache.example:6379", "rediss://app:***@cache.example:6379"),
        ("redis://app:s3cret@[::1]/0", "redis://app:***@[::1]/0"),
    ],
)
def test_a_password_never_reaches_the_message(url: str, shown: str) -> None:
    assert without_password(url) == shown
