"""The publisher puts events on real Kafka (both backends), keyed by subject, in order."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from kafka import KafkaConsumer
from kafka.consumer.fetcher import ConsumerRecord

from tests.conftest import QUICK_GROUP
from warmline.events import DomainEvent, EventPublisher, EventType, event_id, from_record


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


def test_wellness_events_go_to_their_own_topic(kafka_bootstrap: str) -> None:
    suffix = uuid.uuid4().hex[:8]
    events, wellness = f"events-{suffix}", f"wellness-{suffix}"
    conversation = conversation_events("conv-c", 1)[0]
    exposure = DomainEvent(
        id=event_id("wellness/sam", "exposure/1"),
        type=EventType.WELLNESS_EXPOSURE_UPDATED,
        source="/warmline/tenants/acme",
        subject="sam",
        time=datetime(2026, 11, 22, 9, 0, tzinfo=UTC),
        data={"exposure_minutes": 42.0, "budget_minutes": 240.0},
    )
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
