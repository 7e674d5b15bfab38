"""`handoff.accepted` says how long the customer waited until the accept, not until the escalation
had finished its bookkeeping after it.

After the accept the escalation withdraws the other offers, publishes that and occupies the roster
slot before it tells the conversation; a slow roster (or Kafka) there must not count as waiting
for a person. The gate of `test_escalation_cleanup` holds the roster's occupy open for a while.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from tests.workflows.conftest import EventLog, RoutedDeployment
from tests.workflows.test_escalation import GRIEF, Scene
from tests.workflows.test_escalation_cleanup import Gate, gates
from warmline.events import EventType

__all__ = ["gates"]  # the fixture, used by name

HELD_S = 3.0
"""How long (real time, which the test server's clock follows while an activity runs) the
roster's occupy is held after the accept."""


def accepted_at(history: WorkflowHistory) -> datetime:
    """When the escalation took the accept: its update's acceptance in the history."""
    return next(
        e.event_time.ToDatetime()
        for e in history.events
        if e.HasField("workflow_execution_update_accepted_event_attributes")
    )


async def test_waited_ms_ends_at_the_accept(
    gates: dict[str, Gate],
    workflow_env: WorkflowEnvironment,
    routed: RoutedDeployment,
    event_log: EventLog,
) -> None:
    gate = gates.setdefault("occupy", Gate())
    scene = await Scene(workflow_env, routed).start()
    await scene.say(GRIEF)
    [offer] = await scene.open_offers()
    await scene.accept(offer)
    await gate.reached()
    await asyncio.sleep(HELD_S)
    gate.open()
    await scene.owned_by(offer.specialist_id)

    history = await scene.escalation().fetch_history()
    started = history.events[0].event_time.ToDatetime()
    waited_until_the_accept = accepted_at(history) - started
    events = await event_log.wait_for(scene.conversation, until=EventType.HANDOFF_ACCEPTED)
    [accepted] = [e for e in events if e.type == EventType.HANDOFF_ACCEPTED]
    waited = timedelta(milliseconds=accepted.data["waited_ms"])
    # The workflow's clock reads the accept's workflow task, a moment after the history's start.
    assert waited <= waited_until_the_accept + timedelta(seconds=1), (
        f"waited {waited}, though the accept came {waited_until_the_accept} after the start"
    )
