"""A BambooHR shift moved and then moved back goes out again, under an id of its own.

The shift event's id used to be derived from the row and its content alone: the shift moved back
to where it was got the id of its first version, which the connector's own memory of what it
published (and, for seven days, the bridge's dedupe) dropped, so warmline kept the moved version.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from connectors.bamboohr import BambooHRConnector, BambooHRSettings
from connectors.sdk.connector import ConnectorContext
from tests.connectors.fakes import BAMBOOHR_KEY, FakeBambooHR
from tests.connectors.test_bamboohr import read_shift_events, settings
from warmline.events.envelope import DomainEvent

EARLY = (timedelta(days=1, hours=9), timedelta(days=1, hours=17))
LATE = (timedelta(days=1, hours=10), timedelta(days=1, hours=18))


@asynccontextmanager
async def process(fake: FakeBambooHR, kafka: str, topic: str) -> AsyncIterator[BambooHRConnector]:
    """One connector process publishing pulled shifts to `topic`."""
    context = ConnectorContext(name="hr", secrets={"api_key": BAMBOOHR_KEY}, min_group_size=3)
    chosen = settings(fake, kafka_bootstrap=kafka, inbound_topic=topic)
    connector = BambooHRConnector(BambooHRSettings.model_validate(chosen), context)
    await connector.start()
    try:
        yield connector
    finally:
        await connector.stop()


def starts(event: DomainEvent) -> str:
    return str(event.data["starts_at"])


def at(now: datetime, hours: timedelta) -> str:
    return (now + hours).isoformat().replace("+00:00", "Z")


async def test_a_shift_moved_back_within_one_process_is_published_under_a_new_id(
    kafka_bootstrap: str,
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    topic = f"test-inbound-hr-{uuid.uuid4().hex[:10]}"
    with FakeBambooHR() as fake:
        row = fake.add_shift("101", now + EARLY[0], now + EARLY[1])
        async with process(fake, kafka_bootstrap, topic) as hr:
            [first] = await hr.pull_shifts(now=now)
            assert await hr.pull_shifts(now=now + timedelta(minutes=15)) == []
            fake.move_shift(row, now + LATE[0], now + LATE[1])
            [moved] = await hr.pull_shifts(now=now + timedelta(minutes=30))
            fake.move_shift(row, now + EARLY[0], now + EARLY[1])
            back = await hr.pull_shifts(now=now + timedelta(minutes=45))
            assert await hr.pull_shifts(now=now + timedelta(hours=1)) == []
        assert [starts(e) for e in back] == [at(now, EARLY[0])], "the move back is published"
        assert back[0].id not in {first.id, moved.id}, "a consumer would drop it as a duplicate"
        assert back[0].time > moved.time, "the latest HR event by time wins at the bridge"
        published = await read_shift_events(kafka_bootstrap, topic, at_least=3)
        assert [starts(e) for e in published] == [at(now, h) for h in (EARLY[0], LATE[0], EARLY[0])]
        assert len({e.id for e in published}) == 3
