"""`warmline worker`: run the workflows and activities until SIGTERM, then stop gracefully."""

from __future__ import annotations

import asyncio
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from activities.routing import ensure_roster
from warmline.config.loader import load_config
from warmline.config.model import WarmlineConfig
from warmline.errors import WarmlineError
from warmline.events import EventPublisher
from warmline.handoff import (
    CombinedProfileSource,
    CustomerProfileSource,
    RequestProfileSource,
    renderer_from_config,
)
from warmline.liveview import LiveView
from warmline.runtime import build_provider, roster_settings, routing_policy
from warmline.wellness.view import WellnessStateStore
from warmline.worker import ACTIVITY_THREADS, Routing, build_worker


def profile_sources(config: WarmlineConfig, base_dir: Path) -> CustomerProfileSource:
    """The request's own facts, then those of each connector `handoff.context.
    customer_profile_from` names, in that order."""
    from connectors.sdk.run import build

    sources: list[CustomerProfileSource] = [RequestProfileSource()]
    for name in config.handoff.context.customer_profile_from:
        entry = next(c for c in config.connectors if c.name == name)
        source = build(entry, base_dir=base_dir).profile_source()
        if source is None:
            raise WarmlineError(
                f"connector {name!r} (type {entry.type}) cannot look up customer profiles; "
                "remove it from handoff.context.customer_profile_from"
            )
        sources.append(source)
    return CombinedProfileSource(sources)


async def run_worker(
    config_path: Path,
    *,
    temporal: str,
    namespace: str,
    kafka: str,
    redis: str,
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
    live_view = LiveView.connect(redis)
    wellness = WellnessStateStore.connect(redis, deployment=config.metadata.name)
    routing = Routing(
        roster=roster_settings(config),
        live_view=live_view,
        renderer=renderer_from_config(config.handoff),
        profiles=profile_sources(config, config_path.parent),
        wellness=wellness,
    )
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
                routing=routing,
            )
            async with worker:
                roster_id = routing_policy(config, task_queue=task_queue).roster_id
                await ensure_roster(client, roster_id, routing.roster, task_queue=task_queue)
                if not await asyncio.to_thread(live_view.is_built):
                    rebuilt = await live_view.rebuild(client, task_queue=task_queue)
                    print(f"live view rebuilt: {rebuilt} escalation(s)", file=sys.stderr)
                print(
                    f"worker ready: task queue {task_queue!r} on {temporal}, events to {kafka}",
                    file=sys.stderr,
                    flush=True,
                )
                await stop.wait()
                print("shutting down: finishing in-flight activities", file=sys.stderr, flush=True)
    finally:
        publisher.close()
        live_view.close()
        wellness.close()
