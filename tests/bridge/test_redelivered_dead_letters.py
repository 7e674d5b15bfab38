"""A batch redelivered after a stop dead-letters none of its records a second time.

The bridge is stopped while a record waits out an outage, so the batch is not committed and comes
again. The records of it already dead-lettered, one that failed its checks and one whose handing
on raised a bug, used to be dead-lettered again: the dead-letter topic held each bad record once
per delivery of its batch. Real services throughout, as in `test_hr_records.py`: the outage is a
`ConnectionError` where one shift is kept, and the bug a `ValueError` where another is.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

from temporalio.service import RPCError

from tests.bridge.conftest import Inbound, until
from warmline.bridge import InboundBridge
from warmline.events import EventType
from warmline.events.catalog import InboundShift
from warmline.wellness.types import wellness_workflow_id
from workflows.wellness import WellnessWorkflow

WORKER = "staff-nia"
STALLED = "s-stalled-redelivered"
BUGGY = "s-buggy"


class BuggyBridge(InboundBridge):
    """The bridge with a bug that one shift raises when it is kept."""

    async def _keep_shift(self, shift: InboundShift) -> None:
        if shift.shift_id == BUGGY:
            raise ValueError("a bug keeping this shift")
        await super()._keep_shift(shift)


class StalledBuggyBridge(BuggyBridge):
    """And Redis gone while another is kept: that call is retried until the stop."""

    async def _keep_shift(self, shift: InboundShift) -> None:
        if shift.shift_id == STALLED:
            raise ConnectionError("Error 111 connecting to redis: Connection refused.")
        await super()._keep_shift(shift)


async def test_a_redelivered_batch_dead_letters_its_bad_records_once(inbound: Inbound) -> None:
    handle = inbound.client.get_workflow_handle_for(
        WellnessWorkflow.run, wellness_workflow_id("peer-support", WORKER)
    )
    with contextlib.suppress(RPCError):
        await handle.terminate()
    inbound.started.append(handle.id)

    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    backwards = inbound.event(
        EventType.INBOUND_SHIFT_SCHEDULED,
        {
            "worker_id": WORKER,
            "shift_id": "s-backwards",
            "starts_at": starts.isoformat(),
            "ends_at": (starts - timedelta(hours=8)).isoformat(),
        },
        subject=WORKER,
    )
    # One worker's records: one partition, one batch, in this order.
    bad, buggy, stalled_at = await inbound.send(
        backwards,
        inbound.shift(WORKER, BUGGY, starts + timedelta(days=1)),
        inbound.shift(WORKER, STALLED, starts + timedelta(days=2)),
    )

    stalled = await inbound.run(inbound.bridge(kind=StalledBuggyBridge))
    await until(
        lambda: stalled.bridge.stats.dead_lettered == 2 and stalled.bridge.stats.retries >= 1,
        what="two records dead-lettered and the third retried",
        task=stalled,
    )
    await stalled.stop()
    assert inbound.committed() == {}, "the batch is left uncommitted"

    # The same group and dedupe: the batch comes again, and only the stalled shift is to do.
    again = await inbound.run(inbound.bridge(kind=BuggyBridge))
    await until(lambda: again.bridge.stats.shifts == 1, what="the stalled shift", task=again)
    await until(lambda: sum(inbound.committed().values()) == 3, what="the commit", task=again)
    await again.stop()
    assert again.bridge.stats.dead_lettered == 0, "dead-lettered again"
    inbound.dead_lettered_as(
        {
            (bad.topic, bad.partition, bad.offset): "before it starts",
            (buggy.topic, buggy.partition, buggy.offset): "internal: ValueError: a bug",
        }
    )
    assert stalled_at.offset == buggy.offset + 1
