"""`warmline wellness-tracker`: count exposure from the events topic until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path

from redis import Redis

from warmline.config.loader import load_config
from warmline.events.deadletter import DeadLetters
from warmline.events.dedupe import Deduper
from warmline.reach import check_kafka, check_redis, temporal_client
from warmline.runtime import wellness_policy, worker_kinds
from warmline.wellness.client import WellnessClient
from warmline.wellness.tracker import ExposureCounter, ExposureTracker, TrackerSettings, TrackStore

log = logging.getLogger(__name__)

CONSUMER_NAME = "warmline-wellness-tracker"
"""Who gave up on a record, in its dead letter's `dlq.consumer`."""
DEDUPE_SCOPE = "wellness-tracker"
REDIS_TIMEOUT_S = 5.0


async def run_tracker(
    config_path: Path,
    *,
    temporal: str,
    namespace: str,
    kafka: str,
    redis: str,
    task_queue: str,
    events_topic: str,
    group: str,
    dead_letter_topic: str,
) -> None:
    """Validate the configuration, connect, and track until a signal stops it (reads no secrets)."""
    config = load_config(config_path, resolve_secrets=False)
    client = await temporal_client(temporal, namespace)
    check_redis(redis)
    check_kafka(kafka)
    store = Redis.from_url(
        redis, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
    )
    dead_letters = DeadLetters.connect(kafka, consumer=CONSUMER_NAME, topic=dead_letter_topic)
    counter = ExposureCounter(
        WellnessClient(
            client,
            deployment=config.metadata.name,
            policy=wellness_policy(config),
            task_queue=task_queue,
            kinds=worker_kinds(config),
        ),
        TrackStore(store, deployment=config.metadata.name),
        workers=worker_kinds(config),
    )
    tracker = ExposureTracker(
        counter,
        bootstrap=kafka,
        deduper=Deduper(store, scope=DEDUPE_SCOPE),
        dead_letters=dead_letters,
        settings=TrackerSettings(events_topic=events_topic, group_id=group),
    )
    loop = asyncio.get_running_loop()
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(stop_signal, tracker.stop)
    print(
        f"wellness tracker ready: {events_topic} (group {group!r}) to task queue {task_queue!r}",
        file=sys.stderr,
        flush=True,
    )
    try:
        await tracker.run()
    finally:
        dead_letters.close()
        store.close()
    log.info("wellness tracker stopped: %d records, %s", counter.recorded, tracker.stats)
