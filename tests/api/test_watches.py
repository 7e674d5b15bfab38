"""Open WatchOffers streams: a specialist's newest watch ends their oldest, and keepalive pings end
the streams of clients whose network dropped without a word, over a real channel and Redis."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import grpc
import pytest
import redis
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from tests.api.conftest import (
    QUICK_WATCH_SLICE_S,
    UNREACHABLE_TEMPORAL,
    Api,
    IdleDeployment,
    bearer,
    run_api,
)
from tests.api.test_flow import next_event, refused
from warmline.api import server
from warmline.api.desk import MAX_WATCHES_PER_SPECIALIST
from warmline.api.v1 import specialist_pb2 as pb
from warmline.api.v1 import specialist_pb2_grpc as pb_grpc
from warmline.config.model import WarmlineConfig
from warmline.liveview import LiveView


async def test_a_newer_watch_ends_the_specialists_oldest(idle_deployment: IdleDeployment) -> None:
    """Each open stream holds a server thread, so one specialist keeps only a few; a client that
    lost its network leaves its stream open for a while, and must not lock them out meanwhile."""
    api = idle_deployment.api
    watches = []
    for _ in range(MAX_WATCHES_PER_SPECIALIST):
        watch = api.stub.WatchOffers(pb.WatchOffersRequest(), metadata=bearer("vol-aoife"))
        assert (await next_event(watch)).WhichOneof("event") == "synced"
        watches.append(watch)
    newest = api.stub.WatchOffers(pb.WatchOffersRequest(), metadata=bearer("vol-aoife"))
    assert (await next_event(newest)).WhichOneof("event") == "synced"

    code, details = await refused(next_event(watches[0]))
    assert code is grpc.StatusCode.CANCELLED
    assert details.startswith("replaced by a newer watch of your offers")
    assert api.desk.watching("vol-aoife") == MAX_WATCHES_PER_SPECIALIST
    other = api.stub.WatchOffers(pb.WatchOffersRequest(), metadata=bearer("vol-marcus"))
    assert (await next_event(other)).WhichOneof("event") == "synced", "others are not affected"
    for watch in (*watches[1:], newest, other):
        watch.cancel()
    for _ in range(50):  # the server notices the cancels on its side
        if api.desk.watching("vol-aoife") == 0:
            break
        await asyncio.sleep(0.1)
    assert api.desk.watching("vol-aoife") == 0


def test_the_server_pings_silent_connections() -> None:
    options = dict(server.server_options())
    assert options["grpc.keepalive_time_ms"] == 30_000
    assert options["grpc.keepalive_timeout_ms"] == 10_000
    assert options["grpc.http2.ping_timeout_ms"] == 10_000
    assert options["grpc.keepalive_permit_without_calls"] == 1
    assert options["grpc.http2.max_pings_without_data"] == 0
    assert options["grpc.http2.min_ping_interval_without_data_ms"] == 10_000


class BlackHole:
    """A TCP relay to the API whose `cut()` silently drops everything sent either way on the
    connections made so far, closing nothing: a laptop lid closed, wifi swapped for cellular."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._connections = 0
        self._cut = 0
        self._closing = asyncio.Event()
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    def cut(self) -> None:
        self._cut = self._connections

    async def close(self) -> None:
        self._closing.set()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections += 1
        number = self._connections
        upstream, upstream_writer = await asyncio.open_connection("127.0.0.1", self._port)

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            while data := await source.read(65_536):
                if number > self._cut:
                    sink.write(data)
                    await sink.drain()

        # An end seen on one side is not passed on either: only `close` ends the relay.
        pipes = [
            asyncio.ensure_future(pipe(reader, upstream_writer)),
            asyncio.ensure_future(pipe(upstream, writer)),
        ]
        await self._closing.wait()
        for each in pipes:
            each.cancel()
        await asyncio.gather(*pipes, return_exceptions=True)
        writer.close()
        upstream_writer.close()


@pytest.fixture
async def pinging_api(peer_support: WarmlineConfig, redis_url: str) -> AsyncIterator[Api]:
    """A server that pings a silent connection after 0.2 s and gives it 0.3 s to answer; its live
    view is built (so watches need no Temporal, which is unreachable)."""
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    with contextlib.closing(redis.Redis.from_url(redis_url)) as raw:
        raw.set(f"{prefix}:built", "2025-01-01T00:00:00+00:00")
    client = await Client.connect(
        UNREACHABLE_TEMPORAL, data_converter=pydantic_data_converter, lazy=True
    )
    live_view = LiveView.connect(redis_url, prefix=prefix)
    try:
        async for api in run_api(
            client,
            live_view,
            peer_support,
            keepalive_time=timedelta(milliseconds=200),
            keepalive_timeout=timedelta(milliseconds=300),
            watch_slice_s=QUICK_WATCH_SLICE_S,
        ):
            yield api
    finally:
        live_view.close()


async def test_keepalive_ends_the_watch_of_a_client_whose_network_dropped(
    pinging_api: Api,
) -> None:
    relay = BlackHole(pinging_api.port)
    port = await relay.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        watch = pb_grpc.SpecialistServiceStub(channel).WatchOffers(
            pb.WatchOffersRequest(), metadata=bearer("vol-aoife")
        )
        assert (await next_event(watch)).WhichOneof("event") == "synced"
        assert pinging_api.desk.watching("vol-aoife") == 1

        relay.cut()
        for _ in range(50):
            if pinging_api.desk.watching("vol-aoife") == 0:
                break
            await asyncio.sleep(0.1)
        assert pinging_api.desk.watching("vol-aoife") == 0, "the dead stream still holds a watch"
        watch.cancel()
    finally:
        await channel.close(None)
        await relay.close()
