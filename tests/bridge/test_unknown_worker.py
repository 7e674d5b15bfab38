"""A shift of a worker the configuration lacks is dead-lettered, as their availability is.

An HR feed sends everyone's schedule: another deployment's workers, staff warmline does not route
to. Taken, each such shift started a wellness workflow that runs for good and published exposure
about a person outside the deployment. Real services throughout: the dev server with warmline's
worker, Apache Kafka, Redis.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.service import RPCError, RPCStatusCode

from tests.bridge.conftest import Inbound, until
from warmline.events import to_record
from warmline.wellness.types import wellness_workflow_id


async def test_a_shift_of_an_unknown_worker_is_dead_lettered_and_starts_nothing(
    inbound: Inbound,
) -> None:
    stranger = f"elsewhere-{uuid.uuid4().hex[:8]}"
    hr = inbound.settings.hr_topic
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    foreign = to_record(inbound.shift(stranger, "s-foreign", starts))
    inbound.started.append(wellness_workflow_id("peer-support", stranger))
    running = await inbound.run()
    sent = await inbound.send_raw(hr, foreign.value, headers=foreign.headers, key=foreign.key)
    await inbound.send(inbound.shift("vol-aoife", f"s-{uuid.uuid4().hex[:6]}", starts))
    stats = running.bridge.stats
    await until(lambda: stats.shifts + stats.dead_lettered >= 2, what="both shifts handled")
    await running.stop()

    assert (stats.shifts, stats.dead_lettered) == (1, 1)
    inbound.dead_lettered_as(
        {
            (sent.topic, sent.partition, sent.offset): (
                f"unknown worker '{stranger}': neither in the configuration's "
                "routing.specialists nor in its annotation.annotators"
            )
        }
    )
    handle = inbound.client.get_workflow_handle(wellness_workflow_id("peer-support", stranger))
    with pytest.raises(RPCError) as missing:
        await handle.describe()
    assert missing.value.status is RPCStatusCode.NOT_FOUND
    assert await asyncio.to_thread(inbound.shifts.shifts, stranger) == []
