"""An HR shift whose id is one warmline keeps for its own stand-in shifts is dead-lettered.

The wellness workflow starts a stand-in shift (`available-<n>`) when a worker becomes available
with no shift known, and lets the next HR shift take its place. An HR shift named that way would
be taken for a stand-in and give way to the next one. Real services throughout: the dev server
with warmline's worker, Apache Kafka, Redis.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from tests.bridge.conftest import Inbound, until
from warmline.events import to_record


async def test_a_shift_named_like_a_stand_in_is_dead_lettered(inbound: Inbound) -> None:
    hr = inbound.settings.hr_topic
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    reserved = to_record(inbound.shift("vol-aoife", "available-1", starts))
    running = await inbound.run()
    sent = await inbound.send_raw(hr, reserved.value, headers=reserved.headers, key=reserved.key)
    kept = f"s-{uuid.uuid4().hex[:6]}"
    await inbound.send(inbound.shift("vol-aoife", kept, starts))
    stats = running.bridge.stats
    await until(lambda: stats.shifts + stats.dead_lettered >= 2, what="both shifts handled")
    await running.stop()

    assert (stats.shifts, stats.dead_lettered) == (1, 1)
    inbound.dead_lettered_as(
        {
            (sent.topic, sent.partition, sent.offset): (
                "shift id 'available-1' starts with 'available-', which warmline keeps for the "
                "shifts it starts itself"
            )
        }
    )
    stored = await asyncio.to_thread(inbound.shifts.shifts, "vol-aoife")
    assert [s.shift_id for s in stored] == [kept]
