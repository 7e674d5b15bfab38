"""How `warmline demo` ends against shared services: at its end, or stopped half-way as a person
(Ctrl-C) or a CI job's timeout (SIGTERM) stops it, with the shell's status for the signal and no
traceback. Either way nothing of the run is left running: not its workflows on the shared Temporal
(no worker will serve their task queue again), not the services it started."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio.client import Client

from tests.worker_process import WARMLINE

MANY = "400"
"""More conversations than a run can finish before the test stops it."""
ESCALATING_WITHIN_S = 180.0
STOPPED_WITHIN_S = 120.0
"""Far more than the demo's ten seconds for its worker and the stop of its Redis."""
VISIBLE_WITHIN_S = 30.0


async def escalations_running(client: Client, since: datetime) -> bool:
    """Whether an escalation started since `since` is running: the worker's activities (the
    roster's reserve, the live view) are then in flight."""
    query = (
        "WorkflowType = 'EscalationWorkflow' AND ExecutionStatus = 'Running' "
        f"AND StartTime > '{since.isoformat()}'"
    )
    async for _ in client.list_workflows(query, limit=1):
        return True
    return False


async def left_running(client: Client, since: datetime) -> list[str]:
    """The workflows of demo runs started since `since` still running once the list of workflows
    (which follows their ends a moment late) has had `VISIBLE_WITHIN_S` to show them ended."""
    query = f"ExecutionStatus = 'Running' AND StartTime > '{since.isoformat()}'"
    deadline = time.monotonic() + VISIBLE_WITHIN_S
    while True:
        running = [
            f"{found.workflow_type} {found.id}"
            async for found in client.list_workflows(query)
            if (found.task_queue or "").startswith("warmline-demo-")
        ]
        if not running or time.monotonic() > deadline:
            return running
        await asyncio.sleep(0.5)


async def test_a_finished_demo_leaves_nothing_running(
    dev_client: Client, temporal_address: str, kafka_bootstrap: str, redis_url: str
) -> None:
    """Its roster was once left running for good, one more per run."""
    began = datetime.now(UTC)
    process = await asyncio.create_subprocess_exec(
        *(str(WARMLINE), "demo", "--json", "--conversations", "2"),
        *("--temporal", temporal_address, "--kafka", kafka_bootstrap, "--redis", redis_url),
        env={**os.environ, "NO_COLOR": "1"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), ESCALATING_WITHIN_S)
    finally:
        if process.returncode is None:
            process.kill()
            await process.communicate()

    assert process.returncode == 0, stderr.decode()
    assert await left_running(dev_client, began) == []


@pytest.mark.parametrize(
    ("stop", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["sigterm", "ctrl-c"]
)
async def test_a_stopped_demo_exits_with_the_signals_status_and_leaves_nothing(
    stop: signal.Signals,
    status: int,
    dev_client: Client,
    temporal_address: str,
    kafka_bootstrap: str,
    tmp_path: Path,
) -> None:
    """Redis is the demo's own (started under `tmp_path`), so stopping it fails the activities
    in flight: the SDK's warning for each, with its traceback, once reached the terminal."""
    began = datetime.now(UTC)
    process = await asyncio.create_subprocess_exec(
        *(str(WARMLINE), "demo", "--json", "--conversations", MANY),
        *("--temporal", temporal_address, "--kafka", kafka_bootstrap),
        env={**os.environ, "NO_COLOR": "1", "TMPDIR": str(tmp_path)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(ESCALATING_WITHIN_S):
            while not await escalations_running(dev_client, began):
                assert process.returncode is None, "the demo ended before it was stopped"
                await asyncio.sleep(0.5)
        process.send_signal(stop)
        stdout, stderr = await asyncio.wait_for(process.communicate(), STOPPED_WITHIN_S)
    finally:
        if process.returncode is None:
            process.kill()
            await process.communicate()

    log = stderr.decode()
    assert process.returncode == status, log
    assert "Traceback" not in log
    assert "Completing activity as failed" not in log
    assert stdout == b"", "no summary of a run that did not finish"
    left = await asyncio.to_thread(lambda: list(tmp_path.glob("warmline-services-*")))
    assert left == [], "its Redis stopped, its scratch directory removed"
    assert await left_running(dev_client, began) == []
