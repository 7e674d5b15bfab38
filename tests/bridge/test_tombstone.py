"""A tombstone (a record with a null value) is dead-lettered as what it was, and the bridge goes on.

A compacting producer's delete, or a binary-mode CloudEvent whose data was left out, carries its
attributes as headers and no value. Its dead letter keeps the key, the headers and the null value
(not an empty one), with the reason. Real services throughout: the dev server with warmline's
worker, Apache Kafka, Redis.
"""

from __future__ import annotations

import uuid

from tests.bridge.conftest import Inbound, until
from warmline.events import to_record


async def test_a_tombstone_is_dead_lettered_null_value_and_headers_kept(inbound: Inbound) -> None:
    topic = inbound.settings.messages_topic
    conversation = f"conv-{uuid.uuid4().hex[:8]}"
    message = to_record(inbound.message(conversation, "m1", "Can I talk to someone?"))
    running = await inbound.run()
    tombstone = await inbound.send_raw(topic, None, headers=message.headers, key=message.key)
    await inbound.send_raw(topic, message.value, headers=message.headers, key=message.key)
    view = await inbound.view(conversation, messages=1)
    await until(lambda: running.bridge.stats.dead_lettered == 1, what="the dead letter")
    await running.stop()

    assert [turn.message_id for turn in view.trajectory] == ["m1"]
    [letter] = inbound.dead_lettered_as(
        {
            (tombstone.topic, tombstone.partition, tombstone.offset): (
                "the record's value is null (a tombstone, Kafka's delete of its key)"
            )
        }
    )
    assert letter.value is None, "the null value became bytes"
    assert letter.key == message.key
    for name, value in message.headers:
        assert letter.headers[name] == value
