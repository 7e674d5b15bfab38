"""A record that is not a warmline event is dead-lettered once, however often its partition is
rewound past it.

The runner rewinds a partition to an event it holds for an API's Retry-After (or one that did not
start within the batch's time) and polls the records behind it again. The events among them that
were done are dropped by the dedupe, and an event dead-lettered by its handler by its record's
coordinates; a record that did not decode at all had neither, and was dead-lettered again at
every rewind: twice for one hold, once more for each further Retry-After.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import timedelta

import pytest
from kafka import KafkaProducer

from tests.connectors.test_runner_retry_after import (
    CLOSED,
    RUNNER,
    RateLimitedReceiver,
    harness,
)
from warmline.events.envelope import to_record
from warmline.events.types import EventType

NOT_AN_EVENT = b'{"hello": "world"}'


def produce_together(
    kafka: str, topic: str, records: list[tuple[bytes, bytes, list[tuple[str, bytes]]]]
) -> None:
    """Send `records` (key, value, headers) in one produce request, so one poll gets them all."""
    producer = KafkaProducer(bootstrap_servers=kafka, linger_ms=200)
    try:
        for key, value, headers in records:
            producer.send(topic, key=key, value=value, headers=headers)
        producer.flush(timeout=30)
    finally:
        producer.close(timeout=5)


async def test_a_bad_record_behind_a_held_event_is_dead_lettered_once(
    kafka_bootstrap: str, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Kafka allows 4 s between polls, so an event may start within 2 s of its poll; the API asks
    # for 4 s, so the event is held and its partition rewound to it.
    runner = replace(RUNNER, max_poll_interval=timedelta(seconds=4))
    caplog.set_level(logging.INFO, logger="connectors.sdk.runner")
    subject = "c-held-before-garbage"
    with RateLimitedReceiver() as receiver:
        async with harness(receiver, kafka_bootstrap, redis_url, runner) as kit:
            held = kit.event(EventType.CONVERSATION_CLOSED, CLOSED, subject=subject)
            after = kit.event(EventType.CONVERSATION_CLOSED, CLOSED, subject=subject)
            receiver.limit(4.0, event_id=held.id)
            first = to_record(held)
            last = to_record(after)
            await asyncio.to_thread(
                produce_together,
                kit.kafka,
                kit.topic,
                [
                    (first.key, first.value, list(first.headers)),
                    (subject.encode(), NOT_AN_EVENT, [("content-type", b"application/json")]),
                    (last.key, last.value, list(last.headers)),
                ],
            )
            await kit.wait_for(lambda: "for the API's Retry-After" in caplog.text)
            await kit.wait_for(lambda: after.id in kit.runner.stats.handled_ids, within=40)
            assert [d.event_id for d in receiver.delivered()] == [held.id, after.id]
            await kit.wait_for(lambda: kit.runner.stats.batches >= 1)
            letters = kit.dead_letters(expect=2, timeout=5)
    assert [letter.value for letter in letters] == [NOT_AN_EVENT], [d.reason for d in letters]
    assert letters[0].reason.startswith("not a CloudEvent"), letters[0].reason
