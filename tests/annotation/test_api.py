"""The annotator gRPC API over a real grpc.aio channel, in front of the real annotation loop."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import grpc
import pytest

from tests.annotation.conftest import LoopKit, wait_for_tasks
from tests.api.conftest import load_peer_support
from warmline.annotation.annotators import work_tasks
from warmline.annotation.client import (
    AnnotationLoop,
    AnnotationUnavailableError,
    submit_texts,
)
from warmline.annotation.model import TextItem, annotation_workflow_id, policy_from_config
from warmline.api.annotator import AnnotatorService
from warmline.api.auth import Authenticator
from warmline.api.desk import Desk
from warmline.api.server import start_server
from warmline.api.v1 import annotator_pb2 as pb
from warmline.api.v1 import annotator_pb2_grpc as pb_grpc
from warmline.config.model import WarmlineConfig
from warmline.liveview import LiveView
from workflows.annotation import AnnotationWorkflow

PEOPLE = ("an-kit", "an-dee", "an-ash", "an-yu", "sup-night")
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"
"""Nothing listens on port 1: every connection is refused."""


def bearer(config: WarmlineConfig, worker_id: str) -> tuple[tuple[str, str], ...]:
    secrets = {a.id: a.token for a in config.annotation.annotators} | {
        s.id: s.token for s in config.routing.supervisors
    }
    return (("authorization", f"Bearer {secrets[worker_id].reveal()}"),)


@dataclass
class Served:
    config: WarmlineConfig
    stub: pb_grpc.AnnotatorServiceStub
    loop: AnnotationLoop

    def auth(self, worker_id: str) -> tuple[tuple[str, str], ...]:
        return bearer(self.config, worker_id)


@pytest.fixture
async def served(kit: LoopKit, redis_url: str) -> AsyncIterator[Served]:
    base = load_peer_support()
    # A deployment of its own, so the loop's workflow id is this test's alone.
    config = base.model_copy(
        update={"metadata": base.metadata.model_copy(update={"name": f"ps-{uuid.uuid4().hex[:8]}"})}
    )
    policy = policy_from_config(config, batch_size=2).model_copy(update={"overlap": 2})
    loop = await kit.start(policy)
    await submit_texts(
        kit.client,
        policy,
        [
            TextItem(
                item_id="open-door/c9/m1/emotion",
                conversation_id="c9",
                text="Call me on 07911 123456, I'm Margaret Thompson, I feel hopeless",
                distress=0.8,
            )
        ],
        task_queue=kit.task_queue,
    )
    await wait_for_tasks(loop, 1)
    live_view = LiveView.connect(redis_url, prefix=f"test-{uuid.uuid4().hex[:8]}")
    with ThreadPoolExecutor(4) as executor:
        desk = Desk(kit.client, live_view, config, executor)
        server, port = await start_server(
            desk,
            Authenticator.from_config(config),
            "127.0.0.1:0",
            annotator=AnnotatorService(kit.client, config, wellness=kit.exposure),
        )
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        try:
            yield Served(config, pb_grpc.AnnotatorServiceStub(channel), loop)
        finally:
            await channel.close(None)  # no grace, as the default: grpc-stubs omits it
            await server.stop(grace=None)
            live_view.close()


async def code_of(call: object) -> grpc.StatusCode:
    try:
        await call  # type: ignore[misc]  # a grpc.aio unary call is awaitable
    except grpc.aio.AioRpcError as error:
        return error.code()
    raise AssertionError("the call succeeded")


async def test_annotator_flow_and_every_bad_input(served: Served) -> None:
    stub = served.stub
    assert await code_of(stub.NextTask(pb.NextTaskRequest())) == grpc.StatusCode.UNAUTHENTICATED
    wrong = (("authorization", "Bearer nope"),)
    assert (
        await code_of(stub.NextTask(pb.NextTaskRequest(), metadata=wrong))
        == grpc.StatusCode.UNAUTHENTICATED
    )
    # A specialist's token is not an annotator's.
    specialist = served.config.routing.specialists[0].token.reveal()
    as_specialist = (("authorization", f"Bearer {specialist}"),)
    assert (
        await code_of(stub.NextTask(pb.NextTaskRequest(), metadata=as_specialist))
        == grpc.StatusCode.UNAUTHENTICATED
    )

    got = await stub.NextTask(pb.NextTaskRequest(), metadata=served.auth("an-dee"))
    task = got.task
    assert task.task_id == "open-door/c9/m1/emotion"
    # High distress: blurred behind a content warning until the annotator opts in.
    assert task.blurred
    assert task.text == ""
    assert task.content_warning
    shown = await stub.RevealText(
        pb.RevealTextRequest(task_id=task.task_id), metadata=served.auth("an-dee")
    )
    # Personal data never reaches the annotator.
    assert "07911" not in shown.text
    assert "Margaret" not in shown.text
    assert "Thompson" not in shown.text
    assert "{{PHONE}}" in shown.text
    assert "{{NAME}}" in shown.text
    assert "hopeless" in shown.text

    def submit(worker: str, labels: list[str], task_id: str = task.task_id) -> object:
        return stub.SubmitLabels(
            pb.SubmitLabelsRequest(task_id=task_id, labels=labels), metadata=served.auth(worker)
        )

    assert await code_of(submit("an-dee", ["hopelessness"])) == grpc.StatusCode.INVALID_ARGUMENT
    assert await code_of(submit("an-dee", [])) == grpc.StatusCode.INVALID_ARGUMENT
    assert await code_of(submit("an-dee", ["Not A Label"])) == grpc.StatusCode.INVALID_ARGUMENT
    assert await code_of(submit("an-ash", ["sadness"])) == grpc.StatusCode.PERMISSION_DENIED
    assert await code_of(submit("an-dee", ["sadness"], "x/y/z")) == grpc.StatusCode.NOT_FOUND
    assert (
        await code_of(
            stub.SkipTask(
                pb.SkipTaskRequest(task_id=task.task_id, reason=" "),
                metadata=served.auth("an-dee"),
            )
        )
        == grpc.StatusCode.INVALID_ARGUMENT
    )
    assert (
        await code_of(
            stub.GetAgreementReport(pb.GetAgreementReportRequest(), metadata=served.auth("an-dee"))
        )
        == grpc.StatusCode.PERMISSION_DENIED
    )

    flagged = await stub.FlagDistressing(
        pb.FlagDistressingRequest(task_id=task.task_id, note="heavy"),
        metadata=served.auth("an-dee"),
    )
    assert not flagged.duplicate
    first = await stub.SubmitLabels(
        pb.SubmitLabelsRequest(task_id=task.task_id, labels=["sadness"]),
        metadata=served.auth("an-dee"),
    )
    assert not first.duplicate
    again = await stub.SubmitLabels(
        pb.SubmitLabelsRequest(task_id=task.task_id, labels=["sadness"]),
        metadata=served.auth("an-dee"),
    )
    assert again.duplicate
    assert await code_of(submit("an-dee", ["fear"])) == grpc.StatusCode.ALREADY_EXISTS
    [open_task] = await served.loop.tasks()
    assert open_task.labels == {"an-dee": ["sadness"]}, "counted once"

    second = await stub.NextTask(pb.NextTaskRequest(), metadata=served.auth("an-ash"))
    assert second.task.task_id == task.task_id
    await stub.RevealText(
        pb.RevealTextRequest(task_id=task.task_id), metadata=served.auth("an-ash")
    )
    await submit("an-ash", ["sadness"])  # type: ignore[misc]  # awaitable unary call
    await served.loop.flush()
    report = await stub.GetAgreementReport(
        pb.GetAgreementReportRequest(), metadata=served.auth("sup-night")
    )
    assert report.gold == 1
    assert report.flags == 1
    assert [b.items for b in report.batches] == [1]
    empty = await stub.NextTask(pb.NextTaskRequest(), metadata=served.auth("an-kit"))
    assert not empty.HasField("task")
    assert empty.reason


async def test_simulated_annotators_close_the_loop(served: Served, kit: LoopKit) -> None:
    policy = policy_from_config(served.config, batch_size=2).model_copy(update={"overlap": 2})
    await submit_texts(
        kit.client,
        policy,
        [
            TextItem(item_id=f"open-door/c9/m{n}/emotion", conversation_id="c9", text=text)
            for n, text in ((2, "thank you so much"), (3, "this is wonderful news"))
        ],
        task_queue=kit.task_queue,
    )
    await wait_for_tasks(served.loop, 3)

    def choose(task: pb.AnnotationTask) -> list[str]:
        return ["sadness"] if "hopeless" in task.text else ["gratitude"]

    runs = {
        worker: await work_tasks(
            served.stub, served.config.annotation.annotators[i].token.reveal(), choose
        )
        for i, worker in enumerate(("an-kit", "an-dee", "an-ash"))
    }
    assert sum(run.labelled for run in runs.values()) == 3 * 2, "k=2 labels for each of 3 items"
    assert all(run.reason for run in runs.values())
    await served.loop.flush()
    report = await served.loop.report()
    assert report.gold == 3
    assert kit.gold.count("original") == 3


async def test_an_annotator_sets_their_own_availability_and_nobody_elses(served: Served) -> None:
    stub = served.stub
    away = pb.SetAnnotatorAvailabilityRequest(available=False)
    assert await code_of(stub.SetAvailability(away)) == grpc.StatusCode.UNAUTHENTICATED
    nobody = (("authorization", "Bearer nope"),)
    assert (
        await code_of(stub.SetAvailability(away, metadata=nobody))
        == grpc.StatusCode.UNAUTHENTICATED
    )
    # A specialist's token is not an annotator's (theirs is SpecialistService.SetAvailability).
    specialist = served.config.routing.specialists[0].token.reveal()
    as_specialist = (("authorization", f"Bearer {specialist}"),)
    assert (
        await code_of(stub.SetAvailability(away, metadata=as_specialist))
        == grpc.StatusCode.UNAUTHENTICATED
    )
    assert (
        await code_of(stub.SetAvailability(away, metadata=served.auth("sup-night")))
        == grpc.StatusCode.PERMISSION_DENIED
    )

    gone = await stub.SetAvailability(away, metadata=served.auth("an-dee"))
    assert not gone.available
    assert not gone.in_shift
    refused = await stub.NextTask(pb.NextTaskRequest(), metadata=served.auth("an-dee"))
    assert not refused.HasField("task")
    assert "unavailable" in refused.reason
    # The token names whose availability changes: everyone else still gets work.
    other = await stub.NextTask(pb.NextTaskRequest(), metadata=served.auth("an-ash"))
    assert other.task.task_id == "open-door/c9/m1/emotion"

    back = await stub.SetAvailability(
        pb.SetAnnotatorAvailabilityRequest(available=True), metadata=served.auth("an-dee")
    )
    assert back.available
    assert back.in_shift, "available with no HR shift known starts one"
    offered = await stub.NextTask(pb.NextTaskRequest(), metadata=served.auth("an-dee"))
    assert offered.task.task_id == "open-door/c9/m1/emotion"


async def test_set_availability_needs_the_wellness_workflows(
    kit: LoopKit, served: Served, redis_url: str
) -> None:
    live_view = LiveView.connect(redis_url, prefix=f"test-{uuid.uuid4().hex[:8]}")
    with ThreadPoolExecutor(2) as executor:
        server, port = await start_server(
            Desk(kit.client, live_view, served.config, executor),
            Authenticator.from_config(served.config),
            "127.0.0.1:0",
            annotator=AnnotatorService(kit.client, served.config),
        )
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = pb_grpc.AnnotatorServiceStub(channel)
                code = await code_of(
                    stub.SetAvailability(
                        pb.SetAnnotatorAvailabilityRequest(available=False),
                        metadata=served.auth("an-dee"),
                    )
                )
        finally:
            await server.stop(grace=None)
            live_view.close()
    assert code == grpc.StatusCode.UNIMPLEMENTED


@pytest.mark.parametrize("wellness_redis_url", [UNREACHABLE_REDIS])
async def test_an_unreachable_wellness_view_is_unavailable_not_internal(served: Served) -> None:
    """NextTask reads the caller's wellness view from Redis (an activity, which gives up after
    its retries); with Redis down the caller is told to retry, as for Temporal."""
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await served.stub.NextTask(pb.NextTaskRequest(), metadata=served.auth("an-kit"))
    assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
    details = refused.value.details() or ""
    assert "retry" in details
    assert "127.0.0.1" not in details, "no addresses leak to clients"
    with pytest.raises(AnnotationUnavailableError) as unavailable:
        await served.loop.next_task("an-kit")
    assert unavailable.value.kind == "Unavailable"
    assert "annotation_read_wellness" in unavailable.value.detail


async def test_next_task_on_a_stopped_loop_says_it_is_not_running(
    served: Served, kit: LoopKit
) -> None:
    """A loop that has ended is not one that has yet to start: the annotator is told it is not
    running (no task), not to wait for it to start."""
    handle = kit.client.get_workflow_handle(annotation_workflow_id(served.config.metadata.name))
    await handle.signal(AnnotationWorkflow.stop)
    await handle.result()
    got = await served.stub.NextTask(pb.NextTaskRequest(), metadata=served.auth("an-kit"))
    assert not got.HasField("task")
    assert got.reason == "the annotation loop is not running (not started yet, or stopped)"
