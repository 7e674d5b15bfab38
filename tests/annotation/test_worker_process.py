"""`warmline worker` as a real process, wired as it ships: an annotator's labels reach their
wellness workflow, which the same worker runs and which writes the Redis view routing and
assignment read."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import uuid
from pathlib import Path

from temporalio.client import Client
from temporalio.service import RPCError

from tests.worker_process import start_worker
from warmline.annotation.client import AnnotationLoop, start_loop, submit_texts
from warmline.annotation.model import TextItem, annotation_workflow_id, policy_from_config
from warmline.config.loader import load_config
from warmline.events.admin import ensure_topics
from warmline.events.types import WELLNESS_TOPIC
from warmline.wellness.types import wellness_workflow_id
from warmline.wellness.view import WellnessStateStore, WorkerWellness
from workflows.wellness import WellnessWorkflow

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "online-shop"


def _config(tmp_path: Path) -> Path:
    """The online-shop example under a name of this test's own (its Redis keys, workflow ids)."""
    where = tmp_path / "online-shop"
    shutil.copytree(EXAMPLE, where)
    path = where / "warmline.yaml"
    text = path.read_text(encoding="utf-8")
    name = text.split("metadata:\n  name: ", 1)[1].split("\n", 1)[0]
    unique = f"test-{uuid.uuid4().hex[:8]}"
    path.write_text(text.replace(f"metadata:\n  name: {name}", f"metadata:\n  name: {unique}"))
    return path


async def test_the_worker_counts_annotators_labels_in_their_wellness_workflow(
    dev_client: Client,
    temporal_address: str,
    kafka_bootstrap: str,
    redis_url: str,
    task_queue: str,
    tmp_path: Path,
) -> None:
    path = _config(tmp_path)
    config = load_config(path, resolve_secrets=False)
    policy = policy_from_config(config)
    topic = f"events-{uuid.uuid4().hex[:8]}"
    await asyncio.to_thread(ensure_topics, kafka_bootstrap, [topic, WELLNESS_TOPIC])
    args = ["--temporal", temporal_address, "--kafka", kafka_bootstrap, "--redis", redis_url]
    process, said = start_worker(
        ["--config", str(path), *args, "--task-queue", task_queue], secrets_in=path, topic=topic
    )
    views = WellnessStateStore.connect(redis_url, deployment=policy.deployment)
    started = [annotation_workflow_id(policy.deployment)]
    try:
        assert process.poll() is None, "".join(said)
        await start_loop(dev_client, policy, task_queue=task_queue)
        item = TextItem(item_id="shop/c1/m1/emotion", text="the refund never came", distress=0.8)
        await submit_texts(dev_client, policy, [item], task_queue=task_queue)
        loop = AnnotationLoop(dev_client, policy.deployment)
        for _ in range(100):
            result = await loop.next_task("an-sam")
            if result.task is not None:
                break
            await asyncio.sleep(0.1)
        assert result.task is not None, result.reason
        await asyncio.sleep(1.0)
        await loop.submit("an-sam", result.task.task_id, ["anger"])
        started.append(wellness_workflow_id(policy.deployment, "an-sam"))

        view = WorkerWellness(worker_id="an-sam")
        for _ in range(100):
            view = (await asyncio.to_thread(views.read, ["an-sam"]))["an-sam"]
            if view.exposure_minutes > 0:
                break
            await asyncio.sleep(0.1)
        # A second or so with a high-distress item, at the example's high weight (2.0).
        assert 0 < view.exposure_minutes < 1, "".join(said)
        assert view.kind == "annotator"
        assert set(view.exposure_by_queue) == {"annotation"}
        handle = dev_client.get_workflow_handle_for(WellnessWorkflow.run, started[-1])
        state = await handle.query(WellnessWorkflow.state)
        assert state.seen_records == ["annotation/shop/c1/m1/emotion"]
        assert "retraining off" in "".join(said), "the example sets no registry"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        views.close()
        for workflow_id in started:
            with contextlib.suppress(RPCError):
                await dev_client.get_workflow_handle(workflow_id).terminate()
    assert process.returncode == 0, "".join(said)
