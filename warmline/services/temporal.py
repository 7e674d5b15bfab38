"""The Temporal dev server (the CLI's `server start-dev`), ready when a real client connects."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError

from warmline.services.base import RunningService, ServiceName
from warmline.services.binaries import temporal_cli_path
from warmline.services.ports import LOOPBACK, free_port, is_listening
from warmline.services.process import ServiceProcess

READY_TIMEOUT_S = 60.0
_PROBE_TIMEOUT_S = 10.0


async def _namespace_answers(address: str, namespace: str) -> None:
    client = await Client.connect(address, namespace=namespace)
    await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=namespace))


async def _namespace_answers_in_time(address: str, namespace: str) -> None:
    """`_namespace_answers`, given up after `_PROBE_TIMEOUT_S`: the client's connect to a port
    that takes connections but never answers ends only after 30 s, and the thread running it is
    waited for before the probe returns."""
    await asyncio.wait_for(_namespace_answers(address, namespace), _PROBE_TIMEOUT_S)


def answers_clients(address: str, namespace: str = "default") -> bool:
    """Whether a real client connects to `address` and the namespace is registered.

    The probe runs its own event loop on a worker thread, so callers may be inside a running loop
    (an async test) or none at all (the CLI).
    """
    host, _, port = address.rpartition(":")
    if not is_listening(int(port), host):
        return False
    with ThreadPoolExecutor(max_workers=1) as pool:
        probe = pool.submit(asyncio.run, _namespace_answers_in_time(address, namespace))
        try:
            probe.result()
        except (RPCError, RuntimeError, OSError, TimeoutError):
            return False
    return True


def start_temporal(
    workdir: Path, *, persist: bool, outlives_parent: bool = False
) -> RunningService:
    """Start a dev server on free ports; with `persist`, state lives in a SQLite file in workdir."""
    port, http_port, metrics_port = free_port(), free_port(), free_port()
    command = [
        str(temporal_cli_path()), "server", "start-dev",
        "--ip", LOOPBACK, "--port", str(port), "--http-port", str(http_port),
        "--metrics-port", str(metrics_port), "--headless",
        "--log-level", "warn", "--log-format", "pretty",
    ]  # fmt: skip
    if persist:
        command += ["--db-filename", str(workdir / "temporal.db")]
    address = f"{LOOPBACK}:{port}"
    process = ServiceProcess.spawn(
        "temporal", command, workdir / "temporal.log", outlives_parent=outlives_parent
    )
    process.wait_ready(lambda: answers_clients(address), READY_TIMEOUT_S)
    return RunningService(ServiceName.TEMPORAL, address, process)
