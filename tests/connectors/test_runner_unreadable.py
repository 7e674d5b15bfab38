"""A record the Kafka client cannot read is dead-lettered by its coordinates, and the connector
goes on with the events behind it.

kafka-python raises `CorruptRecordError` on every poll that reaches a record whose header name is
not UTF-8 (librdkafka and Go producers can write one; the broker stores it as it is). The runner's
poll loop let it through: the connector stopped, and on every restart again, and nothing behind
the record on its partition was delivered. Real Apache Kafka and Redis; the record is written by
kafka-python's own producer, handed a header name whose UTF-8 encoding is the invalid bytes
another client would send.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from kafka import KafkaAdminClient, TopicPartition

from connectors.sdk.testkit import read_dead_letters
from tests.bridge.test_unreadable_record import send_unreadable
from tests.connectors.test_runner_delivery import ACCEPTED, Line, PacedSettings, until
from warmline.events.deadletter import (
    ATTEMPTS_HEADER,
    CONSUMER_HEADER,
    OFFSET_HEADER,
    PARTITION_HEADER,
    TOPIC_HEADER,
)
from warmline.events.envelope import DomainEvent
from warmline.events.publisher import EventPublisher
from warmline.events.types import EventType


def accepted(subject: str) -> DomainEvent:
    return DomainEvent(
        id=str(uuid.uuid4()),
        type=EventType.HANDOFF_ACCEPTED,
        source="/tests/runner",
        subject=subject,
        time=datetime.now(UTC),
        data=ACCEPTED,
    )


def publish(line: Line, event: DomainEvent) -> None:
    publisher = EventPublisher.connect(line.kafka, topic=line.topic)
    try:
        publisher.publish([event])
    finally:
        publisher.close()


def committed(kafka: str, group: str, partition: TopicPartition) -> int:
    admin = KafkaAdminClient(bootstrap_servers=kafka)
    try:
        offsets = admin.list_group_offsets(group).get(group, {})
    finally:
        admin.close()
    found = offsets.get(partition)
    return -1 if found is None else int(found.offset)


async def test_an_unreadable_record_is_dead_lettered_and_the_events_behind_it_delivered(
    kafka_bootstrap: str, redis_url: str
) -> None:
    line = Line(kafka_bootstrap, redis_url)
    # One conversation: one key, one partition; the unreadable record between its two events.
    before, behind = accepted("conv-1"), accepted("conv-1")
    await asyncio.to_thread(publish, line, before)
    partition, offset = await asyncio.to_thread(
        send_unreadable, kafka_bootstrap, line.topic, b"conv-1", b'{"specialist": "sam"}'
    )
    await asyncio.to_thread(publish, line, behind)

    runner = line.runner(PacedSettings())
    group = runner.settings.group_id
    assert group is not None
    where = TopicPartition(line.topic, partition)
    task = asyncio.create_task(runner.run())
    try:
        await until(lambda: runner.stats.handled >= 2, task)
        await until(lambda: committed(kafka_bootstrap, group, where) >= offset + 2, task, within=60)
    finally:
        runner.stop()
        await asyncio.wait_for(task, timeout=30)
    assert runner.stats.handled_ids == [before.id, behind.id]
    assert runner.stats.dead_lettered == 1

    [letter] = await asyncio.to_thread(
        read_dead_letters, kafka_bootstrap, f"{line.topic}-dlq", expect=1
    )
    assert letter.reason.startswith("the record cannot be read: [Error 2] CorruptRecordError")
    assert "read it at these coordinates with another client" in letter.reason
    assert letter.headers[TOPIC_HEADER] == line.topic.encode()
    assert letter.headers[PARTITION_HEADER] == str(partition).encode()
    assert letter.headers[OFFSET_HEADER] == str(offset).encode()
    assert letter.headers[CONSUMER_HEADER] == line.scope.encode()
    assert letter.headers[ATTEMPTS_HEADER] == b"0"
