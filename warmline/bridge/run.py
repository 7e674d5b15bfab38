"""`warmline bridge`: run the inbound bridge until SIGTERM or SIGINT, then stop gracefully."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path

from redis import Redis

from warmline.bridge.inbound import CONSUMER_NAME, DEDUPE_SCOPE, BridgeSettings, InboundBridge
from warmline.bridge.shifts import ShiftStore
from warmline.config.loader import load_config
from warmline.events.deadletter import DeadLetters
from warmline.events.dedupe import Deduper
from warmline.reach import check_kafka, check_redis, temporal_client

log = logging.getLogger(__name__)

REDIS_TIMEOUT_S = 5.0
"""Socket timeouts of the bridge's Redis calls: a hung Redis is retried like a refused one."""


async def run_bridge(
    config_path: Path,
    *,
    temporal: str,
    namespace: str,
    kafka: str,
    redis: str,
    settings: BridgeSettings,
    dead_letter_topic: str,
) -> None:
    """Validate the configuration, connect, and bridge until a signal stops it.

    The bridge reads no secrets: it needs the tenants, specialists and escalation policy only.
    """
    config = load_config(config_path, resolve_secrets=False)
    client = await temporal_client(temporal, namespace)
    check_redis(redis)
    check_kafka(kafka)
    store = Redis.from_url(
        redis, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
    )
    dead_letters = DeadLetters.connect(kafka, consumer=CONSUMER_NAME, topic=dead_letter_topic)
    bridge = InboundBridge(
        client,
        config,
        bootstrap=kafka,
        deduper=Deduper(store, scope=DEDUPE_SCOPE),
        dead_letters=dead_letters,
        shifts=ShiftStore(store, deployment=config.metadata.name),
        settings=settings,
    )
    loop = asyncio.get_running_loop()
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(stop_signal, bridge.stop)
    print(
        f"bridge ready: {settings.messages_topic} and {settings.hr_topic} (group "
        f"{settings.group_id!r}) to task queue {settings.task_queue!r} on {temporal}",
        file=sys.stderr,
        flush=True,
    )
    try:
        await bridge.run()
    finally:
        dead_letters.close()
        store.close()
    log.info("bridge stopped: %s", bridge.stats)
