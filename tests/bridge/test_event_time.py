"""An HR record without a time is dead-lettered, not given the moment it was read.

The latest HR word wins by the event's `time`; the CloudEvents SDK fills a missing `time` with the
moment of reading, so a record sent without one would win over every change made before the bridge
read it, however late that was. Real services throughout: the dev server with warmline's worker,
Apache Kafka, Redis.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

from temporalio.service import RPCError

from tests.bridge.conftest import Inbound, until
from warmline.events import DomainEvent, EventType, to_record
from warmline.wellness.types import wellness_workflow_id
from workflows.roster import RosterWorkflow
from workflows.wellness import WellnessWorkflow

WORKER = "staff-luis"


async def test_an_hr_record_without_a_time_is_dead_lettered_and_the_timed_one_behind_it_applies(
    inbound: Inbound,
) -> None:
    """HR says the worker is off but sends no `ce_time`; the workforce tool's record behind it
    says they came back a minute ago. Read as of the moment the bridge read it, the timeless 'off'
    would win and the worker would stay off."""
    handle = inbound.client.get_workflow_handle_for(
        WellnessWorkflow.run, wellness_workflow_id("peer-support", WORKER)
    )
    with contextlib.suppress(RPCError):
        await handle.terminate()
    inbound.started.append(handle.id)

    def availability(available: bool, at: datetime) -> DomainEvent:
        data = {"specialist_id": WORKER, "available": available}
        event = inbound.event(EventType.INBOUND_AVAILABILITY_CHANGED, data, subject=WORKER)
        return event.model_copy(update={"time": at})

    hr = inbound.settings.hr_topic
    now = datetime.now(UTC)
    off = to_record(availability(False, now - timedelta(minutes=5)))
    timeless = [(name, value) for name, value in off.headers if name != "ce_time"]
    back = availability(True, now - timedelta(minutes=1))
    running = await inbound.run()
    sent = await inbound.send_raw(hr, off.value, headers=timeless, key=off.key)
    await inbound.send(back)
    stats = running.bridge.stats
    await until(
        lambda: stats.availability + stats.superseded + stats.dead_lettered >= 2,
        what="both records handled",
    )
    await running.stop()

    roster = inbound.client.get_workflow_handle_for(RosterWorkflow.run, inbound.roster_id)
    members = {m.member.id: m.state for m in (await roster.query(RosterWorkflow.view)).members}
    assert members[WORKER].available, "the timeless 'off' hid the later 'on'"
    assert (stats.availability, stats.superseded, stats.dead_lettered) == (1, 0, 1)

    inbound.dead_lettered_as(
        {(sent.topic, sent.partition, sent.offset): "the event has no time (header ce_time)"}
    )
