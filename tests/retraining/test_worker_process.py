"""`warmline worker` with `annotation.retraining.registry` set: it starts the retraining workflow
and promotes a better model once enough gold labels arrived, end to end in a real process."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import uuid
from pathlib import Path

from temporalio.client import Client
from temporalio.service import RPCError

from tests.retraining.conftest import Deployment, write_config
from tests.worker_process import start_worker
from warmline.retraining import client as retraining
from warmline.retraining.contracts import retraining_workflow_id
from warmline.triage import registry


async def test_the_worker_runs_retraining_from_the_configuration(
    dev_client: Client,
    deployment: Deployment,
    tmp_path: Path,
    temporal_address: str,
    kafka_bootstrap: str,
    redis_url: str,
) -> None:
    config = write_config(tmp_path, deployment, extra="    check_interval: 1h\n")
    args = ["--config", str(config), "--temporal", temporal_address, "--kafka", kafka_bootstrap]
    args += ["--redis", redis_url, "--task-queue", f"test-{uuid.uuid4()}"]
    process, said = start_worker(args, secrets_in=config, topic=f"events-{uuid.uuid4().hex[:8]}")
    settings = deployment.settings
    try:
        assert process.poll() is None, "".join(said)
        status = await retraining.status(dev_client, settings.deployment, settings.taxonomy)
        assert (status.rounds, status.trained_through) == (0, 0)

        deployment.add_gold(0, 300)
        await retraining.notify_gold_labels(dev_client, settings.deployment, settings.taxonomy)
        for _ in range(300):
            status = await retraining.status(dev_client, settings.deployment, settings.taxonomy)
            if status.last_decision is not None and not status.running:
                break
            await asyncio.sleep(0.2)
        assert status.last_decision is not None, "".join(said)
        assert status.last_decision.outcome == "promoted", status.last_decision.reason
        assert registry.current(settings.registry / settings.taxonomy) == "v2"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        with contextlib.suppress(RPCError):
            await dev_client.get_workflow_handle(
                retraining_workflow_id(settings.deployment, settings.taxonomy)
            ).terminate()
    assert process.returncode == 0, "".join(said)
