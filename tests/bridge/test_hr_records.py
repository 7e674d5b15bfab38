"""HR records that come late, twice or from the future: availability and shifts apply once, the
latest word wins, and a record that would hide every later one is dead-lettered.

Real services throughout: the dev server with warmline's worker, Apache Kafka, Redis. The outage
of the first test is a `ConnectionError` raised where one shift is kept, which the bridge retries
as it retries Redis going away; nothing of Temporal, Kafka or Redis is replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

from temporalio.service import RPCError

from tests.bridge.conftest import Inbound, until
from warmline.bridge import InboundBridge
from warmline.events import DomainEvent, EventType
from warmline.events.catalog import InboundShift
from warmline.wellness.types import wellness_workflow_id
from workflows.roster import RosterWorkflow
from workflows.wellness import WellnessWorkflow

WORKER = "staff-nia"
STALLED = "s-stalled"


class StalledBridge(InboundBridge):
    """The bridge with Redis gone while one shift is kept: that call is retried until the stop."""

    async def _keep_shift(self, shift: InboundShift) -> None:
        if shift.shift_id == STALLED:
            raise ConnectionError("Error 111 connecting to redis: Connection refused.")
        await super()._keep_shift(shift)


async def test_a_stop_mid_batch_leaves_what_was_handed_on_handled(inbound: Inbound) -> None:
    """HR said the worker was off, then on again; the bridge handed both on, then waited out an
    outage on the next record and was stopped. The batch is redelivered (it was not committed),
    but the two availability changes were applied already: applied again, they would end the
    worker's shift and start another, wiping the exposure counted in it."""
    handle = inbound.client.get_workflow_handle_for(
        WellnessWorkflow.run, wellness_workflow_id("peer-support", WORKER)
    )
    with contextlib.suppress(RPCError):
        await handle.terminate()
    inbound.started.append(handle.id)

    def availability(available: bool) -> DomainEvent:
        data = {"specialist_id": WORKER, "available": available}
        return inbound.event(EventType.INBOUND_AVAILABILITY_CHANGED, data, subject=WORKER)

    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    shift = inbound.shift(WORKER, STALLED, starts)
    # One worker's records: one partition, one batch, handed on in this order.
    await inbound.send(availability(False), availability(True), shift)

    stalled = await inbound.run(inbound.bridge(kind=StalledBridge))
    await until(
        lambda: stalled.bridge.stats.availability == 2 and stalled.bridge.stats.retries >= 1,
        what="both changes handed on and the shift retried",
        task=stalled,
    )
    await stalled.stop()
    assert inbound.committed() == {}, "the batch is left uncommitted"
    first = await inbound.wellness_when(WORKER, lambda s: s.shift is not None)
    assert first.shift is not None
    assert (first.shift_number, first.shift.shift_id) == (1, "available-1")

    # The same group and dedupe: the batch comes again, and only the shift is still to do.
    again = await inbound.run()
    await until(lambda: again.bridge.stats.shifts == 1, what="the shift", task=again)
    await again.stop()
    state = await inbound.wellness_when(
        WORKER, lambda s: [u.shift_id for u in s.upcoming] == [STALLED]
    )
    assert state.shift is not None
    assert (state.shift_number, state.shift.shift_id) == (1, "available-1"), (
        "the redelivered availability changes were applied a second time"
    )
    assert (again.bridge.stats.availability, again.bridge.stats.duplicates) == (0, 2)
    assert sum(inbound.committed().values()) == 3


async def test_an_older_hr_event_after_a_newer_one_changes_nothing(inbound: Inbound) -> None:
    """HR's record of the worker going off at 10:00 comes after the workforce tool's of them
    coming back at 10:10 (two producers, a producer's retry, a record replayed from the dead
    letter): the worker stays on. Likewise a shift's first version after its correction. And a
    record dated a year ahead (a clock gone wrong) would hide every later change: it is
    dead-lettered instead."""
    handle = inbound.client.get_workflow_handle_for(
        WellnessWorkflow.run, wellness_workflow_id("peer-support", WORKER)
    )
    with contextlib.suppress(RPCError):
        await handle.terminate()
    inbound.started.append(handle.id)
    now = datetime.now(UTC).replace(microsecond=0)
    starts = now + timedelta(days=1)

    def availability(available: bool, at: datetime) -> DomainEvent:
        data = {"specialist_id": WORKER, "available": available}
        event = inbound.event(EventType.INBOUND_AVAILABILITY_CHANGED, data, subject=WORKER)
        return event.model_copy(update={"time": at})

    def shift(shift_id: str, hours: int, at: datetime) -> DomainEvent:
        return inbound.shift(WORKER, shift_id, starts, hours, at=at)

    future = availability(False, now + timedelta(days=365))
    [*_, from_the_future] = await inbound.send(
        availability(True, now),
        availability(False, now - timedelta(minutes=10)),
        shift("s-1", 4, now),
        shift("s-1", 8, now - timedelta(minutes=10)),
        future,
    )
    # The last of the worker's records, behind the others on their partition.
    await inbound.send(shift("s-last", 6, now))
    running = await inbound.run()

    state = await inbound.wellness_when(
        WORKER, lambda s: "s-last" in [u.shift_id for u in s.upcoming]
    )
    await running.stop()
    roster = inbound.client.get_workflow_handle_for(RosterWorkflow.run, inbound.roster_id)
    members = {m.member.id: m.state for m in (await roster.query(RosterWorkflow.view)).members}
    assert members[WORKER].available, "the older 'off' undid the newer 'on' in the roster"
    view = await handle.query(WellnessWorkflow.view)
    assert view.available, "the older 'off' undid the newer 'on' in the wellness view"
    assert state.shift is not None, "the older 'off' ended the shift the newer 'on' started"
    upcoming = {u.shift_id: u.ends_at - u.starts_at for u in state.upcoming}
    assert upcoming["s-1"] == timedelta(hours=4), "the first version replaced the correction"
    kept: list[InboundShift] = await asyncio.to_thread(inbound.shifts.shifts, WORKER)
    assert {s.shift_id: s.ends_at - s.starts_at for s in kept}["s-1"] == timedelta(hours=4)

    letters = await asyncio.to_thread(inbound.dead_letters, 1)
    assert [int(letter.headers["dlq.offset"]) for letter in letters] == [from_the_future.offset]
    assert "ahead of the bridge's clock" in letters[0].reason, letters[0].reason
