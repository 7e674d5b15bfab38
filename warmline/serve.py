"""`warmline worker`: run the workflows and activities until SIGTERM, then stop gracefully."""

from __future__ import annotations

import asyncio
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from warmline.config.loader import load_config
from warmline.events import EventPublisher
from warmline.runtime import build_provider
from warmline.worker import ACTIVITY_THREADS, build_worker


async def run_worker(
    config_path: Path,
    *,
    temporal: str,
    namespace: str,
    kafka: str,
    task_queue: str,
    events_topic: str,
) -> None:
    """Serve until SIGTERM or SIGINT; in-flight activities finish before the process exits."""
    config = load_config(config_path)
    provider = build_provider(config.triage.provider)
    client = await Client.connect(
        temporal, namespace=namespace, data_converter=pydantic_data_converter
    )
    publisher = EventPublisher.connect(kafka, topic=events_topic)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        with ThreadPoolExecutor(max_workers=ACTIVITY_THREADS) as executor:
            worker = build_worker(
                client,
                provider=provider,
                publisher=publisher,
                task_queue=task_queue,
                executor=executor,
            )
            async with worker:
                print(
                    f"worker ready: task queue {task_queue!r} on {temporal}, events to {kafka}",
                    file=sys.stderr,
                    flush=True,
                )
                await stop.wait()
                print("shutting down: finishing in-flight activities", file=sys.stderr, flush=True)
    finally:
        publisher.close()
