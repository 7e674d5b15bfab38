"""`warmline annotate report` against a loop nobody runs: the command ends with one line saying
the loop did not answer, and exit status 1, instead of waiting for ever.

Real dev server, a namespace of its own, the loop started on a task queue no worker polls, and
the real command in a process of its own.
"""

from __future__ import annotations

import asyncio
import subprocess
import uuid

from temporalio.client import Client

from tests.annotation.conftest import make_policy
from tests.api.conftest import PEER_SUPPORT
from tests.worker_process import WARMLINE
from warmline.annotation.client import start_loop
from warmline.annotation.sampler import REPORT_WAIT

PATIENCE_S = 120.0
"""How long the test lets the command run before it calls it hung: far above its bound (and a
slow machine's start-up), far below "for ever"."""


async def test_a_report_nobody_answers_ends_with_one_line_and_exit_1(
    namespace_client: Client, temporal_address: str
) -> None:
    # The example's deployment name: the command finds the loop by the configuration.
    policy = make_policy(deployment="peer-support")
    await start_loop(namespace_client, policy, task_queue=f"nobody-polls-{uuid.uuid4()}")
    command = [
        str(WARMLINE),
        "annotate",
        "report",
        "--config",
        str(PEER_SUPPORT),
        "--temporal",
        temporal_address,
        "--namespace",
        namespace_client.namespace,
    ]

    try:
        done = await asyncio.to_thread(
            subprocess.run,
            command,
            capture_output=True,
            text=True,
            timeout=PATIENCE_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise AssertionError(
            f"no answer after {PATIENCE_S:g} s: the command waits for ever"
        ) from None

    assert done.returncode == 1, done.stderr
    assert done.stderr == (
        "error: the annotation loop of 'peer-support' did not answer within "
        f"{REPORT_WAIT.total_seconds():g} s (are the workers running?); try again\n"
    )
