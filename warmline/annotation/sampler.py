"""`warmline annotate sample`: reads the events topic and feeds the annotation loop.

For each event the sampling policy picks (`warmline.annotation.sampling.decide`) it signals-with-
starts the deployment's `AnnotationWorkflow` with an `ItemRequest`, which carries no text: the
workflow fetches and redacts it. At least once, like the bridge (both are a
`warmline.events.consuming.BatchConsumer`): offsets are committed after a batch is handed on,
duplicates are dropped by event id (Redis), an outage is retried rather than dead-lettered, and a
record of a sampled type that cannot be decoded or validated goes to the dead-letter topic with
the reason. Events of other types (including ones a newer warmline emits) are not this consumer's
business and are passed over without decoding.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Final

from kafka.consumer.fetcher import ConsumerRecord
from redis import Redis
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from warmline.annotation.client import (
    AnnotationLoop,
    AnnotationNoAnswerError,
    apply_policy,
    submit_item,
)
from warmline.annotation.model import (
    AnnotationPolicy,
    AnnotationReport,
    ItemRequest,
    policy_from_config,
)
from warmline.annotation.sampling import SAMPLED_TYPES, decide, tenant_languages
from warmline.config.loader import load_config
from warmline.config.model import WarmlineConfig
from warmline.errors import WarmlineError
from warmline.events import EventDecodeError, from_record
from warmline.events.catalog import EventDataError
from warmline.events.consuming import BatchConsumer, ConsumerStats, ConsumerTimings
from warmline.events.deadletter import DeadLetters
from warmline.events.dedupe import Deduper
from warmline.events.types import EVENTS_TOPIC
from warmline.reach import check_kafka, check_redis, temporal_client
from warmline.runtime import DEFAULT_TASK_QUEUE

log = logging.getLogger(__name__)
REPORT_WAIT: Final = timedelta(seconds=15)
"""How long `warmline annotate report` waits for the loop's answer, as long as the API services
wait for a workflow's."""
_SAMPLED = {event_type.value.encode() for event_type in SAMPLED_TYPES}


@dataclass(frozen=True)
class SamplerSettings(ConsumerTimings):
    task_queue: str = DEFAULT_TASK_QUEUE
    """The workers' task queue, where the annotation workflow runs."""
    events_topic: str = EVENTS_TOPIC
    group_id: str = "warmline-annotation-sampler"
    batch_size: int = 200


@dataclass
class SamplerStats(ConsumerStats):
    sampled: int = 0
    """Items handed to the annotation loop."""
    passed_over: int = 0
    """Events the policy did not sample, or of types the sampler does not read."""


class AnnotationSampler(BatchConsumer[SamplerSettings, SamplerStats]):
    """Consumes the events topic until `stop()`; loop, retries and dead letters: `BatchConsumer`."""

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
        settings = settings or SamplerSettings()
        super().__init__(
            label="sampler",
            bootstrap=bootstrap,
            topics=[settings.events_topic],
            settings=settings,
            stats=SamplerStats(),
            deduper=deduper,
            dead_letters=dead_letters,
        )
        self._client = client
        self._sampling = config.annotation.sampling
        self._tone_fraction = config.annotation.tone_audit_fraction
        self._languages = tenant_languages(config)
        self._policy = policy or policy_from_config(config)

    async def _start(self) -> None:
        # The configuration this sampler was started with is the loop's policy from now on.
        await self._until_done(
            "the annotation policy",
            functools.partial(
                apply_policy, self._client, self._policy, task_queue=self.settings.task_queue
            ),
        )

    async def _handle_batch(self, records: Sequence[ConsumerRecord]) -> None:
        wanted: list[tuple[str, ConsumerRecord, ItemRequest]] = []
        for record in records:
            headers: list[tuple[str, bytes]] = list(record.headers or [])
            if dict(headers).get("ce_type") not in _SAMPLED:
                self.stats.passed_over += 1
                continue
            try:
                event = from_record(record.key, headers, record.value or b"")
                request = decide(
                    event,
                    self._sampling,
                    tone_audit_fraction=self._tone_fraction,
                    languages=self._languages,
                )
            except (EventDecodeError, EventDataError) as error:
                await self._dead_letter(record, error.reason)
                continue
            if request is None:
                self.stats.passed_over += 1
                continue
            wanted.append((event.id, record, request))
        fresh = set(await self._unseen([event_id for event_id, _, _ in wanted]))
        handed_on: list[str] = []
        for event_id, record, request in wanted:
            if event_id not in fresh:
                self.stats.duplicates += 1
                continue
            try:
                await self._until_done(
                    f"the item of message {request.message_id}",
                    functools.partial(self._submit, request),
                )
            except RPCError as error:
                await self._dead_letter(record, f"Temporal refused the item: {error.message}")
                continue
            fresh.discard(event_id)
            handed_on.append(event_id)
            self.stats.sampled += 1
        # Only what was handed on: a dead-lettered event, fixed and sent again with its id (the
        # way to replay a dead letter), must not be dropped as a duplicate.
        await self._mark_done(handed_on)

    async def _submit(self, request: ItemRequest) -> None:
        await submit_item(self._client, self._policy, request, task_queue=self.settings.task_queue)


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
    client = await temporal_client(temporal, namespace)
    check_redis(redis)
    check_kafka(kafka)
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


async def read_report(
    config_path: Path, *, temporal: str, namespace: str, wait: timedelta = REPORT_WAIT
) -> AnnotationReport:
    """The running loop's report (the `report` query), waiting at most `wait` for it: with the
    workers down the loop never answers, and the command says so instead of waiting for ever."""
    config = load_config(config_path, resolve_secrets=False)
    client = await temporal_client(temporal, namespace)
    name = config.metadata.name
    try:
        return await AnnotationLoop(client, name, rpc_timeout=wait).report()
    except AnnotationNoAnswerError:
        raise WarmlineError(
            f"the annotation loop of {name!r} did not answer within {wait.total_seconds():g} s "
            "(are the workers running?); try again"
        ) from None
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            raise WarmlineError(f"the annotation loop of {name!r} is not running") from None
        raise
