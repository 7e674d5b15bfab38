"""`warmline worker` with `annotation.retraining.registry` set: it starts the retraining workflow
and promotes a better model once enough gold labels arrived, end to end in a real process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path

from temporalio.client import Client
from temporalio.service import RPCError

from tests.retraining.conftest import Deployment, write_config
from warmline.retraining import client as retraining
from warmline.retraining.contracts import retraining_workflow_id
from warmline.triage import registry

WARMLINE = Path(sys.executable).parent / "warmline"


def _start_worker(args: list[str], *, secrets_in: Path) -> tuple[subprocess.Popen[str], list[str]]:
    """`warmline worker ARGS` once it says it is ready, and what it said on stderr."""
    secrets = dict.fromkeys(re.findall(r"\$\{([A-Z0-9_]+)\}", secrets_in.read_text()), "token")
    process = subprocess.Popen(
        [str(WARMLINE), "worker", *args],
        env={**os.environ, **secrets, "WARMLINE_EVENTS_TOPIC": f"events-{uuid.uuid4().hex[:8]}"},
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    said: list[str] = []
    for line in process.stderr:
        said.append(line)
        if "worker ready" in line:
            # Keep draining: a full stderr pipe would block the worker's logging.
            threading.Thread(target=lambda: said.extend(process.stderr or []), daemon=True).start()
            break
    return process, said


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
    process, said = _start_worker(args, secrets_in=config)
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
