"""A test kit for connectors: run yours against a real Kafka broker and Redis, on fresh topics.

    async with ConnectorHarness(MyConnector, {"url": server.url}, kafka=kafka, redis=redis) as h:
        event = h.event(EventType.HANDOFF_ACCEPTED, {...}, subject="conv-1")
        await h.emit(event, event)                  # the second is a duplicate: dropped
        await h.wait_handled(1)
        assert h.dead_letters() == []

`services()` starts the broker and Redis when your test run has none (the embedded ones by
default, so no Java is needed). Nothing here is a mock: the harness runs the same
`ConnectorRunner` as `warmline connector run`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from pydantic import BaseModel
from redis import Redis

from connectors.sdk.connector import DEFAULT_MIN_GROUP_SIZE, Connector, ConnectorContext
from connectors.sdk.runner import ConnectorRunner, RunnerSettings
from connectors.sdk.state import InDoubt, RetryState
from warmline.events.admin import ensure_topics
from warmline.events.catalog import parse_data
from warmline.events.deadletter import REASON_HEADER, DeadLetters
from warmline.events.dedupe import Deduper
from warmline.events.envelope import DomainEvent
from warmline.events.publisher import EventPublisher
from warmline.events.types import EventType
from warmline.services import Endpoints, LocalServices, ServiceName

FAST_RETRIES = RunnerSettings(
    initial_backoff=timedelta(milliseconds=20),
    max_backoff=timedelta(milliseconds=200),
    poll_timeout=timedelta(milliseconds=100),
)
"""Retry settings that keep a test's failure paths quick."""


@contextmanager
def services(*, embedded: bool = True) -> Iterator[Endpoints]:
    """A Kafka broker and Redis for the length of a test session."""
    with LocalServices(only={ServiceName.KAFKA, ServiceName.REDIS}, embedded=embedded) as found:
        yield found


@dataclass(frozen=True)
class DeadLetter:
    reason: str
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]


class ConnectorHarness:
    """Runs one connector on fresh topics, a fresh consumer group and a fresh dedupe scope."""

    def __init__(
        self,
        connector_type: type[Connector],
        settings: Mapping[str, Any] | BaseModel,
        *,
        kafka: str,
        redis: str,
        secrets: Mapping[str, str] | None = None,
        runner: RunnerSettings = FAST_RETRIES,
        name: str | None = None,
        min_group_size: int = DEFAULT_MIN_GROUP_SIZE,
    ) -> None:
        """`min_group_size` stands for the deployment's `wellness.min_group_size`."""
        suffix = uuid.uuid4().hex[:10]
        self.name = name or f"{connector_type.type_name or 'connector'}-{suffix}"
        self.topic = f"testkit-events-{suffix}"
        self.dead_letter_topic = f"testkit-deadletters-{suffix}"
        self.kafka = kafka
        parsed = (
            settings
            if isinstance(settings, BaseModel)
            else connector_type.Settings.model_validate(settings)
        )
        # Dedupe keys, writes in doubt and retry tries share the client and the scope, as in
        # `connector run`.
        store = Redis.from_url(redis)
        context = ConnectorContext(
            name=self.name,
            secrets=dict(secrets or {}),
            min_group_size=min_group_size,
            in_doubt=InDoubt(store, scope=self.name),
        )
        self.connector = connector_type(parsed, context)
        # Everything the kit emits goes to its one fresh topic, wellness events included.
        self._publisher = EventPublisher.connect(kafka, topic=self.topic, wellness_topic=self.topic)
        self.runner = ConnectorRunner(
            self.connector,
            bootstrap=kafka,
            deduper=Deduper(store, scope=self.name),
            dead_letters=DeadLetters.connect(
                kafka, consumer=self.name, topic=self.dead_letter_topic
            ),
            settings=replace(runner, topics=(self.topic,), group_id=f"testkit-{suffix}"),
            retry_state=RetryState(store, scope=self.name),
        )
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> ConnectorHarness:
        await asyncio.to_thread(ensure_topics, self.kafka, [self.topic, self.dead_letter_topic])
        self._task = asyncio.create_task(self.runner.run())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.runner.stop()
        if self._task is not None:
            await self._task
        self._publisher.close()

    def event(
        self,
        event_type: EventType,
        data: Mapping[str, Any],
        *,
        subject: str = "conversation-1",
        event_id: str | None = None,
    ) -> DomainEvent:
        """An event as warmline would emit it; the data is checked against the catalog first."""
        parse_data(event_type, dict(data))
        return DomainEvent(
            id=event_id or str(uuid.uuid4()),
            type=event_type,
            source="/warmline/testkit",
            subject=subject,
            time=datetime.now(UTC),
            data=dict(data),
        )

    async def emit(self, *events: DomainEvent) -> None:
        """Publish through warmline's own publisher (the one the activities use)."""
        await asyncio.to_thread(self._publisher.publish, list(events))

    async def emit_raw(
        self, value: bytes | None, *, key: bytes | None = None, headers: list[tuple[str, bytes]]
    ) -> None:
        """Put any record on the topic, well-formed or not, to test what the runner does."""

        def send() -> None:
            producer = KafkaProducer(bootstrap_servers=self.kafka, max_request_size=10 * 1_048_576)
            try:
                producer.send(self.topic, key=key, value=value, headers=headers).get(timeout=30)
            finally:
                producer.close(timeout=5)

        await asyncio.to_thread(send)

    async def wait_handled(self, count: int, *, within: float = 30.0) -> None:
        """Until `count` events were handled (duplicates are not counted)."""
        await self.wait_for(lambda: self.runner.stats.handled >= count, within=within)

    async def wait_for(self, condition: Any, *, within: float = 30.0) -> None:
        """Until `condition()` holds; fails the test after `within` seconds."""
        deadline = time.monotonic() + within
        while not condition():
            if self._task is not None and self._task.done():
                self._task.result()
                raise AssertionError(f"{self.name}: the runner stopped before the condition held")
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: not true after {within}s: {self.runner.stats}")
            await asyncio.sleep(0.05)

    def dead_letters(self, *, expect: int | None = None, timeout: float = 30.0) -> list[DeadLetter]:
        """Read the dead-letter topic; with `expect`, until that many are there."""
        return read_dead_letters(self.kafka, self.dead_letter_topic, expect=expect, timeout=timeout)


def read_dead_letters(
    kafka: str, topic: str, *, expect: int | None = None, timeout: float = 30.0
) -> list[DeadLetter]:
    """Every record on a dead-letter topic; with `expect`, read until that many are there (or
    `timeout` seconds passed)."""
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=kafka,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=500,
        fetch_max_bytes=64 * 1_048_576,
        max_partition_fetch_bytes=16 * 1_048_576,
    )
    found: list[DeadLetter] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            for record in consumer:
                headers = dict(record.headers or [])
                found.append(
                    DeadLetter(
                        reason=headers.get(REASON_HEADER, b"").decode(),
                        key=record.key,
                        value=record.value,
                        headers=headers,
                    )
                )
            if expect is None or len(found) >= expect or time.monotonic() > deadline:
                return found
    finally:
        consumer.close()
