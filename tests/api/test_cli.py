"""`warmline api` as a process: serves health on its port and stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.api.conftest import PEER_SUPPORT

SERVICE = "warmline.v1.SpecialistService"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def test_warmline_api_serves_and_stops_on_sigterm(
    temporal_address: str, redis_url: str
) -> None:
    names = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", PEER_SUPPORT.read_text()))
    env = {**os.environ, **{name: f"secret-{name}" for name in names}}
    port = free_port()
    command = [sys.executable, "-m", "warmline.cli", "api", "--config", str(PEER_SUPPORT)]
    command += ["--temporal", temporal_address, "--redis", redis_url]
    command += ["--listen", f"127.0.0.1:{port}"]
    process = await asyncio.create_subprocess_exec(
        *command, env=env, stderr=asyncio.subprocess.PIPE
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            response = await health.Check(
                health_pb2.HealthCheckRequest(service=SERVICE), wait_for_ready=True, timeout=30
            )
        assert response.status == health_pb2.HealthCheckResponse.SERVING

        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode == 0, stderr.decode()
    finally:
        if process.returncode is None:
            process.kill()
            await process.communicate()


def test_an_invalid_config_exits_2_with_its_diagnostics() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "warmline.cli", "api", "--config", str(PEER_SUPPORT)],
        env={k: v for k, v in os.environ.items() if not k.startswith("WARMLINE_TOKEN")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert completed.returncode == 2
    assert "WARMLINE_TOKEN_VOL_AOIFE" in completed.stderr
