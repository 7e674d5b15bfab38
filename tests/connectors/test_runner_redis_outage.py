"""The runner while its Redis is out: refusing connections, or frozen with its connections open.

Real broker and a Redis of each test's own (`restartable_redis`), which really goes down (shut
down, then started again on its address) or stops answering (the process is stopped with SIGSTOP
and continued with SIGCONT: connections are still accepted, nothing is answered). The runner is
given the client `warmline connector run` gives it (`connect_redis`), with a short timeout.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace

import pytest
from pydantic import BaseModel

from connectors.sdk import Connector, ConnectorContext, Event, handles
from connectors.sdk.runner import ConnectorRunner
from connectors.sdk.state import InDoubt, RetryState, connect_redis
from connectors.sdk.testkit import FAST_RETRIES
from tests.connectors.test_runner_delivery import Line, until
from tests.outages import RestartableRedis
from warmline.events.catalog import HandoffAccepted
from warmline.events.deadletter import DeadLetters
from warmline.events.dedupe import Deduper
from warmline.events.types import EventType

REDIS_TIMEOUT_S = 2.0
"""The client's timeout in these tests: a call to a frozen Redis fails after it."""

OUTAGE_LOGGED = "Redis is out for"


class NoSettings(BaseModel):
    pass


class Recording(Connector):
    """Records the subjects it handled; `after` runs once a subject's handler did its work."""

    type_name = "recording"
    Settings = NoSettings

    def __init__(self, settings: BaseModel, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        self.done: list[str] = []
        self.after: dict[str, Callable[[], Awaitable[None]]] = {}

    @handles(EventType.HANDOFF_ACCEPTED)
    async def on_accepted(self, event: Event[HandoffAccepted]) -> None:
        self.done.append(event.subject)
        after = self.after.pop(event.subject, None)
        if after is not None:
            await after()


def runner_for(line: Line) -> ConnectorRunner:
    """The connector of `line` started (again), on its topic, group and scope, with the Redis
    client `warmline connector run` makes."""
    store = connect_redis(line.redis, timeout=REDIS_TIMEOUT_S)
    context = ConnectorContext(
        name=line.scope, secrets={}, in_doubt=InDoubt(store, scope=line.scope)
    )
    return ConnectorRunner(
        Recording(NoSettings(), context),
        bootstrap=line.kafka,
        deduper=Deduper(store, scope=line.scope),
        dead_letters=DeadLetters.connect(
            line.kafka, consumer=line.scope, topic=f"{line.topic}-dlq"
        ),
        settings=replace(FAST_RETRIES, topics=(line.topic,), group_id=f"group-{line.scope}"),
        retry_state=RetryState(store, scope=line.scope),
    )


def recording(runner: ConnectorRunner) -> Recording:
    connector = runner.connector
    assert isinstance(connector, Recording)
    return connector


@contextmanager
def frozen(redis: RestartableRedis) -> Iterator[None]:
    """Redis stops answering, its connections left open, until the block ends."""
    pid = redis.service.process.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


async def stopped(runner: ConnectorRunner, task: asyncio.Task[None]) -> None:
    runner.stop()
    await asyncio.wait_for(task, timeout=30)


async def handles_only_what_follows(line: Line) -> None:
    """A runner started again on the same group: nothing it was given before comes again (it
    was committed, or redelivered and dropped as done); only what is published now is handled."""
    again = runner_for(line)
    task = asyncio.create_task(again.run())
    try:
        await asyncio.to_thread(line.publish, "next")
        await until(lambda: recording(again).done == ["next"], task)
        await until(lambda: again.stats.batches >= 1, task)
    finally:
        await stopped(again, task)
    assert recording(again).done == ["next"]
    assert again.stats.duplicates == 0


async def test_a_redis_refusing_connections_is_waited_out_and_the_batch_delivered_once(
    kafka_bootstrap: str,
    restartable_redis: RestartableRedis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="connectors.sdk.runner")
    line = Line(kafka_bootstrap, restartable_redis.url)
    runner = runner_for(line)
    task = asyncio.create_task(runner.run())
    try:
        line.publish("before")
        await until(lambda: runner.stats.batches >= 1, task)
        await asyncio.to_thread(restartable_redis.go_down)
        line.publish("during")
        # The batch polled during the outage waits for Redis; the runner does not crash.
        await until(lambda: caplog.text.count(OUTAGE_LOGGED) >= 2, task)
        assert runner.stats.batches == 1, "a batch was committed while Redis was out"
        assert recording(runner).done == ["before"], "an event was handled unchecked"
        await asyncio.to_thread(restartable_redis.come_back)
        await until(lambda: runner.stats.batches >= 2, task)
    finally:
        await stopped(runner, task)
    assert recording(runner).done == ["before", "during"]
    assert runner.stats.duplicates == 0
    assert runner.stats.redis_retries >= 2
    assert "Redis is back for the dedupe lookup" in caplog.text


async def test_an_event_handled_as_redis_goes_down_is_marked_done_once_it_is_back(
    kafka_bootstrap: str,
    restartable_redis: RestartableRedis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Redis goes down between the handler's work and marking the event done: the mark waits
    for Redis, the batch is committed after it, and the event is not delivered again."""
    caplog.set_level(logging.INFO, logger="connectors.sdk.runner")
    line = Line(kafka_bootstrap, restartable_redis.url)
    runner = runner_for(line)
    back: list[asyncio.Task[None]] = []

    async def come_back_later() -> None:
        await until(lambda: OUTAGE_LOGGED in caplog.text, task)
        await asyncio.to_thread(restartable_redis.come_back)

    async def go_down() -> None:
        await asyncio.to_thread(restartable_redis.go_down)
        back.append(asyncio.create_task(come_back_later()))

    recording(runner).after["sent"] = go_down
    task = asyncio.create_task(runner.run())
    try:
        line.publish("sent")
        await until(lambda: runner.stats.batches >= 1, task)
        await asyncio.gather(*back)
    finally:
        await stopped(runner, task)
    assert recording(runner).done == ["sent"]
    assert runner.stats.handled == 1
    assert "Redis is back for marking done" in caplog.text

    # Started again: the event was committed, not redelivered; only what comes after is handled.
    await handles_only_what_follows(line)


async def test_a_stop_while_redis_does_not_answer_ends_the_runner_and_leaves_the_batch(
    kafka_bootstrap: str,
    restartable_redis: RestartableRedis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="connectors.sdk.runner")
    line = Line(kafka_bootstrap, restartable_redis.url)
    runner = runner_for(line)
    task = asyncio.create_task(runner.run())
    try:
        line.publish("first")
        await until(lambda: runner.stats.batches >= 1, task)
        with frozen(restartable_redis):
            line.publish("second")
            await until(lambda: OUTAGE_LOGGED in caplog.text, task)
            # What SIGTERM does: the runner ends while Redis still does not answer.
            runner.stop()
            await asyncio.wait_for(task, timeout=30)
    finally:
        if not task.done():
            await stopped(runner, task)
    assert recording(runner).done == ["first"]
    assert runner.stats.batches == 1, "the batch polled during the outage was committed"
    assert "stopping while Redis is out; the batch is left uncommitted" in caplog.text

    # The next run gets the batch left uncommitted, and handles its event once.
    again = runner_for(line)
    task = asyncio.create_task(again.run())
    try:
        await until(lambda: again.stats.batches >= 1, task)
    finally:
        await stopped(again, task)
    assert recording(again).done == ["second"]
    assert again.stats.duplicates == 0
