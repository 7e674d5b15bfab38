"""A Redis outage longer than Kafka's `max_poll_interval`: the runner holds its batch past the
interval, so the consumer group takes its partitions back. Nothing is lost nor handled twice:
the runner does not crash, the batch is committed (or, refused, redelivered and its events done
dropped), and a restart gets nothing again.

Real broker and a Redis of the test's own (`restartable_redis`) that really goes down and comes
back; the interval is cut to a few seconds so the outage can outlast it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import timedelta

import pytest

from tests.connectors.test_runner_delivery import Line, until
from tests.connectors.test_runner_redis_outage import (
    OUTAGE_LOGGED,
    handles_only_what_follows,
    recording,
    runner_for,
    stopped,
)
from tests.outages import RestartableRedis

MAX_POLL_INTERVAL = timedelta(seconds=4)


async def test_an_outage_longer_than_the_poll_interval_loses_nothing_and_handles_once(
    kafka_bootstrap: str,
    restartable_redis: RestartableRedis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="connectors.sdk.runner")
    line = Line(kafka_bootstrap, restartable_redis.url)
    runner = runner_for(line)
    runner.settings = replace(runner.settings, max_poll_interval=MAX_POLL_INTERVAL)
    task = asyncio.create_task(runner.run())
    try:
        await asyncio.to_thread(line.publish, "before")
        await until(lambda: runner.stats.batches >= 1, task)
        await asyncio.to_thread(restartable_redis.go_down)
        await asyncio.to_thread(line.publish, "during")
        await until(lambda: OUTAGE_LOGGED in caplog.text, task)
        # Out for three intervals: the group gives the partitions up meanwhile.
        await asyncio.sleep(MAX_POLL_INTERVAL.total_seconds() * 3)
        assert not task.done()
        await asyncio.to_thread(restartable_redis.come_back)
        await until(lambda: recording(runner).done == ["before", "during"], task)
        # Committed at once, or refused and redelivered, its event then dropped as done.
        await until(
            lambda: runner.stats.batches >= 2 or runner.stats.duplicates >= 1, task, within=90
        )
        await until(lambda: runner.stats.batches >= 2, task, within=90)
        await asyncio.to_thread(line.publish, "after")
        await until(lambda: recording(runner).done == ["before", "during", "after"], task)
    finally:
        await stopped(runner, task)
    assert recording(runner).done == ["before", "during", "after"]

    # Started again on the same group: nothing of the outage's batch comes again.
    await handles_only_what_follows(line)


async def test_an_event_marked_done_after_the_poll_interval_is_not_handled_again(
    kafka_bootstrap: str,
    restartable_redis: RestartableRedis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Redis goes down between the handler's work and marking its event done, for longer than
    the interval: the mark waits for Redis, the commit after it comes from a consumer the group
    dropped, and the event is not handled a second time (committed, or redelivered and dropped)."""
    caplog.set_level(logging.INFO, logger="connectors.sdk.runner")
    line = Line(kafka_bootstrap, restartable_redis.url)
    runner = runner_for(line)
    runner.settings = replace(runner.settings, max_poll_interval=MAX_POLL_INTERVAL)
    back: list[asyncio.Task[None]] = []

    async def come_back_later() -> None:
        await until(lambda: OUTAGE_LOGGED in caplog.text, task)
        await asyncio.sleep(MAX_POLL_INTERVAL.total_seconds() * 3)
        await asyncio.to_thread(restartable_redis.come_back)

    async def go_down() -> None:
        await asyncio.to_thread(restartable_redis.go_down)
        back.append(asyncio.create_task(come_back_later()))

    recording(runner).after["during"] = go_down
    task = asyncio.create_task(runner.run())
    try:
        await asyncio.to_thread(line.publish, "during")
        await until(lambda: len(back) == 1, task)
        await asyncio.gather(*back)
        await until(lambda: "Redis is back for marking done" in caplog.text, task)
        await asyncio.to_thread(line.publish, "after")
        await until(lambda: recording(runner).done[-1:] == ["after"], task, within=90)
        await until(lambda: runner.stats.batches >= 1, task, within=90)
    finally:
        await stopped(runner, task)
    assert recording(runner).done == ["during", "after"]
    # The group had dropped the consumer: its commit was refused, the batch redelivered and its
    # event, marked done, dropped.
    assert "offsets not committed (CommitFailedError" in caplog.text
    assert runner.stats.duplicates >= 1

    await handles_only_what_follows(line)
