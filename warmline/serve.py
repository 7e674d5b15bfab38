"""`warmline worker`: run the workflows and activities until SIGTERM, then stop gracefully."""

from __future__ import annotations

import asyncio
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from temporalio.client import Client

from activities.retraining import RetrainingActivities
from activities.routing import ensure_roster
from warmline.config.loader import load_config
from warmline.config.model import WarmlineConfig
from warmline.errors import WarmlineError
from warmline.events import EventPublisher
from warmline.events.types import DEADLETTER_TOPIC
from warmline.handoff import (
    CombinedProfileSource,
    CustomerProfileSource,
    RequestProfileSource,
    renderer_from_config,
)
from warmline.liveview import LiveView
from warmline.reach import check_kafka, check_redis, temporal_client
from warmline.retraining.client import ensure_retraining
from warmline.retraining.settings import (
    RetrainingDisabledError,
    RetrainingSettings,
    retraining_settings,
)
from warmline.retraining.shadow import ShadowLog
from warmline.runtime import (
    build_provider,
    redactor_for,
    roster_settings,
    routing_policy,
    wellness_policy,
    worker_kinds,
)
from warmline.wellness.client import WellnessClient
from warmline.wellness.view import WellnessStateStore
from warmline.worker import (
    ACTIVITY_THREADS,
    GRACEFUL_SHUTDOWN,
    Annotation,
    Routing,
    build_worker,
)

REDIS_TIMEOUT_S = 1.0
POLICY_RPC_TIMEOUT = timedelta(seconds=10)
"""How long start-up waits for Temporal to take one worker's new wellness policy."""


def profile_sources(config: WarmlineConfig, base_dir: Path) -> CustomerProfileSource:
    """The request's own facts, then those of each connector `handoff.context.
    customer_profile_from` names, in that order."""
    from connectors.sdk.run import build

    sources: list[CustomerProfileSource] = [RequestProfileSource()]
    for name in config.handoff.context.customer_profile_from:
        entry = next(c for c in config.connectors if c.name == name)
        source = build(config, entry, base_dir=base_dir).profile_source()
        if source is None:
            raise WarmlineError(
                f"connector {name!r} (type {entry.type}) cannot look up customer profiles; "
                "remove it from handoff.context.customer_profile_from"
            )
        sources.append(source)
    return CombinedProfileSource(sources)


def annotation_services(
    config: WarmlineConfig,
    redis_url: str,
    wellness: WellnessStateStore,
    *,
    client: Client,
    task_queue: str,
    retraining: RetrainingSettings | None,
) -> Annotation:
    """The annotation loop's stores for this deployment, a redactor that also knows the names
    of the configured people, the wellness client that counts annotators' work (their wellness
    workflows run on `task_queue` and write the worker's wellness view) and the retraining
    settings gold labels are announced to (None: retraining is off)."""
    from warmline.annotation.gold import GoldLabelStore
    from warmline.annotation.model import policy_from_config

    deployment = config.metadata.name
    if retraining is not None:
        recorded = policy_from_config(config).model_taxonomy
        if recorded != retraining.taxonomy:
            print(
                f"warning: gold labels are recorded in the {recorded!r} taxonomy but retraining "
                f"trains {retraining.taxonomy!r}: new gold labels will not trigger it; set "
                f"annotation.retraining.taxonomy: {recorded}",
                file=sys.stderr,
            )
    return Annotation(
        gold=GoldLabelStore.connect(redis_url, deployment=deployment),
        wellness=wellness,
        redactor=redactor_for(config),
        exposure=WellnessClient(
            client,
            deployment=deployment,
            policy=wellness_policy(config),
            task_queue=task_queue,
            kinds=worker_kinds(config),
        ),
        retraining=retraining,
    )


async def refresh_live_view(live_view: LiveView, client: Client, task_queue: str) -> None:
    """Rebuild the live view from this deployment's workflows if it was lost; else remove what it
    still shows of escalations that have ended (their last update never reached Redis), so
    restarting a worker repairs the view."""
    if not await asyncio.to_thread(live_view.is_built):
        rebuilt = await live_view.rebuild(client, task_queue=task_queue)
        print(
            f"live view rebuilt: {rebuilt.applied} escalation(s) applied, "
            f"{len(rebuilt.removed)} ended one(s) removed, {len(rebuilt.skipped)} workflow(s) "
            "skipped (no answer; see the log)",
            file=sys.stderr,
        )
        return
    removed = await live_view.reconcile(client, task_queue=task_queue)
    if removed:
        print(f"live view: removed {len(removed)} ended escalation(s)", file=sys.stderr)


async def apply_wellness_policy(config: WarmlineConfig, client: Client, task_queue: str) -> None:
    """Hand the configured `wellness` policy to every configured worker's running wellness
    workflow, so a changed section reaches them (those not running start with it). A workflow
    that cannot be reached keeps its policy until the next start; it does not stop this one."""
    applied = await WellnessClient(
        client,
        deployment=config.metadata.name,
        policy=wellness_policy(config),
        task_queue=task_queue,
        kinds=worker_kinds(config),
        rpc_timeout=POLICY_RPC_TIMEOUT,
    ).apply_policy()
    print(
        f"wellness policy: handed to {len(applied.signalled)} running workflow(s), "
        f"{len(applied.not_running)} not running, {len(applied.failed)} failed",
        file=sys.stderr,
    )
    for worker_id, reason in applied.failed.items():
        print(
            f"warning: the wellness workflow of {worker_id!r} keeps its old policy: {reason}",
            file=sys.stderr,
        )


async def run_worker(
    config_path: Path,
    *,
    temporal: str,
    namespace: str,
    kafka: str,
    redis: str,
    task_queue: str,
    events_topic: str,
    dead_letter_topic: str = DEADLETTER_TOPIC,
) -> None:
    """Serve until SIGTERM or SIGINT; in-flight activities finish (within `GRACEFUL_SHUTDOWN`)
    before the process exits."""
    config = load_config(config_path)
    # Retries belong to Temporal; the short timeouts keep an unreachable Redis from holding up
    # triage, which records shadow results through this client.
    store = Redis.from_url(
        redis,
        retry=Retry(NoBackoff(), 0),
        socket_timeout=REDIS_TIMEOUT_S,
        socket_connect_timeout=REDIS_TIMEOUT_S,
    )
    provider = build_provider(
        config.triage.provider, shadow_log=ShadowLog(store, deployment=config.metadata.name)
    )
    retraining: RetrainingSettings | None = None
    try:
        retraining = retraining_settings(config)
    except RetrainingDisabledError as reason:
        print(f"retraining off: {reason}", file=sys.stderr)
    client = await temporal_client(temporal, namespace)
    check_redis(redis)
    check_kafka(kafka)
    publisher = EventPublisher.connect(
        kafka, topic=events_topic, dead_letter_topic=dead_letter_topic
    )
    live_view = LiveView.connect(redis)
    wellness = WellnessStateStore.connect(redis, deployment=config.metadata.name)
    routing = Routing(
        roster=roster_settings(config),
        live_view=live_view,
        renderer=renderer_from_config(config),
        profiles=profile_sources(config, config_path.parent),
        wellness=wellness,
    )
    annotation = annotation_services(
        config, redis, wellness, client=client, task_queue=task_queue, retraining=retraining
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
                retraining=(RetrainingActivities(client, store, publisher) if retraining else None),
                annotation=annotation,
                graceful_shutdown=GRACEFUL_SHUTDOWN,
            )
            async with worker:
                if retraining is not None:
                    await ensure_retraining(client, retraining, task_queue=task_queue)
                roster_id = routing_policy(config, task_queue=task_queue).roster_id
                await ensure_roster(client, roster_id, routing.roster, task_queue=task_queue)
                await apply_wellness_policy(config, client, task_queue)
                await refresh_live_view(live_view, client, task_queue)
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
        store.close()
        annotation.gold.close()
        wellness.close()
