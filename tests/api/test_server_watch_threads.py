"""A client that cancels and reopens WatchOffers in a tight loop holds no more threads than the
specialist's watch limit, over a real channel and Redis.

A watch's wait for an offer change blocks a server thread for up to a watch slice, and a
cancelled watch cannot interrupt it: the wait lingers after the stream has ended.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import AsyncIterator

import pytest
import redis
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from tests.api.conftest import UNREACHABLE_TEMPORAL, Api, bearer, run_api
from tests.api.test_flow import next_event
from warmline.api.desk import MAX_WATCHES_PER_SPECIALIST
from warmline.api.v1 import specialist_pb2 as pb
from warmline.config.model import WarmlineConfig
from warmline.liveview import LiveView

WATCH_SLICE_S = 2.0
"""Long enough that every reopen below happens while earlier waits still block their threads."""
REOPENS = 3 * MAX_WATCHES_PER_SPECIALIST


class CountedWaits(LiveView):
    """The live view, counting the waits for a change that block a thread at the same time."""

    def __init__(self, client: redis.Redis, *, prefix: str) -> None:
        super().__init__(client, prefix=prefix)
        self._lock = threading.Lock()
        self.blocked = 0
        self.most_blocked = 0

    def wait_for_change(self, specialist_id: str, timeout_s: float) -> bool:
        with self._lock:
            self.blocked += 1
            self.most_blocked = max(self.most_blocked, self.blocked)
        try:
            return super().wait_for_change(specialist_id, timeout_s)
        finally:
            with self._lock:
                self.blocked -= 1


@pytest.fixture
async def counted(
    peer_support: WarmlineConfig, redis_url: str
) -> AsyncIterator[tuple[Api, CountedWaits]]:
    """The specialist API over a built live view (no Temporal needed) that counts its waits."""
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    raw = redis.Redis.from_url(redis_url, decode_responses=True)
    raw.set(f"{prefix}:built", "2025-01-01T00:00:00+00:00")
    live_view = CountedWaits(redis.Redis.from_url(redis_url, decode_responses=True), prefix=prefix)
    client = await Client.connect(
        UNREACHABLE_TEMPORAL, data_converter=pydantic_data_converter, lazy=True
    )
    try:
        async for api in run_api(client, live_view, peer_support, watch_slice_s=WATCH_SLICE_S):
            yield api, live_view
    finally:
        live_view.close()
        for key in raw.scan_iter(f"{prefix}:*"):
            raw.delete(key)
        raw.close()


async def test_cancelled_watches_still_waiting_count_against_the_specialists_limit(
    counted: tuple[Api, CountedWaits],
) -> None:
    api, live_view = counted
    for _ in range(REOPENS):
        watch = api.stub.WatchOffers(pb.WatchOffersRequest(), metadata=bearer("vol-aoife"))
        assert (await next_event(watch)).WhichOneof("event") == "synced"
        watch.cancel()

    # Someone else's watch is served meanwhile.
    other = api.stub.WatchOffers(pb.WatchOffersRequest(), metadata=bearer("vol-marcus"))
    assert (await next_event(other)).WhichOneof("event") == "synced"
    other.cancel()

    # One more than the specialist's limit: the other specialist's wait.
    assert live_view.most_blocked <= MAX_WATCHES_PER_SPECIALIST + 1
