"""The API server's life: the port it binds, the calls its clients give up on, and its stop on
SIGTERM, in process and as `warmline api`."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import sys
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from temporalio.client import Client
from temporalio.worker import Worker

from activities.routing import ensure_roster
from tests.api.conftest import PEER_SUPPORT, Api, IdleDeployment, bearer, token_of
from tests.api.test_cli import free_port
from tests.api.test_flow import next_event, refused
from warmline.api.auth import Authenticator
from warmline.api.server import start_server
from warmline.api.v1 import specialist_pb2 as pb
from warmline.api.v1 import specialist_pb2_grpc as pb_grpc
from warmline.config.model import WarmlineConfig
from warmline.errors import ServiceError
from warmline.roster import roster_workflow_id
from warmline.runtime import roster_settings
from workflows.roster import RosterWorkflow

UNKNOWN_TOKEN = "a-token-nobody-holds-4f1c"
STOPPED_WITHIN_S = 60.0
"""Far more than the server's grace and the watch threads' last wait; only a hung stop is late."""


@pytest.fixture
async def held_port() -> AsyncIterator[int]:
    """A port another gRPC server serves with grpc's default options (SO_REUSEPORT), as an older
    `warmline api` still running there would."""
    other = grpc.aio.server()
    port = other.add_insecure_port("127.0.0.1:0")
    await other.start()
    try:
        yield port
    finally:
        await other.stop(None)


async def test_a_port_another_server_serves_is_refused(
    offline_api: Api, peer_support: WarmlineConfig, held_port: int
) -> None:
    """Sharing it, the two servers would each take some of the connections."""
    with pytest.raises(
        ServiceError, match=rf"cannot listen on 127\.0\.0\.1:{held_port}: .* in use"
    ):
        await start_server(
            offline_api.desk, Authenticator.from_config(peer_support), f"127.0.0.1:{held_port}"
        )


async def test_a_request_over_the_size_limit_is_resource_exhausted_and_the_server_stays_up(
    offline_api: Api,
) -> None:
    oversized = pb.ReplyRequest(
        tenant_id="open-door", conversation_id="c-1", message_id="m-1", text="x" * 5_000_000
    )

    code, details = await refused(offline_api.stub.Reply(oversized, metadata=bearer("vol-aoife")))

    assert code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "larger than max" in details
    code, _ = await refused(
        offline_api.stub.Decline(pb.DeclineRequest(offer_id="x"), metadata=bearer("vol-aoife"))
    )
    assert code is grpc.StatusCode.INVALID_ARGUMENT, "the server still answers"


def api_environment(config: WarmlineConfig) -> dict[str, str]:
    """The environment `warmline api` reads the peer-support example's secrets from, with each
    specialist's token `token_of(id)` (`config` is the example loaded so)."""
    names = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", PEER_SUPPORT.read_text()))
    env = {**os.environ, **{name: f"secret-{name}" for name in names}}
    env.update({s.token.name: token_of(s.id) for s in config.routing.specialists})
    return env


def api_command(temporal: str, redis: str, port: int, *options: str) -> list[str]:
    command = [sys.executable, "-m", "warmline.cli", "api", "--config", str(PEER_SUPPORT)]
    command += ["--temporal", temporal, "--redis", redis, "--listen", f"127.0.0.1:{port}"]
    return [*command, *options]


async def test_warmline_api_on_a_port_in_use_exits_1_with_one_line(
    peer_support: WarmlineConfig, temporal_address: str, redis_url: str, held_port: int
) -> None:
    process = await asyncio.create_subprocess_exec(
        *api_command(temporal_address, redis_url, held_port),
        env=api_environment(peer_support),
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), STOPPED_WITHIN_S)
    finally:
        if process.returncode is None:
            process.kill()
            await process.communicate()

    lines = stderr.decode().splitlines()
    assert process.returncode == 1, lines
    assert [line for line in lines if " INFO " not in line] == [
        f"error: cannot listen on 127.0.0.1:{held_port}: the port is in use "
        "(is another warmline api or server running there?)"
    ]


async def test_a_call_whose_client_gave_up_is_not_logged_as_workers_down(
    idle_deployment: IdleDeployment,
    peer_support: WarmlineConfig,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The roster runs but no worker does: the availability update waits for the desk's second,
    and the client's deadline passes first. Nobody is there to be told; the operator must not be
    told that workers are down either."""
    idle = idle_deployment
    roster = roster_workflow_id(peer_support.metadata.name)
    await ensure_roster(
        idle.client, roster, roster_settings(peer_support), task_queue=idle.task_queue
    )
    caplog.set_level(logging.WARNING)

    code, _ = await refused(
        idle.api.stub.SetAvailability(
            pb.SetAvailabilityRequest(available=True), metadata=bearer("vol-aoife"), timeout=0.3
        )
    )
    await asyncio.sleep(2)  # past the desk's own one-second wait, had the call gone on

    assert code is grpc.StatusCode.DEADLINE_EXCEEDED
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_sigterm_lets_a_running_call_finish_and_ends_watches_unavailable(
    namespace_client: Client,
    peer_support: WarmlineConfig,
    temporal_address: str,
    redis_url: str,
) -> None:
    """A specialist's client always has a WatchOffers stream open, so every stop ends some: each
    ends UNAVAILABLE (reconnect, to another server), with nothing logged as an error. No token,
    refused or not, is ever written to the log."""
    task_queue = f"lifecycle-{uuid.uuid4().hex[:8]}"
    roster = roster_workflow_id(peer_support.metadata.name, task_queue)
    await ensure_roster(
        namespace_client, roster, roster_settings(peer_support), task_queue=task_queue
    )
    port = free_port()
    options = ("--namespace", namespace_client.namespace, "--task-queue", task_queue)
    process = await asyncio.create_subprocess_exec(
        *api_command(temporal_address, redis_url, port, *options),
        env=api_environment(peer_support),
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            await health.Check(health_pb2.HealthCheckRequest(), wait_for_ready=True, timeout=60)
            stub = pb_grpc.SpecialistServiceStub(channel)
            code, _ = await refused(
                stub.Decline(
                    pb.DeclineRequest(offer_id="x"),
                    metadata=(("authorization", f"Bearer {UNKNOWN_TOKEN}"),),
                )
            )
            assert code is grpc.StatusCode.UNAUTHENTICATED
            watch = stub.WatchOffers(pb.WatchOffersRequest(), metadata=bearer("vol-aoife"))
            assert (await next_event(watch)).WhichOneof("event") == "synced"
            # No worker runs the roster yet: the update waits on the server.
            running = asyncio.ensure_future(
                stub.SetAvailability(
                    pb.SetAvailabilityRequest(available=True),
                    metadata=bearer("vol-aoife"),
                    timeout=60,
                )
            )
            await asyncio.sleep(2)
            assert not running.done()

            process.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.5)
            process.send_signal(signal.SIGTERM)  # a second one changes nothing
            async with Worker(namespace_client, task_queue=task_queue, workflows=[RosterWorkflow]):
                answered = await asyncio.wait_for(running, STOPPED_WITHIN_S)
                code, _ = await refused(asyncio.wait_for(watch.read(), STOPPED_WITHIN_S))
        _, stderr = await asyncio.wait_for(process.communicate(), STOPPED_WITHIN_S)
    finally:
        if process.returncode is None:
            process.kill()
            await process.communicate()

    assert answered.available
    assert code is grpc.StatusCode.UNAVAILABLE
    log = stderr.decode()
    assert process.returncode == 0, log
    assert "Traceback" not in log
    assert " ERROR " not in log
    assert UNKNOWN_TOKEN not in log
    assert token_of("vol-aoife") not in log
