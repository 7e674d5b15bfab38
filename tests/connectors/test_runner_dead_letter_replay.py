"""A dead-lettered event and the runner: sent again as a new record (how a dead letter is
replayed, once the CRM is fixed or back) it is handled; the same record redelivered (a batch left
unfinished) is not tried again. Real broker and Redis; the restarted runner is a new connector and
runner on the same topic, consumer group and dedupe scope."""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from dataclasses import replace

from pydantic import BaseModel
from redis import Redis

from connectors.sdk import (
    Connector,
    ConnectorContext,
    Event,
    PermanentError,
    RetryableError,
    handles,
)
from connectors.sdk.runner import ConnectorRunner, RunnerSettings
from connectors.sdk.state import InDoubt, RetryState
from connectors.sdk.testkit import FAST_RETRIES, ConnectorHarness
from tests.connectors.fakes import consuming
from tests.connectors.test_runner_delivery import until
from warmline.events.catalog import HandoffAccepted
from warmline.events.deadletter import DeadLetters
from warmline.events.dedupe import Deduper
from warmline.events.envelope import DomainEvent
from warmline.events.types import EventType


def accepted(offer_id: str) -> dict[str, object]:
    return {
        "specialist": "sam",
        "queue": "care",
        "offer_id": offer_id,
        "crisis": False,
        "waited_ms": 5,
    }


class CrmSettings(BaseModel):
    refused: list[str] = []
    """Offers the CRM refuses (a 422: `PermanentError`)."""
    down: list[str] = []
    """Offers whose CRM call fails every time (a 503 without a Retry-After)."""
    limited: list[str] = []
    """Offers answered "retry in 20 s"."""


class Crm(Connector):
    """Stands for a CRM connector; records every call and every event it delivered."""

    type_name = "crm"
    Settings = CrmSettings
    settings: CrmSettings

    def __init__(self, settings: BaseModel, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        self.refused = set(self.settings.refused)
        self.calls: list[str] = []
        """The offer of each call."""
        self.delivered: list[str] = []
        """The id of each event delivered."""

    @handles(EventType.HANDOFF_ACCEPTED)
    async def on_accepted(self, event: Event[HandoffAccepted]) -> None:
        offer = event.data.offer_id
        self.calls.append(offer)
        if offer in self.refused:
            raise PermanentError(f"the CRM refused {offer}: 422 invalid")
        if offer in self.settings.down:
            raise RetryableError("503 from the CRM")
        if offer in self.settings.limited:
            raise RetryableError("429 from the CRM", retry_after=20)
        self.delivered.append(event.id)


def harness(
    settings: CrmSettings, kafka: str, redis: str, runner: RunnerSettings = FAST_RETRIES
) -> AbstractAsyncContextManager[ConnectorHarness]:
    return consuming(
        lambda: ConnectorHarness(Crm, settings, kafka=kafka, redis=redis, runner=runner)
    )


def crm(runner: ConnectorRunner) -> Crm:
    connector = runner.connector
    assert isinstance(connector, Crm)
    return connector


def restarted(kit: ConnectorHarness, settings: CrmSettings, redis: str) -> ConnectorRunner:
    """`kit`'s connector started again: a new connector and runner, the same topics, group,
    scope and Redis."""
    store = Redis.from_url(redis)
    connector = Crm(
        settings,
        ConnectorContext(name=kit.name, secrets={}, in_doubt=InDoubt(store, scope=kit.name)),
    )
    return ConnectorRunner(
        connector,
        bootstrap=kit.kafka,
        deduper=Deduper(store, scope=kit.name),
        dead_letters=DeadLetters.connect(kit.kafka, consumer=kit.name, topic=kit.dead_letter_topic),
        settings=kit.runner.settings,
        retry_state=RetryState(store, scope=kit.name),
    )


async def test_a_dead_lettered_event_sent_again_as_a_new_record_is_handled(
    kafka_bootstrap: str, redis_url: str
) -> None:
    async with harness(CrmSettings(refused=["o-1"]), kafka_bootstrap, redis_url) as kit:
        stats = kit.runner.stats
        event: DomainEvent = kit.event(EventType.HANDOFF_ACCEPTED, accepted("o-1"), subject="c-1")
        await kit.emit(event)
        await kit.wait_for(lambda: stats.dead_lettered >= 1 and stats.batches >= 1)

        # The CRM is fixed; the operator sends the dead-lettered event again, with its id.
        crm(kit.runner).refused.clear()
        await kit.emit(event)
        await kit.wait_for(lambda: stats.handled + stats.duplicates >= 1)
        await kit.wait_for(lambda: stats.batches >= 2)

        assert stats.duplicates == 0, "the event sent again was dropped as a duplicate"
        assert stats.handled_ids == [event.id]
        assert crm(kit.runner).delivered == [event.id]
        assert crm(kit.runner).calls == ["o-1", "o-1"]
        assert stats.dead_lettered == 1

        # Delivered now: the same event sent once more is a duplicate.
        await kit.emit(event)
        await kit.wait_for(lambda: stats.duplicates >= 1)
        assert crm(kit.runner).delivered == [event.id]
    [letter] = kit.dead_letters(expect=1)
    assert (
        letter.reason == "on_accepted failed after 1 attempt(s): the CRM refused o-1: 422 invalid"
    )


async def test_a_redelivered_batch_does_not_dead_letter_the_same_record_twice(
    kafka_bootstrap: str, redis_url: str
) -> None:
    settings = replace(FAST_RETRIES, max_attempts=3)
    first_settings = CrmSettings(down=["o-down"], limited=["o-later"])
    async with harness(first_settings, kafka_bootstrap, redis_url, settings) as kit:
        first = kit.runner
        # One subject, so one partition and one batch: the CRM's outage outlasts the tries of
        # the first event, which is dead-lettered; the second waits 20 s to retry when the
        # connector is stopped (a deploy), leaving the batch unfinished.
        down = kit.event(EventType.HANDOFF_ACCEPTED, accepted("o-down"), subject="c-1")
        later = kit.event(EventType.HANDOFF_ACCEPTED, accepted("o-later"), subject="c-1")
        await kit.emit(down, later)
        await kit.wait_for(lambda: first.stats.dead_lettered >= 1 and "o-later" in crm(first).calls)
    assert crm(first).calls == ["o-down"] * 3 + ["o-later"]
    assert first.stats.batches == 0, "the batch left unfinished was committed"

    second = restarted(kit, CrmSettings(down=["o-down"]), redis_url)
    task = asyncio.create_task(second.run())
    try:
        await until(lambda: second.stats.handled >= 1 and second.stats.batches >= 1, task)
    finally:
        second.stop()
        await asyncio.wait_for(task, timeout=30)
    assert crm(second).delivered == [later.id]
    assert crm(second).calls == ["o-later"], "the dead-lettered record was tried again"
    assert second.stats.redelivered_dead_letters == 1
    assert second.stats.dead_lettered == 0
    assert len(kit.dead_letters(expect=2, timeout=3.0)) == 1
