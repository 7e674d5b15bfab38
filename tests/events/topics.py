"""A Kafka topic that takes only small records, for the tests of what is too large for Kafka."""

from __future__ import annotations

import uuid

from kafka import KafkaAdminClient
from kafka.admin import NewTopic

SMALL_TOPIC_BYTES = 4096
"""The small topic's `max.message.bytes`."""


def small_topic(kafka: str, prefix: str) -> str:
    """A new single-partition topic named `prefix-<random>` refusing records over
    `SMALL_TOPIC_BYTES`."""
    topic = f"{prefix}-{uuid.uuid4().hex[:8]}"
    create_topic(kafka, topic, SMALL_TOPIC_BYTES)
    return topic


def create_topic(kafka: str, topic: str, max_bytes: int) -> None:
    """A single-partition topic `topic` refusing records over `max_bytes`."""
    admin = KafkaAdminClient(bootstrap_servers=kafka)
    try:
        admin.create_topics(
            [
                NewTopic(
                    topic,
                    num_partitions=1,
                    replication_factor=1,
                    topic_configs={"max.message.bytes": str(max_bytes)},
                )
            ]
        )
    finally:
        admin.close()
