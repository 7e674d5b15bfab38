"""A handler that raises `asyncio.CancelledError` without the runner having cancelled it (it
awaited a task of its own that it cancelled, or a library let a cancellation out): that is the
handler failing, retried and then dead-lettered, never an event skipped and committed past."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel

from connectors.sdk import Connector, ConnectorContext, Event, handles
from connectors.sdk.testkit import ConnectorHarness
from warmline.events.catalog import HandoffAccepted
from warmline.events.types import EventType

ACCEPTED = {"specialist": "sam", "queue": "care", "offer_id": "o1", "crisis": False, "waited_ms": 5}


class NoSettings(BaseModel):
    pass


class Cancelling(Connector):
    """Lets out the cancellation of a helper task of its own, for subjects starting `cancel`."""

    type_name = "cancelling"
    Settings = NoSettings

    def __init__(self, settings: BaseModel, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        self.calls: list[str] = []
        self.done: list[str] = []

    @handles(EventType.HANDOFF_ACCEPTED)
    async def on_accepted(self, event: Event[HandoffAccepted]) -> None:
        self.calls.append(event.subject)
        if event.subject.startswith("cancel"):
            helper = asyncio.create_task(asyncio.sleep(30))
            helper.cancel()
            await helper
        self.done.append(event.subject)


async def test_a_cancellation_a_handler_lets_out_is_a_failure_not_a_skipped_event(
    kafka_bootstrap: str, redis_url: str
) -> None:
    async with ConnectorHarness(Cancelling, {}, kafka=kafka_bootstrap, redis=redis_url) as kit:
        cancelled = kit.event(EventType.HANDOFF_ACCEPTED, ACCEPTED, subject="cancel-1")
        behind = kit.event(EventType.HANDOFF_ACCEPTED, ACCEPTED, subject="cancel-1")
        behind_ok = kit.event(EventType.HANDOFF_ACCEPTED, ACCEPTED, subject="ok-1")
        await kit.emit(cancelled, behind, behind_ok)
        await kit.wait_for(lambda: kit.runner.stats.dead_lettered >= 2, within=60)
        await kit.wait_handled(1, within=60)
        letters = kit.dead_letters(expect=2)
        connector = kit.connector
        assert isinstance(connector, Cancelling)
        assert connector.done == ["ok-1"]
    assert len(letters) == 2
    assert all("HandlerCancelledError" in letter.reason for letter in letters)
    assert connector.calls.count("cancel-1") == 2 * kit.runner.settings.max_attempts
