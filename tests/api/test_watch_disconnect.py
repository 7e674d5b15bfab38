"""A WatchOffers stream whose client went away while the server was writing to it (the client read
nothing, and the server's write waited for it) frees its watch at once, over real channels and a
real Redis live view.

Such a write fails. grpcio logged that failure as an ERROR with its traceback, which holds the
stream's generator: the watch must not wait for whatever keeps such a record (here, an error
reporter) to let it go, and a client's leaving is no server error to log.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest
import redis
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from tests.api.conftest import QUICK_WATCH_SLICE_S, UNREACHABLE_TEMPORAL, Api, bearer, run_api
from tests.api.test_flow import next_event
from warmline.api.v1 import specialist_pb2 as pb
from warmline.api.v1 import specialist_pb2_grpc as pb_grpc
from warmline.config.model import WarmlineConfig
from warmline.escalation import (
    EscalationStatus,
    EscalationView,
    Offer,
    escalation_workflow_id,
    offer_id,
)
from warmline.liveview import LiveView

TENANT = "open-door"
QUEUE = "listening"
WATCHERS = {"vol-aoife": 4, "vol-marcus": 2}
"""Streams per specialist (4 is the most one specialist keeps open)."""
OFFERS_EACH = 12
REASON_CHARS = 64_000
"""Each specialist's open offers come to about 770 kB: far more than the clients' flow-control
window (which they keep at its initial 64 kB), so the server is still writing the first offers
when the client goes away."""
CLIENT_OPTIONS = [("grpc.http2.bdp_probe", 0)]
"""No bandwidth probing: a client that reads nothing never grows its window."""
RELEASED_WITHIN_S = 5.0


class ErrorReporter(logging.Handler):
    """Keeps every ERROR record it is given, exception and traceback included, as an error
    reporter does until it has sent them."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.kept: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.kept.append(record)


@pytest.fixture
def error_reporter() -> Iterator[ErrorReporter]:
    reporter = ErrorReporter()
    logging.getLogger().addHandler(reporter)
    try:
        yield reporter
    finally:
        logging.getLogger().removeHandler(reporter)


@pytest.fixture
async def crowded_api(
    peer_support: WarmlineConfig, redis_url: str
) -> AsyncIterator[tuple[Api, redis.Redis, str]]:
    """A server whose built live view holds `OFFERS_EACH` large open offers for each of
    `WATCHERS` (a watch needs no Temporal, which is unreachable); with a Redis client and the
    view's key prefix."""
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    raw = redis.Redis.from_url(redis_url, decode_responses=True)
    raw.set(f"{prefix}:built", "2025-01-01T00:00:00+00:00")
    live_view = LiveView.connect(redis_url, prefix=prefix)
    now = datetime.now(UTC)
    for specialist in WATCHERS:
        for number in range(OFFERS_EACH):
            conversation = f"conv-{specialist}-{number}"
            escalation = escalation_workflow_id(TENANT, conversation, 1)
            offer = Offer(
                offer_id=offer_id(escalation, 1),
                specialist_id=specialist,
                tenant_id=TENANT,
                conversation_id=conversation,
                queue=QUEUE,
                priority=50,
                reason="x" * REASON_CHARS,
                crisis=False,
                created_at=now,
                expires_at=now + timedelta(minutes=10),
            )
            live_view.apply(
                EscalationView(
                    escalation_id=escalation,
                    version=1,
                    tenant_id=TENANT,
                    conversation_id=conversation,
                    status=EscalationStatus.WAITING,
                    queue=QUEUE,
                    priority=50,
                    crisis=False,
                    entered_queue_at=now,
                    offers=[offer],
                )
            )
    client = await Client.connect(
        UNREACHABLE_TEMPORAL, data_converter=pydantic_data_converter, lazy=True
    )
    try:
        async for api in run_api(
            client, live_view, peer_support, watch_slice_s=QUICK_WATCH_SLICE_S
        ):
            yield api, raw, prefix
    finally:
        for key in raw.scan_iter(f"{prefix}:*"):
            raw.delete(key)
        live_view.close()
        raw.close()


def listening_for_changes(raw: redis.Redis, prefix: str, specialist: str) -> int:
    """How many of the specialist's watches wait for a change of their offers (subscribed)."""
    [(_, subscribers)] = raw.pubsub_numsub(f"{prefix}:specialist:{specialist}:changed")
    return int(subscribers)


async def test_a_client_gone_mid_write_frees_its_watch(
    crowded_api: tuple[Api, redis.Redis, str], error_reporter: ErrorReporter
) -> None:
    api, raw, prefix = crowded_api
    channels: list[grpc.aio.Channel] = []
    try:
        for specialist, streams in WATCHERS.items():
            for _ in range(streams):
                channel = grpc.aio.insecure_channel(f"127.0.0.1:{api.port}", CLIENT_OPTIONS)
                channels.append(channel)
                watch = pb_grpc.SpecialistServiceStub(channel).WatchOffers(
                    pb.WatchOffersRequest(), metadata=bearer(specialist)
                )
                assert (await next_event(watch)).WhichOneof("event") == "offered"
        await asyncio.sleep(0.5)
        for specialist, streams in WATCHERS.items():
            assert api.desk.watching(specialist) == streams
            assert listening_for_changes(raw, prefix, specialist) == 0, (
                "a stream got through its offers: the server is not writing to it any more"
            )
    finally:
        for channel in channels:
            await channel.close(None)  # abruptly, undelivered offers and all

    for _ in range(int(RELEASED_WITHIN_S * 10)):  # the server notices the closes on its side
        if not any(api.desk.watching(s) for s in WATCHERS):
            break
        await asyncio.sleep(0.1)
    still = {s: api.desk.watching(s) for s in WATCHERS if api.desk.watching(s)}
    assert not still, f"watches of gone clients still held: {still}"
    for specialist in WATCHERS:
        assert listening_for_changes(raw, prefix, specialist) == 0
    logged = [r.getMessage() for r in error_reporter.kept]
    assert not logged, f"a client leaving is no server error: {logged}"
