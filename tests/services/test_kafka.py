"""Both Kafka backends are real: Apache Kafka in KRaft mode and the demo's embedded broker.

The same checks run against each ("one test kit, two backends"): keyed produce with acks=all, and
consumption through a consumer group that commits its offsets.
"""

from __future__ import annotations

import uuid
from collections import defaultdict

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic

from tests.conftest import QUICK_GROUP

MESSAGES_PER_KEY = 20
KEYS = ["conversation-a", "conversation-b", "conversation-c", "conversation-d"]


def test_produce_acks_all_and_consume_with_a_group(any_kafka: str) -> None:
    bootstrap = any_kafka
    topic = f"smoke-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    finally:
        admin.close()

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    try:
        futures = [
            producer.send(topic, key=key.encode(), value=f"{key}:{n}".encode())
            for n in range(MESSAGES_PER_KEY)
            for key in KEYS
        ]
        producer.flush(timeout=30)
        metadata = [future.get(timeout=30) for future in futures]
    finally:
        producer.close()
    assert {m.topic for m in metadata} == {topic}

    group = f"group-{uuid.uuid4().hex[:8]}"
    received = _consume(bootstrap, topic, group, expected=len(KEYS) * MESSAGES_PER_KEY)
    assert sorted(received) == sorted(KEYS)
    for key, values in received.items():
        assert values == [f"{key}:{n}" for n in range(MESSAGES_PER_KEY)], "per-key order broken"

    # The group committed its offsets: a new member of the same group finds nothing left to read.
    assert _consume(bootstrap, topic, group, expected=0, timeout_ms=3000) == {}


def _consume(
    bootstrap: str, topic: str, group: str, *, expected: int, timeout_ms: int = 30000
) -> dict[str, list[str]]:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **QUICK_GROUP,
    )
    received: dict[str, list[str]] = defaultdict(list)
    count = 0
    try:
        while count < expected or expected == 0:
            batch = consumer.poll(timeout_ms=timeout_ms)
            if not batch:
                break
            for records in batch.values():
                for record in records:
                    received[record.key.decode()].append(record.value.decode())
                    count += 1
            consumer.commit()
    finally:
        consumer.close()
    return dict(received)
