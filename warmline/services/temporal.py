"""The Temporal dev server (the CLI's `server start-dev`), ready when its health check passes."""

from __future__ import annotations

import subprocess
from pathlib import Path

from warmline.services.base import RunningService, ServiceName
from warmline.services.binaries import temporal_cli_path
from warmline.services.ports import LOOPBACK, free_port
from warmline.services.process import ServiceProcess

READY_TIMEOUT_S = 60.0


def start_temporal(workdir: Path, *, persist: bool) -> RunningService:
    """Start a dev server on free ports; with `persist`, state lives in a SQLite file in workdir."""
    cli = temporal_cli_path()
    port, http_port, metrics_port = free_port(), free_port(), free_port()
    command = [
        str(cli), "server", "start-dev",
        "--ip", LOOPBACK, "--port", str(port), "--http-port", str(http_port),
        "--metrics-port", str(metrics_port), "--headless",
        "--log-level", "warn", "--log-format", "pretty",
    ]  # fmt: skip
    if persist:
        command += ["--db-filename", str(workdir / "temporal.db")]
    address = f"{LOOPBACK}:{port}"
    process = ServiceProcess.spawn("temporal", command, workdir / "temporal.log")

    def healthy() -> bool:
        probe = subprocess.run(
            [str(cli), "operator", "cluster", "health", "--address", address],
            capture_output=True,
            timeout=10,
            check=False,
        )
        return probe.returncode == 0

    process.wait_ready(healthy, READY_TIMEOUT_S)
    return RunningService(ServiceName.TEMPORAL, address, process)
