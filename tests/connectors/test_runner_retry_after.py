"""The runner and an API's Retry-After longer than its backoff: waited out to the second, not
counted toward the dead letter, held outside the batch (its partition paused, the consumer
polling) when it would outlast Kafka's poll interval, and dead-lettered at once beyond
`max_retry_after`. The webhook connector against a receiver that rate-limits; real broker and
Redis."""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import time
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from datetime import timedelta

import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.partitioner.default import murmur2

from connectors.sdk.runner import RunnerSettings
from connectors.sdk.testkit import FAST_RETRIES, ConnectorHarness
from connectors.webhook import EVENT_ID_HEADER, WebhookConnector
from tests.connectors.fakes import WEBHOOK_SECRET, FakeReceiver, Fault, Reply, Seen, consuming
from warmline.events.admin import DEFAULT_PARTITIONS
from warmline.events.types import EventType

CLOSED = {"reason": "resolved", "messages": 3}
RUNNER = replace(FAST_RETRIES, max_backoff=timedelta(milliseconds=200))
"""A backoff far shorter than the Retry-After the receiver answers."""


class RateLimitedReceiver(FakeReceiver):
    """A receiver that, like a real API, refuses every request inside a rate-limit window with
    429 and `Retry-After: <seconds left>`, for all events or only some."""

    def __init__(self) -> None:
        super().__init__()
        self._windows: dict[str | None, float] = {}

    def __enter__(self) -> RateLimitedReceiver:
        super().__enter__()
        return self

    def limit(self, seconds: float, *, event_id: str | None = None) -> None:
        """Refuse requests (of `event_id`, or all) for the next `seconds`."""
        with self.lock:
            self._windows[event_id] = time.monotonic() + seconds

    def answer(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
    ) -> Reply:
        event_id = headers.get(EVENT_ID_HEADER.lower())
        until = max(self._windows.get(None, 0.0), self._windows.get(event_id, 0.0))
        left = until - time.monotonic()
        if left > 0:
            return self.rate_limited(str(math.ceil(left)))
        return super().answer(method, path, query, headers, body)

    def of(self, event_id: str) -> list[Seen]:
        return [r for r in self.seen() if r.headers.get(EVENT_ID_HEADER.lower()) == event_id]


def harness(
    receiver: FakeReceiver, kafka: str, redis: str, runner: RunnerSettings = RUNNER
) -> AbstractAsyncContextManager[ConnectorHarness]:
    return consuming(
        lambda: ConnectorHarness(
            WebhookConnector,
            {"url": receiver.hook_url, "timeout_seconds": 1.0},
            kafka=kafka,
            redis=redis,
            secrets={"signing_secret": WEBHOOK_SECRET},
            runner=runner,
        )
    )


async def settled(kit: ConnectorHarness, count: int, *, within: float = 30.0) -> None:
    """Until `count` events were handled or dead-lettered (so a dead letter fails at once)."""
    stats = kit.runner.stats
    await kit.wait_for(lambda: stats.handled + stats.dead_lettered >= count, within=within)


async def test_a_retry_after_longer_than_the_backoff_is_waited_out(
    kafka_bootstrap: str, redis_url: str
) -> None:
    with RateLimitedReceiver() as receiver:
        async with harness(receiver, kafka_bootstrap, redis_url) as kit:
            receiver.limit(2.0)
            await kit.emit(kit.event(EventType.CONVERSATION_CLOSED, CLOSED, subject="c-limited"))
            await settled(kit, 1)
            assert kit.runner.stats.dead_lettered == 0, kit.dead_letters(expect=1)[0].reason
            limited, delivered = receiver.seen()
            assert (limited.status, delivered.status) == (429, 200)
            assert delivered.at - limited.at >= 1.9, "retried before the API's Retry-After: 2"


async def test_waits_the_api_asked_for_do_not_count_toward_the_dead_letter(
    kafka_bootstrap: str, redis_url: str
) -> None:
    runner = replace(RUNNER, max_attempts=2)
    with RateLimitedReceiver() as receiver:
        async with harness(receiver, kafka_bootstrap, redis_url, runner) as kit:
            receiver.fail_next(1, Fault("error", status=502))
            receiver.fail_next(3, Fault("rate_limit", retry_after="1"))
            await kit.emit(kit.event(EventType.CONVERSATION_CLOSED, CLOSED, subject="c-busy"))
            await settled(kit, 1)
            assert kit.runner.stats.dead_lettered == 0, kit.dead_letters(expect=1)[0].reason
            seen = receiver.seen()
            # One failure of the two allowed, then three waits the API asked for, then done.
            assert [r.status for r in seen] == [502, 429, 429, 429, 200]
            gaps = [b.at - a.at for a, b in itertools.pairwise(seen[1:])]
            assert min(gaps) >= 0.95, f"retried before Retry-After: 1 ({gaps})"


def partition_of(subject: str) -> int:
    """The partition a subject's events land on: keyed by subject, murmur2 as the producer."""
    return int((murmur2(subject.encode()) & 0x7FFFFFFF) % DEFAULT_PARTITIONS)


def committed(kit: ConnectorHarness, subject: str) -> int | None:
    """The group's committed offset of the partition `subject`'s events are on."""
    consumer = KafkaConsumer(
        bootstrap_servers=kit.kafka,
        group_id=kit.runner.settings.group_id,
        enable_auto_commit=False,
    )
    try:
        offset: int | None = consumer.committed(TopicPartition(kit.topic, partition_of(subject)))
        return offset
    finally:
        consumer.close()


async def test_a_retry_after_past_the_poll_interval_holds_the_event_and_keeps_the_consumer(
    kafka_bootstrap: str, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Kafka allows 4 s between polls; the API asks for 6 s. Waited within the batch, the group
    # would drop this consumer; instead the event is held and its partition paused.
    runner = replace(RUNNER, max_poll_interval=timedelta(seconds=4))
    caplog.set_level(logging.INFO, logger="connectors.sdk.runner")
    held_subject = "c-held"
    other_subject = next(
        s for n in range(100) if partition_of(s := f"c-other-{n}") != partition_of(held_subject)
    )
    with RateLimitedReceiver() as receiver:
        async with harness(receiver, kafka_bootstrap, redis_url, runner) as kit:
            first = kit.event(EventType.CONVERSATION_CLOSED, CLOSED, subject=held_subject)
            second = kit.event(EventType.CONVERSATION_CLOSED, CLOSED, subject=held_subject)
            receiver.limit(6.0, event_id=first.id)
            await kit.emit(first, second)
            await kit.wait_for(lambda: "waits 6 s for the API's Retry-After" in caplog.text)

            # Meanwhile another partition flows, and its commit stops at the held event.
            other = kit.event(EventType.CONVERSATION_CLOSED, CLOSED, subject=other_subject)
            await kit.emit(other)
            await kit.wait_for(lambda: other.id in kit.runner.stats.handled_ids)
            await kit.wait_for(lambda: kit.runner.stats.batches >= 1)
            held_at = await asyncio.to_thread(committed, kit, held_subject)
            assert (held_at or 0) == 0, "committed past the held event"
            assert receiver.of(second.id) == [], "the subject's next event went first"

            await settled(kit, 3, within=30)
            assert kit.runner.stats.dead_lettered == 0, kit.dead_letters(expect=1)[0].reason
            limited, delivered = receiver.of(first.id)
            assert (limited.status, delivered.status) == (429, 200)
            assert delivered.at - limited.at >= 5.9, "retried before the API's Retry-After: 6"
            [after] = receiver.of(second.id)
            assert after.at >= delivered.at, "the subject's events out of order"
            assert [d.event_id for d in receiver.delivered()] == [other.id, first.id, second.id]
            await kit.wait_for(lambda: kit.runner.stats.batches >= 2)
            assert await asyncio.to_thread(committed, kit, held_subject) == 2
    assert "offsets not committed" not in caplog.text, "the group dropped the consumer"


async def test_a_retry_after_beyond_max_retry_after_is_dead_lettered_at_once_saying_so(
    kafka_bootstrap: str, redis_url: str
) -> None:
    runner = replace(RUNNER, max_retry_after=timedelta(seconds=5))
    with RateLimitedReceiver() as receiver:
        async with harness(receiver, kafka_bootstrap, redis_url, runner) as kit:
            receiver.limit(60.0)
            await kit.emit(kit.event(EventType.CONVERSATION_CLOSED, CLOSED, subject="c-banned"))
            await settled(kit, 1)
            [letter] = kit.dead_letters(expect=1)
            assert [r.status for r in receiver.seen()] == [429], "retried before Retry-After: 60"
            assert letter.reason.startswith(
                "deliver: the API asked to retry after 60 s, longer than max_retry_after (5 s), "
                "after 1 attempt(s): "
            ), letter.reason
            assert "HTTP 429" in letter.reason
