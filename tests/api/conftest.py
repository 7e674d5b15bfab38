"""A specialist API server on 127.0.0.1:0 and clients for it, over real grpc.aio channels."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import grpc
import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from warmline.api.auth import Authenticator
from warmline.api.desk import Desk
from warmline.api.server import start_server
from warmline.api.v1 import specialist_pb2_grpc as pb_grpc
from warmline.config.loader import load_config
from warmline.config.model import WarmlineConfig
from warmline.liveview import LiveView

PEER_SUPPORT = Path(__file__).resolve().parents[2] / "examples" / "peer-support" / "warmline.yaml"
UNREACHABLE_TEMPORAL = "127.0.0.1:9"
UNREACHABLE_REDIS = "redis://127.0.0.1:9/0"


def token_of(specialist_id: str) -> str:
    return f"token-of-{specialist_id}"


def load_peer_support() -> WarmlineConfig:
    """The peer-support example with every secret set; a specialist's token is `token_of(id)`."""
    names = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", PEER_SUPPORT.read_text()))
    env = {name: f"secret-{name}" for name in names}
    specialists = load_config(PEER_SUPPORT, env=env).routing.specialists
    env.update({s.token.name: token_of(s.id) for s in specialists})
    return load_config(PEER_SUPPORT, env=env)


def bearer(specialist_id: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token_of(specialist_id)}"),)


@dataclass
class Api:
    """A running server and a channel to it."""

    port: int
    channel: grpc.aio.Channel
    stub: pb_grpc.SpecialistServiceStub
    desk: Desk


@pytest.fixture(scope="session")
def peer_support() -> WarmlineConfig:
    return load_peer_support()


async def run_api(
    client: Client, live_view: LiveView, config: WarmlineConfig, **desk_options: object
) -> AsyncIterator[Api]:
    with ThreadPoolExecutor(8, thread_name_prefix="test-api") as executor:
        desk = Desk(client, live_view, config, executor, **desk_options)  # type: ignore[arg-type]
        server, port = await start_server(desk, Authenticator.from_config(config), "127.0.0.1:0")
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        try:
            yield Api(port, channel, pb_grpc.SpecialistServiceStub(channel), desk)
        finally:
            await channel.close()
            await server.stop(grace=None)


@pytest.fixture
async def offline_api(peer_support: WarmlineConfig) -> AsyncIterator[Api]:
    """A server whose Temporal and Redis are unreachable (never contacted: the client is lazy).

    Whatever these tests expect must be decided before any backend call; a call that reached a
    backend would fail as INTERNAL or UNAVAILABLE instead.
    """
    client = await Client.connect(
        UNREACHABLE_TEMPORAL, data_converter=pydantic_data_converter, lazy=True
    )
    live_view = LiveView.connect(UNREACHABLE_REDIS)
    try:
        async for api in run_api(client, live_view, peer_support, handoff_wait=timedelta(0)):
            yield api
    finally:
        live_view.close()
