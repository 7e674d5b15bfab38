"""`warmline annotate report`: the running loop's report, as text or JSON."""

from __future__ import annotations

import asyncio
import json
import subprocess
from concurrent.futures import ThreadPoolExecutor

from typer.testing import CliRunner

from tests.annotation.conftest import LoopKit, make_policy, wait_for_tasks
from tests.api.conftest import PEER_SUPPORT
from tests.worker_process import WARMLINE
from warmline.annotation.client import submit_texts
from warmline.annotation.model import TextItem
from warmline.cli import app


async def report(kit: LoopKit, *args: str) -> tuple[int, str, str]:
    address = kit.client.service_client.config.target_host
    runner = CliRunner()
    result = await asyncio.to_thread(
        runner.invoke,
        app,
        ["annotate", "report", "--config", str(PEER_SUPPORT), "--temporal", address, *args],
    )
    return result.exit_code, result.stdout, result.stderr


async def test_report_as_text_and_json(kit: LoopKit) -> None:
    code, _, err = await report(kit)
    assert code == 1
    assert "annotation loop of 'peer-support' is not running" in err

    # The example's deployment name: the command finds the loop by the configuration.
    policy = make_policy(deployment="peer-support")
    loop = await kit.start(policy)
    await submit_texts(
        kit.client,
        policy,
        [TextItem(item_id=f"t/c1/m{n}/emotion", text="so glad") for n in range(2)],
        task_queue=kit.task_queue,
    )
    await wait_for_tasks(loop, 2)
    for annotator in ("an-ada", "an-ben"):
        for _ in range(2):
            task = (await loop.next_task(annotator)).task
            assert task is not None
            await loop.submit(annotator, task.task_id, ["joy"])
    await loop.flush()

    code, out, _ = await report(kit, "--json")
    assert code == 0
    data = json.loads(out)
    assert data["gold"] == 2
    assert data["batches"][0]["items"] == 2
    code, out, _ = await report(kit)
    assert code == 0
    assert "gold 2" in out
    assert "batch 1 (emotion)" in out


def test_a_short_lived_client_command_never_aborts_at_exit(temporal_address: str) -> None:
    """Temporal's core could abort a process at interpreter teardown (`PyGILState_Release`, exit
    134; temporalio/sdk-python#300): 2 of 46 runs of this very command did before the CLI ended
    such processes without the teardown. Each run must exit with its own status and message."""
    command = [str(WARMLINE), "annotate", "report", "--config", str(PEER_SUPPORT)]

    def run(_: int) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, "--temporal", temporal_address],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    # Three at a time: each run is its own process all the same, and the suite's clock is short.
    with ThreadPoolExecutor(max_workers=3) as pool:
        outcomes = list(pool.map(run, range(12)))
    assert [o.returncode for o in outcomes] == [1] * 12, [o.stderr for o in outcomes]
    assert all(
        o.stderr == "error: the annotation loop of 'peer-support' is not running\n"
        for o in outcomes
    )
