"""Waiting on a call that must end `UNAVAILABLE` because no worker answers, without hanging the
test when it never does (the defect those tests catch)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from temporalio.client import Client

from warmline.api.annotator import AnnotatorService
from warmline.api.auth import Authenticator
from warmline.api.desk import Desk
from warmline.api.server import start_server
from warmline.api.wellness import WellnessService
from warmline.config.model import WarmlineConfig
from warmline.liveview import LiveView

PATIENCE_S = 90.0
"""How long a test waits for an answer before it calls the call hung: far above any bound, so a
slow machine never fails it, far below "for ever"."""


async def within_patience(call: Awaitable[object]) -> None:
    try:
        await asyncio.wait_for(call, PATIENCE_S)
    except TimeoutError:
        raise AssertionError(f"no answer after {PATIENCE_S:g} s: the call waits for ever") from None


async def no_answer(call: Awaitable[object]) -> str:
    """The details of `call`, which must end `UNAVAILABLE` well within `PATIENCE_S`."""
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await within_patience(call)
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE, raised.value
    return raised.value.details() or ""


class Servers:
    """API servers on 127.0.0.1:0, each with a desk of its own over the same Temporal client and
    live view, and a channel to each; `close` ends them all (the live view is the caller's)."""

    def __init__(
        self,
        client: Client,
        live_view: LiveView,
        config: WarmlineConfig,
        executor: ThreadPoolExecutor,
    ) -> None:
        self._desk = functools.partial(Desk, client, live_view, config, executor)
        self._authenticator = Authenticator.from_config(config)
        self._servers: list[grpc.aio.Server] = []
        self._channels: list[grpc.aio.Channel] = []

    async def channel(
        self, *, annotator: AnnotatorService | None = None, wellness: WellnessService | None = None
    ) -> grpc.aio.Channel:
        """A channel to a new server that serves these services besides the desk."""
        server, port = await start_server(
            self._desk(),
            self._authenticator,
            "127.0.0.1:0",
            annotator=annotator,
            wellness=wellness,
        )
        self._servers.append(server)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        self._channels.append(channel)
        return channel

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close(None)  # no grace, as the default: grpc-stubs omits it
        for server in self._servers:
            await server.stop(grace=None)
