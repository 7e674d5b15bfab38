"""`warmline annotate report`: the running loop's report, as text or JSON."""

from __future__ import annotations

import asyncio
import json

from typer.testing import CliRunner

from tests.annotation.conftest import LoopKit, make_policy, wait_for_tasks
from tests.api.conftest import PEER_SUPPORT
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
