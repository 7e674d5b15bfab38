"""`warmline annotate sample`: reads the events topic and feeds the annotation loop.

For each event the sampling policy picks (`warmline.annotation.sampling.decide`) it signals-with-
starts the deployment's `AnnotationWorkflow` with an `ItemRequest`, which carries no text: the
workflow fetches and redacts it. At least once, like the bridge: offsets are committed after a
batch is handed on, duplicates are dropped by event id (Redis), and a record of a sampled type
that cannot be decoded or validated goes to the dead-letter topic with the reason. Events of other
types (including ones a newer warmline emits) are not this consumer's business and are passed
over without decoding.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

from kafka import KafkaConsumer
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError
from redis import Redis
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode

from warmline.annotation.client import AnnotationLoop, apply_policy, submit_item
from warmline.annotation.model import (
    AnnotationPolicy,
    AnnotationReport,
    ItemRequest,
    policy_from_config,
)
from warmline.annotation.sampling import SAMPLED_TYPES, decide
from warmline.config.loader import load_config
from warmline.config.model import WarmlineConfig
from warmline.errors import WarmlineError
from warmline.events import EventDecodeError, from_record
from warmline.events.catalog import EventDataError
from warmline.events.consuming import open_consumer, poll_records
from warmline.events.deadletter import DeadLetters, Origin
from warmline.events.dedupe import Deduper
from warmline.events.types import EVENTS_TOPIC
from warmline.runtime import DEFAULT_TASK_QUEUE

log = logging.getLogger(__name__)
T = TypeVar("T")
_SAMPLED = {event_type.value.encode() for event_type in SAMPLED_TYPES}


@dataclass(frozen=True)
class SamplerSettings:
    task_queue: str = DEFAULT_TASK_QUEUE
    """The workers' task queue, where the annotation workflow runs."""
    events_topic: str = EVENTS_TOPIC
    group_id: str = "warmline-annotation-sampler"
    batch_size: int = 200
    poll_timeout: timedelta = timedelta(milliseconds=500)
    call_timeout: timedelta = timedelta(seconds=10)
    initial_backoff: timedelta = timedelta(milliseconds=500)
    max_backoff: timedelta = timedelta(seconds=30)
    max_poll_interval: timedelta = timedelta(minutes=10)


@dataclass
class SamplerStats:
    sampled: int = 0
    """Items handed to the annotation loop."""
    passed_over: int = 0
    """Events the policy did not sample, or of types the sampler does not read."""
    duplicates: int = 0
    dead_lettered: int = 0
    retries: int = 0
    batches: int = 0


class _StopRequestedError(Exception):
    """Shutdown began while a call waited to be retried: leave the batch uncommitted."""


class AnnotationSampler:
    """Consumes the events topic until `stop()`."""

    def __init__(
        self,
        client: Client,
        config: WarmlineConfig,
        *,
        bootstrap: str,
        deduper: Deduper,
        dead_letters: DeadLetters,
        settings: SamplerSettings | None = None,
        policy: AnnotationPolicy | None = None,
    ) -> None:
        self.settings = settings or SamplerSettings()
        self.stats = SamplerStats()
        self._client = client
        self._bootstrap = bootstrap
        self._deduper = deduper
        self._dead_letters = dead_letters
        self._sampling = config.annotation.sampling
        self._tone_fraction = config.annotation.tone_audit_fraction
        self._policy = policy or policy_from_config(config)
        self._stop = asyncio.Event()
        self.assigned = asyncio.Event()
        """Set once the consumer group gave this sampler its partitions."""

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        # The configuration this sampler was started with is the loop's policy from now on.
        await self._until_done(
            functools.partial(
                apply_policy, self._client, self._policy, task_queue=self.settings.task_queue
            )
        )
        consumer = await asyncio.to_thread(self._connect)
        try:
            while not self._stop.is_set():
                records = await asyncio.to_thread(self._poll, consumer)
                if consumer.assignment():
                    self.assigned.set()
                if not records:
                    continue
                try:
                    await self._process(records)
                except _StopRequestedError:
                    log.info("sampler: stopping with a batch uncommitted; it is redelivered")
                    break
                if await asyncio.to_thread(self._commit, consumer):
                    self.stats.batches += 1
        finally:
            await asyncio.to_thread(consumer.close, autocommit=False)

    def _connect(self) -> KafkaConsumer:
        s = self.settings
        return open_consumer(
            self._bootstrap,
            [s.events_topic],
            group_id=s.group_id,
            batch_size=s.batch_size,
            max_poll_interval=s.max_poll_interval,
            stopping=self._stop.is_set,
        )

    def _poll(self, consumer: KafkaConsumer) -> list[ConsumerRecord]:
        s = self.settings
        return poll_records(consumer, timeout=s.poll_timeout, batch_size=s.batch_size)

    def _commit(self, consumer: KafkaConsumer) -> bool:
        try:
            consumer.commit()
        except KafkaError as error:
            log.warning("sampler: offsets not committed (%s); the batch is redelivered", error)
            return False
        return True

    async def _process(self, records: Sequence[ConsumerRecord]) -> None:
        wanted: list[tuple[str, ConsumerRecord, ItemRequest]] = []
        for record in records:
            headers: list[tuple[str, bytes]] = list(record.headers or [])
            if dict(headers).get("ce_type") not in _SAMPLED:
                self.stats.passed_over += 1
                continue
            try:
                event = from_record(record.key, headers, record.value or b"")
                request = decide(event, self._sampling, tone_audit_fraction=self._tone_fraction)
            except (EventDecodeError, EventDataError) as error:
                await self._dead_letter(record, error.reason)
                continue
            if request is None:
                self.stats.passed_over += 1
                continue
            wanted.append((event.id, record, request))
        ids = [event_id for event_id, _, _ in wanted]
        fresh = set(await self._until_done(lambda: asyncio.to_thread(self._deduper.unseen, ids)))
        for event_id, record, request in wanted:
            if event_id not in fresh:
                self.stats.duplicates += 1
                continue
            fresh.discard(event_id)
            try:
                await self._until_done(functools.partial(self._submit, request))
            except RPCError as error:
                await self._dead_letter(record, f"Temporal refused the item: {error.message}")
                continue
            self.stats.sampled += 1
        await self._until_done(lambda: asyncio.to_thread(self._deduper.mark_done, ids))

    async def _submit(self, request: ItemRequest) -> None:
        await submit_item(self._client, self._policy, request, task_queue=self.settings.task_queue)

    async def _until_done(self, call: Callable[[], Awaitable[T]]) -> T:
        """`call()`'s result, retried with backoff while a service is out."""
        attempt = 0
        while True:
            attempt += 1
            try:
                async with asyncio.timeout(self.settings.call_timeout.total_seconds()):
                    return await call()
            except RPCError as error:
                if error.status is RPCStatusCode.INVALID_ARGUMENT:
                    raise
                reason = error.message
            except (TimeoutError, ConnectionError, OSError) as error:
                reason = f"{type(error).__name__}: {error}"
            ceiling = min(
                self.settings.max_backoff.total_seconds(),
                self.settings.initial_backoff.total_seconds() * 2 ** (attempt - 1),
            )
            delay = random.uniform(0, ceiling)  # noqa: S311 - jitter, not cryptography
            self.stats.retries += 1
            log.warning("sampler: %s; attempt %d, retrying in %.1f s", reason, attempt, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=delay)
                raise _StopRequestedError

    async def _dead_letter(self, record: ConsumerRecord, reason: str) -> None:
        log.warning("sampler: dead-lettering %s@%d: %s", record.topic, record.offset, reason)
        origin = Origin.of(record)
        await self._until_done(
            lambda: asyncio.to_thread(self._dead_letters.send, origin, reason, attempts=1)
        )
        self.stats.dead_lettered += 1


CONSUMER_NAME = "warmline-annotation-sampler"
DEDUPE_SCOPE = "annotation-sampler"
REDIS_TIMEOUT_S = 5.0


async def run_sampler(
    config_path: Path,
    *,
    temporal: str,
    namespace: str,
    kafka: str,
    redis: str,
    settings: SamplerSettings,
    dead_letter_topic: str,
) -> None:
    """Validate the configuration, connect, and sample until SIGTERM or SIGINT."""
    config = load_config(config_path, resolve_secrets=False)
    client = await Client.connect(
        temporal, namespace=namespace, data_converter=pydantic_data_converter
    )
    store = Redis.from_url(
        redis, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
    )
    dead_letters = DeadLetters.connect(kafka, consumer=CONSUMER_NAME, topic=dead_letter_topic)
    sampler = AnnotationSampler(
        client,
        config,
        bootstrap=kafka,
        deduper=Deduper(store, scope=DEDUPE_SCOPE),
        dead_letters=dead_letters,
        settings=settings,
    )
    loop = asyncio.get_running_loop()
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(stop_signal, sampler.stop)
    print(
        f"annotation sampler ready: {settings.events_topic} (group {settings.group_id!r}) to "
        f"task queue {settings.task_queue!r} on {temporal}",
        file=sys.stderr,
        flush=True,
    )
    try:
        await sampler.run()
    finally:
        dead_letters.close()
        store.close()
    log.info("annotation sampler stopped: %s", sampler.stats)


async def read_report(config_path: Path, *, temporal: str, namespace: str) -> AnnotationReport:
    """The running loop's report (the `report` query)."""
    config = load_config(config_path, resolve_secrets=False)
    client = await Client.connect(
        temporal, namespace=namespace, data_converter=pydantic_data_converter
    )
    try:
        return await AnnotationLoop(client, config.metadata.name).report()
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            raise WarmlineError(
                f"the annotation loop of {config.metadata.name!r} is not running"
            ) from None
        raise
