"""While the dead-letter topic takes nothing, the bridge commits nothing past the bad record.

A dead letter that cannot be written is retried like an outage: committing past the record would
lose it, and handing on what is behind it would commit that later. Once the topic takes records
again, the dead letter is written, the message behind it delivered, and both committed. The topic
here refuses every record for its size (`max.message.bytes` of 64) until it is raised, a real
broker's refusal; nothing of Kafka is replaced.
"""

from __future__ import annotations

import asyncio
import uuid

from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from tests.bridge.conftest import Inbound, until
from tests.events.topics import create_topic
from warmline.events import to_record


def raise_limit(kafka: str, topic: str, max_bytes: int) -> None:
    admin = KafkaAdminClient(bootstrap_servers=kafka)
    try:
        admin.alter_configs(
            [
                ConfigResource(
                    ConfigResourceType.TOPIC, topic, configs={"max.message.bytes": str(max_bytes)}
                )
            ]
        )
    finally:
        admin.close()


async def test_nothing_is_committed_while_the_dead_letter_cannot_be_written(
    inbound: Inbound,
) -> None:
    topic = inbound.settings.messages_topic
    inbound.dead_letter_topic = f"deadletters-refusing-{uuid.uuid4().hex[:8]}"
    await asyncio.to_thread(create_topic, inbound.kafka, inbound.dead_letter_topic, 64)
    conversation = f"conv-{uuid.uuid4().hex[:8]}"
    behind = to_record(inbound.message(conversation, "m1", "Is anyone there?"))

    running = await inbound.run()
    bad = await inbound.send_raw(topic, b"not json {", headers=behind.headers, key=behind.key)
    await inbound.send_raw(topic, behind.value, headers=behind.headers, key=behind.key)
    stats = running.bridge.stats
    await until(lambda: stats.retries >= 3, what="the dead letter retried", task=running)
    assert inbound.committed() == {}, "committed past a record that is in no dead letter"
    assert (stats.dead_lettered, stats.messages) == (0, 0)

    await asyncio.to_thread(raise_limit, inbound.kafka, inbound.dead_letter_topic, 1_048_576)
    view = await inbound.view(conversation, messages=1)
    assert [turn.message_id for turn in view.trajectory] == ["m1"]
    await until(
        lambda: inbound.committed().get((topic, bad.partition), 0) == bad.offset + 2,
        what="both records committed",
        within=60,
        task=running,
    )
    await running.stop()
    inbound.dead_lettered_as(
        {(bad.topic, bad.partition, bad.offset): "data is not a JSON object: Expecting value"}
    )
