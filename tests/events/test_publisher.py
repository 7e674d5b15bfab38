"""The publisher puts events on real Kafka (both backends), keyed by subject, in order; an event
Kafka refuses for its size is dead-lettered and the rest of its batch still published."""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kafka import KafkaConsumer
from kafka.consumer.fetcher import ConsumerRecord

from tests.conftest import QUICK_GROUP
from tests.events.topics import SMALL_TOPIC_BYTES, small_topic
from warmline.events import (
    DomainEvent,
    EventPublisher,
    EventType,
    event_id,
    from_record,
    to_record,
)
from warmline.events.deadletter import REASON_HEADER
from warmline.events.publisher import PublishError
from warmline.events.types import DEADLETTER_TOPIC
from warmline.services.base import ServiceName
from warmline.services.local import start_service
from workflows.conversation import ACTIVITY_TIMEOUT


def conversation_events(conversation: str, count: int) -> list[DomainEvent]:
    start = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
    return [
        DomainEvent(
            id=event_id(f"acme/{conversation}", f"msg-{n}/triaged"),
            type=EventType.MESSAGE_TRIAGED,
            source="/warmline/tenants/acme",
            subject=conversation,
            time=start + timedelta(seconds=n),
            data={"message": n},
        )
        for n in range(count)
    ]


def exposure_event(step: str) -> DomainEvent:
    """A wellness event (it goes to the wellness topic)."""
    return DomainEvent(
        id=event_id("wellness/sam", step),
        type=EventType.WELLNESS_EXPOSURE_UPDATED,
        source="/warmline/tenants/acme",
        subject="sam",
        time=datetime(2026, 11, 22, 9, 0, tzinfo=UTC),
        data={"exposure_minutes": 42.0, "budget_minutes": 240.0},
    )


def test_published_events_arrive_in_order_per_subject(any_kafka: str) -> None:
    bootstrap = any_kafka
    topic = f"events-{uuid.uuid4().hex[:8]}"
    sent = conversation_events("conv-a", 10) + conversation_events("conv-b", 10)
    publisher = EventPublisher.connect(bootstrap, topic=topic)
    try:
        publisher.publish(sent)
    finally:
        publisher.close()

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"reader-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        **QUICK_GROUP,
    )
    received: dict[str, list[DomainEvent]] = defaultdict(list)
    partitions: dict[str, set[int]] = defaultdict(set)
    try:
        while sum(map(len, received.values())) < len(sent):
            batch = consumer.poll(timeout_ms=20000)
            assert batch, "events did not arrive"
            for records in batch.values():
                for record in records:
                    event = from_record(record.key, list(record.headers), record.value)
                    received[event.subject].append(event)
                    partitions[event.subject].add(record.partition)
    finally:
        consumer.close()

    assert received["conv-a"] == [e for e in sent if e.subject == "conv-a"]
    assert received["conv-b"] == [e for e in sent if e.subject == "conv-b"]
    assert all(len(p) == 1 for p in partitions.values()), "a subject's events span partitions"


def test_a_publish_while_the_broker_is_down_gives_up_within_its_activity_timeout(
    tmp_path: Path,
) -> None:
    """The first event for a topic the producer has not seen waits for its partitions; with the
    broker gone that wait (kafka-python's 60 s by default) outlasted the publishing activity's
    timeout and kept a worker thread blocked behind Temporal's next attempt."""
    broker = start_service(ServiceName.KAFKA, tmp_path, embedded=True, persist=False)
    suffix = uuid.uuid4().hex[:8]
    publisher = EventPublisher.connect(
        broker.address, topic=f"events-{suffix}", wellness_topic=f"wellness-{suffix}"
    )
    try:
        publisher.publish(conversation_events("conv-down", 1))
        broker.process.stop()
        exposure = exposure_event("exposure/down")
        started = time.monotonic()
        with pytest.raises(PublishError, match="did not take events"):
            publisher.publish([exposure])
        waited = time.monotonic() - started
    finally:
        broker.process.stop()
        publisher.close()
    assert waited < ACTIVITY_TIMEOUT.total_seconds() * 0.75, f"gave up after {waited:.1f} s"


def test_wellness_events_go_to_their_own_topic(kafka_bootstrap: str) -> None:
    suffix = uuid.uuid4().hex[:8]
    events, wellness = f"events-{suffix}", f"wellness-{suffix}"
    conversation = conversation_events("conv-c", 1)[0]
    exposure = exposure_event("exposure/1")
    publisher = EventPublisher.connect(kafka_bootstrap, topic=events, wellness_topic=wellness)
    try:
        publisher.publish([conversation, exposure])
    finally:
        publisher.close()
    for topic, expected in ((events, conversation), (wellness, exposure)):
        consumer = KafkaConsumer(
            topic, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest"
        )
        try:
            # Everything was published before: once the first record is in, one more short poll
            # shows anything else (a whole idle timeout per topic only costs the suite seconds).
            records: list[ConsumerRecord] = []
            for timeout_ms in [1000] * 15:
                records += [r for batch in consumer.poll(timeout_ms).values() for r in batch]
                if records:
                    break
            records += [r for batch in consumer.poll(500).values() for r in batch]
            found = [from_record(r.key, list(r.headers), r.value) for r in records]
        finally:
            consumer.close()
        assert [e.id for e in found] == [expected.id]
        assert found[0].subject == expected.subject


def padded(conversation: str, step: str, pad: int) -> DomainEvent:
    """An event with `pad` bytes of filler in its data, under an id of its own."""
    return DomainEvent(
        id=event_id(f"acme/{conversation}", step),
        type=EventType.MESSAGE_TRIAGED,
        source="/warmline/tenants/acme",
        subject=conversation,
        time=datetime(2026, 11, 22, 9, 0, tzinfo=UTC),
        data={"message": step, "filler": "x" * pad},
    )


def record_size(event: DomainEvent) -> int:
    """Bytes of the event's key, value and headers on the wire."""
    record = to_record(event)
    headers = sum(len(k.encode()) + len(v) for k, v in record.headers)
    return len(record.key) + len(record.value) + headers


def read_all(kafka: str, topic: str, expect: int) -> list[DomainEvent]:
    """Every event on `topic`: read until `expect` are in, then briefly for any extra copy."""
    consumer = KafkaConsumer(topic, bootstrap_servers=kafka, auto_offset_reset="earliest")
    found: list[DomainEvent] = []
    try:
        deadline = time.monotonic() + 30
        while len(found) < expect and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                found += [from_record(r.key, list(r.headers), r.value) for r in records]
        for records in consumer.poll(timeout_ms=500).values():
            found += [from_record(r.key, list(r.headers), r.value) for r in records]
    finally:
        consumer.close()
    return found


def dead_letters_of(kafka: str, event_ids: set[str]) -> dict[str, list[ConsumerRecord]]:
    """The dead letters of these events on the deployment's dead-letter topic, by event id."""
    consumer = KafkaConsumer(
        DEADLETTER_TOPIC,
        bootstrap_servers=kafka,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=16 * 1_048_576,
        fetch_max_bytes=64 * 1_048_576,
    )
    found: dict[str, list[ConsumerRecord]] = defaultdict(list)
    try:
        deadline = time.monotonic() + 30
        while set(found) < event_ids and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    ce_id = dict(record.headers).get("ce_id", b"").decode()
                    if ce_id in event_ids:
                        found[ce_id].append(record)
    finally:
        consumer.close()
    return found


def test_an_event_too_large_for_the_topic_is_dead_lettered_and_the_rest_published(
    kafka_bootstrap: str,
) -> None:
    topic = small_topic(kafka_bootstrap, "events-small")
    conversation = f"conv-{uuid.uuid4().hex[:8]}"
    before, huge, after = (
        padded(conversation, "1", 10),
        padded(conversation, "2", 2 * SMALL_TOPIC_BYTES),
        padded(conversation, "3", 10),
    )
    later = padded(conversation, "4", 10)
    publisher = EventPublisher.connect(kafka_bootstrap, topic=topic)
    try:
        publisher.publish([before, huge, after])  # the oversize event does not fail the batch
        publisher.publish([later])  # nor the producer: kafka-python's would fail from now on
    finally:
        publisher.close()

    published = read_all(kafka_bootstrap, topic, expect=3)
    assert [e.id for e in published] == [before.id, after.id, later.id], "lost or doubled"
    letters = dead_letters_of(kafka_bootstrap, {huge.id})
    assert len(letters[huge.id]) == 1
    letter = letters[huge.id][0]
    headers = dict(letter.headers)
    reason = headers[REASON_HEADER].decode()
    assert huge.type.value in reason
    assert huge.id in reason
    assert "max.message.bytes" in reason
    assert f"is {record_size(huge):,} bytes" in reason
    assert headers["dlq.topic"] == topic.encode()
    assert from_record(letter.key, list(letter.headers), letter.value) == huge


def test_an_event_over_the_producer_limit_is_dead_lettered_and_the_rest_published_once(
    kafka_bootstrap: str,
) -> None:
    topic = f"events-{uuid.uuid4().hex[:8]}"
    conversation = f"conv-{uuid.uuid4().hex[:8]}"
    before, huge, after = (
        padded(conversation, "1", 10),
        padded(conversation, "2", 1_100_000),  # over the producer's max_request_size
        padded(conversation, "3", 10),
    )
    publisher = EventPublisher.connect(kafka_bootstrap, topic=topic)
    try:
        publisher.publish([before, huge, after])
    finally:
        publisher.close()

    published = read_all(kafka_bootstrap, topic, expect=2)
    assert [e.id for e in published] == [before.id, after.id], "lost or doubled"
    letters = dead_letters_of(kafka_bootstrap, {huge.id})
    assert len(letters[huge.id]) == 1
    reason = dict(letters[huge.id][0].headers)[REASON_HEADER].decode()
    assert huge.type.value in reason
    assert huge.id in reason
    assert f"is {record_size(huge):,} bytes" in reason
    assert "max_request_size of 1,048,576 bytes" in reason


def test_a_producer_that_failed_a_publish_is_made_again_for_the_next(kafka_bootstrap: str) -> None:
    """kafka-python's idempotent producer can fail every send for good once it has failed one (its
    broker lost its producer state; here: closed under it). The activity that publishes retries,
    and before, every retry failed the same way until the worker was restarted."""
    topic = f"events-{uuid.uuid4().hex[:8]}"
    publisher = EventPublisher.connect(kafka_bootstrap, topic=topic)
    sent = conversation_events("conv-fresh", 2)
    try:
        publisher._current_producer().close(timeout=1)  # a producer that can send no more
        with pytest.raises(PublishError):
            publisher.publish(sent[:1])
        publisher.publish(sent)
    finally:
        publisher.close()
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=f"reader-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        **QUICK_GROUP,
    )
    received: list[DomainEvent] = []
    try:
        while len(received) < len(sent):
            batch = consumer.poll(timeout_ms=20000)
            assert batch, "events did not arrive"
            received += [
                from_record(r.key, list(r.headers), r.value) for rs in batch.values() for r in rs
            ]
    finally:
        consumer.close()
    assert received == sent
