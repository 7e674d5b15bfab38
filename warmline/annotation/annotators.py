"""An annotator working through the annotator API: for simulated annotators, benchmarks, demos.

`work_tasks` pulls tasks over gRPC until none is left for the annotator (or a limit), opts in to
read blurred items, asks `choose` for labels and submits them; an empty choice skips the task.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from warmline.api.v1 import annotator_pb2 as pb
from warmline.api.v1 import annotator_pb2_grpc as pb_grpc

Chooser = Callable[[pb.AnnotationTask], Sequence[str]]
"""Labels for a task (from `task.labels`); empty to skip it."""
SKIP_REASON = "no label fits"


@dataclass
class AnnotatorRun:
    labelled: int = 0
    skipped: int = 0
    duplicates: int = 0
    reason: str = ""
    """Why the run stopped: the API's reason for having no task, or `limit`."""


async def work_tasks(
    stub: pb_grpc.AnnotatorServiceStub,
    token: str,
    choose: Chooser,
    *,
    max_tasks: int | None = None,
    reveal_blurred: bool = True,
) -> AnnotatorRun:
    """Label tasks as `choose` says until there is none for this annotator or `max_tasks`."""
    auth = (("authorization", f"Bearer {token}"),)
    run = AnnotatorRun()
    while max_tasks is None or run.labelled + run.skipped < max_tasks:
        got = await stub.NextTask(pb.NextTaskRequest(), metadata=auth)
        if not got.HasField("task"):
            run.reason = got.reason
            return run
        task = got.task
        if task.blurred and reveal_blurred:
            task = await stub.RevealText(pb.RevealTextRequest(task_id=task.task_id), metadata=auth)
        labels = list(choose(task))
        if not labels:
            await stub.SkipTask(
                pb.SkipTaskRequest(task_id=task.task_id, reason=SKIP_REASON), metadata=auth
            )
            run.skipped += 1
            continue
        result = await stub.SubmitLabels(
            pb.SubmitLabelsRequest(task_id=task.task_id, labels=labels), metadata=auth
        )
        run.labelled += 1
        run.duplicates += int(result.duplicate)
    run.reason = "limit"
    return run
