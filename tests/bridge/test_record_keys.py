"""The record key is the event's subject: a record under another key is dead-lettered, one
without a key is taken.

Real services throughout: the dev server with warmline's worker, Apache Kafka, Redis.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from tests.bridge.conftest import Inbound, until
from warmline.events import EventType, to_record


async def test_a_record_keyed_otherwise_than_its_subject_is_dead_lettered(
    inbound: Inbound,
) -> None:
    topic, hr = inbound.settings.messages_topic, inbound.settings.hr_topic
    conversation = f"conv-{uuid.uuid4().hex[:8]}"
    other = f"conv-{uuid.uuid4().hex[:8]}"
    mixed_up = to_record(inbound.message(conversation, "m0", "Is this the right place?"))
    keyless = to_record(inbound.message(conversation, "m1", "Hello? I need to talk."))
    tomorrow = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    shift = to_record(inbound.shift("vol-aoife", "s-keyed", tomorrow))
    availability = to_record(
        inbound.event(
            EventType.INBOUND_AVAILABILITY_CHANGED,
            {"specialist_id": "vol-aoife", "available": True},
            subject="vol-aoife",
        )
    )
    bad = [
        (
            topic,
            mixed_up.value,
            mixed_up.headers,
            other.encode(),
            f"the record key '{other}' is not the event's subject '{conversation}' "
            "(the conversation id)",
        ),
        (
            hr,
            shift.value,
            shift.headers,
            b"vol-marcus",
            "the record key 'vol-marcus' is not the event's subject 'vol-aoife' (the worker id)",
        ),
        (
            hr,
            availability.value,
            availability.headers,
            b"",
            "the record key '' is not the event's subject 'vol-aoife' (the worker id)",
        ),
    ]

    running = await inbound.run()
    where: dict[tuple[str, int, int], str] = {}
    for to, value, headers, key, reason in bad:
        sent = await inbound.send_raw(to, value, headers=headers, key=key)
        where[(sent.topic, sent.partition, sent.offset)] = reason
    # A record without a key lands on any partition and is handed on.
    await inbound.send_raw(topic, keyless.value, headers=keyless.headers, key=None)
    view = await inbound.view(conversation, messages=1)
    await until(lambda: running.bridge.stats.dead_lettered == len(bad), what="dead letters")
    await running.stop()
    assert [turn.message_id for turn in view.trajectory] == ["m1"]
    assert running.bridge.stats.shifts == 0
    assert running.bridge.stats.availability == 0

    inbound.dead_lettered_as(where)
