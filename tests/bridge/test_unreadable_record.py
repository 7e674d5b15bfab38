"""A record the Kafka client cannot read is dead-lettered by its coordinates, and the partition
goes on.

kafka-python raises `CorruptRecordError` on every poll that reaches a record with a header name
that is not UTF-8 (librdkafka and Go producers can write one; the broker stores it as it is).
Before, that stopped the bridge, and on every restart again, with the crisis message behind it
never delivered. Real services throughout: the dev server with warmline's worker, Apache Kafka,
Redis. The record is written by kafka-python's own producer, handed a header name whose UTF-8
encoding is the invalid bytes another client would send.
"""

from __future__ import annotations

import asyncio
import uuid

from kafka import KafkaProducer

from tests.bridge.conftest import Inbound, until
from warmline.events import to_record


class RawHeaderName(str):
    """A header name that encodes to the bytes a non-Python producer sent: not UTF-8."""

    __slots__ = ()

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return b"\xfftrace"


def send_unreadable(kafka: str, topic: str, key: bytes, value: bytes) -> tuple[int, int]:
    producer = KafkaProducer(bootstrap_servers=kafka)
    try:
        sent = producer.send(
            topic, key=key, value=value, headers=[(RawHeaderName("trace"), b"1")]
        ).get(timeout=30)
    finally:
        producer.close(timeout=5)
    return sent.partition, sent.offset


async def test_an_unreadable_record_is_dead_lettered_and_the_message_behind_it_delivered(
    inbound: Inbound,
) -> None:
    topic = inbound.settings.messages_topic
    conversation = f"conv-{uuid.uuid4().hex[:8]}"
    behind = to_record(inbound.message(conversation, "m1", "I don't want to be here any more."))
    running = await inbound.run()
    # Keyed by the same conversation: the same partition, just ahead of the message.
    partition, offset = await asyncio.to_thread(
        send_unreadable, inbound.kafka, topic, behind.key, b'{"text": "unreadable"}'
    )
    await inbound.send_raw(topic, behind.value, headers=behind.headers, key=behind.key)

    await until(
        lambda: running.bridge.stats.dead_lettered == 1, what="the dead letter", task=running
    )
    view = await inbound.view(conversation, messages=1)
    assert [turn.message_id for turn in view.trajectory] == ["m1"]
    await until(
        lambda: inbound.committed().get((topic, partition), 0) >= offset + 2,
        what="both records committed",
        task=running,
    )
    await running.stop()

    [letter] = inbound.dead_lettered_as(
        {(topic, partition, offset): "the record cannot be read: [Error 2] CorruptRecordError"}
    )
    assert "read it at these coordinates with another client" in letter.reason
