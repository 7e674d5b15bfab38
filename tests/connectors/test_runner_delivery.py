"""The runner when a batch cannot finish as polled: a stop mid-batch, a batch slower than Kafka's
`max_poll_interval`. Real broker and Redis; the same consumer group and dedupe scope across the
runners of one test, as across the restarts of one connector."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import BaseModel

from connectors.sdk import Connector, ConnectorContext, Event, RetryableError, handles
from connectors.sdk.runner import ConnectorRunner
from connectors.sdk.testkit import FAST_RETRIES
from warmline.events.admin import ensure_topics
from warmline.events.catalog import HandoffAccepted
from warmline.events.deadletter import DeadLetters
from warmline.events.dedupe import Deduper
from warmline.events.envelope import DomainEvent
from warmline.events.publisher import EventPublisher
from warmline.events.types import EventType

ACCEPTED = {"specialist": "sam", "queue": "care", "offer_id": "o1", "crisis": False, "waited_ms": 5}


class PacedSettings(BaseModel):
    pause: float = 0.0
    """Seconds each event takes to handle."""
    first_pause: float | None = None
    """Seconds the first event takes instead, when set."""
    failing: list[str] = []
    """Subjects whose handler always answers "retry in 20 s"."""


class Paced(Connector):
    """Takes its time over each event, and records what it started and what it finished."""

    type_name = "paced"
    Settings = PacedSettings
    settings: PacedSettings

    def __init__(self, settings: BaseModel, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        self.started: list[str] = []
        self.done: list[str] = []

    @handles(EventType.HANDOFF_ACCEPTED)
    async def on_accepted(self, event: Event[HandoffAccepted]) -> None:
        if event.subject in self.settings.failing:
            raise RetryableError("503 from the CRM", retry_after=20)
        first = self.settings.first_pause
        pause = first if first is not None and not self.started else self.settings.pause
        self.started.append(event.subject)
        await asyncio.sleep(pause)
        self.done.append(event.subject)


class Line:
    """One topic, consumer group and dedupe scope: each runner made here is the same connector
    started again."""

    def __init__(self, kafka: str, redis: str) -> None:
        suffix = uuid.uuid4().hex[:10]
        self.kafka, self.redis = kafka, redis
        self.topic, self.scope = f"runner-{suffix}", f"runner-{suffix}"
        ensure_topics(kafka, [self.topic, f"{self.topic}-dlq"])

    def publish(self, *subjects: str) -> None:
        publisher = EventPublisher.connect(self.kafka, topic=self.topic)
        try:
            publisher.publish([self._event(subject) for subject in subjects])
        finally:
            publisher.close()

    def _event(self, subject: str) -> DomainEvent:
        return DomainEvent(
            id=str(uuid.uuid4()),
            type=EventType.HANDOFF_ACCEPTED,
            source="/tests/runner",
            subject=subject,
            time=datetime.now(UTC),
            data=ACCEPTED,
        )

    def runner(
        self,
        settings: PacedSettings,
        *,
        concurrency: int = FAST_RETRIES.concurrency,
        max_poll_interval: timedelta = FAST_RETRIES.max_poll_interval,
    ) -> ConnectorRunner:
        connector = Paced(settings, ConnectorContext(name=self.scope, secrets={}))
        return ConnectorRunner(
            connector,
            bootstrap=self.kafka,
            deduper=Deduper.connect(self.redis, scope=self.scope),
            dead_letters=DeadLetters.connect(
                self.kafka, consumer=self.scope, topic=f"{self.topic}-dlq"
            ),
            settings=replace(
                FAST_RETRIES,
                topics=(self.topic,),
                group_id=f"group-{self.scope}",
                max_backoff=timedelta(seconds=30),
                concurrency=concurrency,
                max_poll_interval=max_poll_interval,
            ),
        )


def paced(runner: ConnectorRunner) -> Paced:
    connector = runner.connector
    assert isinstance(connector, Paced)
    return connector


async def until(
    condition: Callable[[], bool], task: asyncio.Task[None], *, within: float = 60.0
) -> None:
    """Until `condition()` holds, failing if the runner's task ended first."""
    deadline = time.monotonic() + within
    while not condition():
        if task.done():
            task.result()
            pytest.fail("the runner stopped before the condition held")
        if time.monotonic() > deadline:
            pytest.fail(f"not true after {within} s")
        await asyncio.sleep(0.05)


async def test_a_stop_lets_handlers_under_way_finish_and_redelivers_only_what_is_not_done(
    kafka_bootstrap: str, redis_url: str
) -> None:
    line = Line(kafka_bootstrap, redis_url)
    line.publish("fast-1", "fast-2", "slow", "fast-1")
    first = line.runner(PacedSettings(pause=1.0, failing=["slow"]))
    task = asyncio.create_task(first.run())
    await until(lambda: first.stats.retries >= 1 and len(paced(first).started) == 2, task)
    first.stop()  # what SIGTERM does, while "slow" waits 20 s to retry
    await asyncio.wait_for(task, timeout=30)
    # The two handlers under way finished; the second fast-1 event did not start after the stop.
    assert sorted(paced(first).done) == ["fast-1", "fast-2"]
    assert first.stats.handled == 2
    assert first.stats.batches == 0, "a batch left unfinished is not committed"

    second = line.runner(PacedSettings())
    task = asyncio.create_task(second.run())
    try:
        await until(lambda: second.stats.handled >= 2 and second.stats.duplicates >= 2, task)
        await until(lambda: second.stats.batches >= 1, task)
    finally:
        second.stop()
        await asyncio.wait_for(task, timeout=30)
    # What the first process did is not done again; what it left is done now, in order.
    assert paced(second).done == ["slow", "fast-1"] or paced(second).done == ["fast-1", "slow"]
    assert second.stats.duplicates == 2
    assert second.stats.dead_lettered == 0


async def test_a_batch_slower_than_the_poll_interval_is_finished_over_several_polls(
    kafka_bootstrap: str, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    line = Line(kafka_bootstrap, redis_url)
    subjects = [f"c{n}" for n in range(4)]
    line.publish(*subjects)
    # 4 events of 2 s one after another: 8 s, past the 6 s Kafka allows between two polls.
    runner = line.runner(
        PacedSettings(pause=2.0), concurrency=1, max_poll_interval=timedelta(seconds=6)
    )
    caplog.set_level(logging.WARNING, logger="connectors.sdk.runner")
    task = asyncio.create_task(runner.run())
    try:
        await until(lambda: runner.stats.handled >= 4 and runner.stats.batches >= 1, task)
    finally:
        runner.stop()
        await asyncio.wait_for(task, timeout=30)
    assert sorted(paced(runner).done) == subjects, "each event handled once"
    # Events start in the first half of the interval only (3 s): two of them, then a new poll.
    assert "2 event(s) of the batch not started within 3 s of the poll" in caplog.text


async def test_a_commit_kafka_refuses_is_logged_and_the_runner_goes_on(
    kafka_bootstrap: str, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    line = Line(kafka_bootstrap, redis_url)
    line.publish("stuck")
    # One event that takes longer than Kafka allows between polls: the group moves on without
    # this consumer, and the commit after the event is refused. kafka-python's heartbeat thread
    # notices the missed poll only at its next heartbeat (every 3 s), later on a busy machine:
    # the event outlasts the interval by more than that.
    runner = line.runner(PacedSettings(first_pause=9.0), max_poll_interval=timedelta(seconds=4))
    caplog.set_level(logging.WARNING, logger="connectors.sdk.runner")
    task = asyncio.create_task(runner.run())
    try:
        await until(lambda: runner.stats.handled >= 1, task)
        await until(lambda: runner.stats.duplicates >= 1 and runner.stats.batches >= 1, task)
    finally:
        runner.stop()
        await asyncio.wait_for(task, timeout=30)
    assert paced(runner).done == ["stuck"], "the redelivered event was dropped as a duplicate"
    assert "offsets not committed (CommitFailedError" in caplog.text
