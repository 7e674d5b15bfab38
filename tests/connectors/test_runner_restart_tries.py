"""The runner's retry tries across a restart: the process that gets an event next honours the
Retry-After the API gave the one that stopped, and `max_attempts` counts the failures of both.
The webhook connector against a local receiver; real broker and Redis; the restarted runner is a
new connector and runner on the same topic, consumer group and dedupe scope, nothing of the first
kept but what is in Redis."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from connectors.sdk import ConnectorContext
from connectors.sdk.runner import ConnectorRunner, RunnerSettings
from connectors.sdk.state import InDoubt, RetryState, SavedTries
from connectors.sdk.testkit import FAST_RETRIES, ConnectorHarness
from connectors.webhook import WebhookConnector
from tests.connectors.fakes import WEBHOOK_SECRET, FakeReceiver, Fault, Reply, consuming
from tests.connectors.test_runner_delivery import until
from tests.outages import RestartableRedis
from warmline.events.deadletter import DeadLetters
from warmline.events.dedupe import Deduper
from warmline.events.types import EventType

CLOSED = {"reason": "resolved", "messages": 3}
RETRY_AFTER = 6
HELD = replace(FAST_RETRIES, max_poll_interval=timedelta(seconds=4))
"""Events of a batch start within 2 s of its poll, so a Retry-After of 6 s holds the event out
of the batch (its partition paused) rather than being slept within it."""


def webhook(receiver: FakeReceiver) -> dict[str, Any]:
    return {"url": receiver.hook_url, "timeout_seconds": 1.0}


def harness(
    receiver: FakeReceiver, kafka: str, redis: str, runner: RunnerSettings
) -> AbstractAsyncContextManager[ConnectorHarness]:
    return consuming(
        lambda: ConnectorHarness(
            WebhookConnector,
            webhook(receiver),
            kafka=kafka,
            redis=redis,
            secrets={"signing_secret": WEBHOOK_SECRET},
            runner=runner,
        )
    )


def restarted(kit: ConnectorHarness, receiver: FakeReceiver, redis: str) -> ConnectorRunner:
    """`kit`'s connector started again, as `warmline connector run` would start it: a new
    connector and runner, the same topics, group and scope, the same Redis."""
    store = Redis.from_url(redis)
    connector = WebhookConnector(
        WebhookConnector.Settings.model_validate(webhook(receiver)),
        ConnectorContext(
            name=kit.name,
            secrets={"signing_secret": WEBHOOK_SECRET},
            in_doubt=InDoubt(store, scope=kit.name),
        ),
    )
    return ConnectorRunner(
        connector,
        bootstrap=kit.kafka,
        deduper=Deduper(store, scope=kit.name),
        dead_letters=DeadLetters.connect(kit.kafka, consumer=kit.name, topic=kit.dead_letter_topic),
        settings=kit.runner.settings,
    )


def saved_tries(redis: str, scope: str) -> list[bytes]:
    """The retry tries any runner of `scope` left in Redis."""
    client = Redis.from_url(redis)
    try:
        return list(client.scan_iter(match=f"warmline:tries:{scope}:*"))
    finally:
        client.close()


async def test_a_restarted_runner_waits_for_the_retry_after_the_api_gave(
    kafka_bootstrap: str, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="connectors.sdk.runner")
    with FakeReceiver() as receiver:
        receiver.fail_next(1, Fault("rate_limit", retry_after=str(RETRY_AFTER)))
        async with harness(receiver, kafka_bootstrap, redis_url, HELD) as kit:
            event = kit.event(EventType.CONVERSATION_CLOSED, CLOSED, subject="c-limited")
            await kit.emit(event)
            await kit.wait_for(
                lambda: f"waits {RETRY_AFTER} s for the API's Retry-After" in caplog.text
            )
        # Stopped while the event is held: its batch is left uncommitted.
        [limited] = receiver.seen()
        assert limited.status == 429

        runner = restarted(kit, receiver, redis_url)
        task = asyncio.create_task(runner.run())
        try:
            await until(runner.assigned.is_set, task)
            assert time.monotonic() < limited.at + RETRY_AFTER - 1, (
                "the restarted runner joined the group too late for the test to tell"
            )
            await until(lambda: runner.stats.handled + runner.stats.dead_lettered >= 1, task)
        finally:
            runner.stop()
            await asyncio.wait_for(task, timeout=30)
    assert runner.stats.dead_lettered == 0, kit.dead_letters(expect=1)[0].reason
    calls = receiver.seen()
    assert [c.status for c in calls] == [429, 200]
    waited = calls[1].at - limited.at
    assert waited >= RETRY_AFTER - 0.05, (
        f"the restarted runner called the API {waited:.2f} s after its 429, "
        f"before its Retry-After: {RETRY_AFTER}"
    )
    assert saved_tries(redis_url, kit.name) == [], "the tries outlived the delivered event"


class AlwaysFailing(FakeReceiver):
    """A receiver that answers every request 500, calling `on_request(n)` for the n-th first."""

    def __init__(self) -> None:
        super().__init__()
        self.on_request: Callable[[int], None] = lambda n: None

    def __enter__(self) -> AlwaysFailing:
        super().__enter__()
        return self

    def answer(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
    ) -> Reply:
        with self.lock:
            self.on_request(len(self.requests) + 1)
        return self.server_error(500)


async def test_max_attempts_counts_the_failures_before_a_restart(
    kafka_bootstrap: str, redis_url: str
) -> None:
    runner_settings = replace(FAST_RETRIES, max_attempts=5)
    loop = asyncio.get_running_loop()
    with AlwaysFailing() as receiver:
        async with harness(receiver, kafka_bootstrap, redis_url, runner_settings) as kit:
            # Stop the first runner as its second call fails: it gives up its retry.
            first = kit.runner

            def stop_at_the_second(n: int) -> None:
                if n == 2:
                    loop.call_soon_threadsafe(first.stop)

            receiver.on_request = stop_at_the_second
            await kit.emit(kit.event(EventType.CONVERSATION_CLOSED, CLOSED, subject="c-failing"))
            await kit.wait_for(lambda: len(receiver.seen()) >= 2)
        before = len(receiver.seen())
        assert 2 <= before < 5, f"the first runner made {before} call(s)"
        assert first.stats.dead_lettered == 0

        runner = restarted(kit, receiver, redis_url)
        task = asyncio.create_task(runner.run())
        try:
            await until(lambda: runner.stats.dead_lettered >= 1, task)
        finally:
            runner.stop()
            await asyncio.wait_for(task, timeout=30)
    calls = receiver.seen()
    assert len(calls) == 5, (
        f"{before} call(s) before the restart and {len(calls) - before} after: "
        f"max_attempts (5) did not hold across the restart"
    )
    [letter] = kit.dead_letters(expect=1)
    assert letter.reason.startswith("deliver failed after 5 attempt(s): "), letter.reason
    assert saved_tries(redis_url, kit.name) == [], "the tries outlived the dead letter"


async def test_tries_redis_could_not_save_leave_the_event_for_redelivery_not_lost(
    kafka_bootstrap: str,
    restartable_redis: RestartableRedis,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Redis goes down just as the runner saves a failed delivery's tries (a real outage: the
    test's own Redis shuts down, the save is the real one, and Redis comes back after it)."""
    caplog.set_level(logging.INFO, logger="connectors.sdk.runner")
    redis_url = restartable_redis.url
    save = RetryState.save
    failed: list[str] = []

    async def save_during_an_outage(
        self: RetryState, event_ids: Sequence[str], tries: SavedTries, *, ttl: timedelta
    ) -> None:
        if failed:
            await save(self, event_ids, tries, ttl=ttl)
            return
        failed.extend(event_ids)
        await asyncio.to_thread(restartable_redis.go_down)
        try:
            await save(self, event_ids, tries, ttl=ttl)
        except RedisConnectionError:
            raise
        else:
            raise AssertionError("a save reached a Redis that was down")
        finally:
            await asyncio.to_thread(restartable_redis.come_back)

    monkeypatch.setattr(RetryState, "save", save_during_an_outage)
    with FakeReceiver() as receiver:
        receiver.fail_next(1, Fault("error", status=502))
        async with harness(receiver, kafka_bootstrap, redis_url, FAST_RETRIES) as kit:
            event = kit.event(EventType.CONVERSATION_CLOSED, CLOSED, subject="c-flaky")
            await kit.emit(event)
            await kit.wait_for(
                lambda: kit.runner.stats.handled + kit.runner.stats.dead_lettered >= 1
            )
            await kit.wait_for(lambda: kit.runner.stats.batches >= 1)
            assert kit.runner.stats.dead_lettered == 0, kit.dead_letters(expect=1)[0].reason
    assert failed == [event.id]
    assert "deliver left for redelivery: its tries were not saved" in caplog.text
    assert [c.status for c in receiver.seen()] == [502, 200]
    assert [d.event_id for d in receiver.delivered()] == [event.id]
