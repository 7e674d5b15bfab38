"""Starting, signalling and asking the retraining workflow, for the annotation side, the worker,
the schedule and a benchmark.

- `notify_gold_labels`: the annotation workflow's activity calls it after recording gold labels.
- `ensure_retraining`: the worker starts the workflow (or hands it new settings) and keeps the
  Temporal Schedule in line with `retraining.schedule`.
- `run_round`: run one round now and get its decision (macro-F1 before and after).
"""

from __future__ import annotations

import dataclasses

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
    WorkflowHandle,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from warmline.errors import WarmlineError
from warmline.retraining.contracts import (
    GoldLabelsAdded,
    RetrainingInput,
    RetrainingStatus,
    RoundRequest,
    ScheduledRound,
    retraining_workflow_id,
    schedule_id,
)
from warmline.retraining.rounds import RoundDecision
from warmline.retraining.settings import RetrainingSettings
from workflows.retraining import RetrainingWorkflow, ScheduledRetrainingWorkflow


class RetrainingNotRunningError(WarmlineError):
    """No retraining workflow runs for this deployment and taxonomy."""


def _handle(
    client: Client, deployment: str, taxonomy: str
) -> WorkflowHandle[RetrainingWorkflow, None]:
    return client.get_workflow_handle_for(
        RetrainingWorkflow.run, retraining_workflow_id(deployment, taxonomy)
    )


async def notify_gold_labels(
    client: Client,
    deployment: str,
    taxonomy: str,
    count: int = 1,
    *,
    start: RetrainingSettings | None = None,
    task_queue: str | None = None,
) -> None:
    """Tell the retraining workflow that `count` gold labels were recorded.

    Repeating it is harmless: the workflow counts the labels in the store itself. With `start`
    (and `task_queue`) the workflow is started if it does not run; without, a workflow that does
    not run raises `RetrainingNotRunningError`.
    """
    added = GoldLabelsAdded(count=count)
    if start is not None:
        if task_queue is None:
            raise WarmlineError("notify_gold_labels(start=...) needs the task_queue to start on")
        await client.start_workflow(
            RetrainingWorkflow.run,
            RetrainingInput(settings=start),
            id=retraining_workflow_id(deployment, taxonomy),
            task_queue=task_queue,
            start_signal="gold_labels_added",
            start_signal_args=[added],
        )
        return
    try:
        await _handle(client, deployment, taxonomy).signal(
            RetrainingWorkflow.gold_labels_added, added
        )
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            raise RetrainingNotRunningError(
                f"no retraining workflow runs for {deployment}/{taxonomy}; start a worker with "
                "annotation.retraining.registry set"
            ) from exc
        raise


async def signal_round(
    client: Client, settings: RetrainingSettings, request: RoundRequest, *, task_queue: str
) -> None:
    """Ask for a round (signal-with-start: the workflow starts if it does not run)."""
    await client.start_workflow(
        RetrainingWorkflow.run,
        RetrainingInput(settings=settings),
        id=retraining_workflow_id(settings.deployment, settings.taxonomy),
        task_queue=task_queue,
        start_signal="retrain_now",
        start_signal_args=[request],
    )


async def ensure_retraining(
    client: Client, settings: RetrainingSettings, *, task_queue: str
) -> None:
    """Start the workflow or give the running one these settings; create, update or delete the
    schedule so it matches `settings.schedule`."""
    await client.start_workflow(
        RetrainingWorkflow.run,
        RetrainingInput(settings=settings),
        id=retraining_workflow_id(settings.deployment, settings.taxonomy),
        task_queue=task_queue,
        start_signal="configure",
        start_signal_args=[settings],
    )
    await ensure_schedule(client, settings, task_queue=task_queue)


def _schedule(settings: RetrainingSettings, cron: str, task_queue: str) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            ScheduledRetrainingWorkflow.run,
            ScheduledRound(settings=settings),
            id=f"retraining-tick:{settings.deployment}:{settings.taxonomy}",
            task_queue=task_queue,
        ),
        spec=ScheduleSpec(cron_expressions=[cron]),
    )


async def ensure_schedule(
    client: Client, settings: RetrainingSettings, *, task_queue: str
) -> str | None:
    """The schedule's id once it matches the settings; None (and no schedule) without one."""
    sid = schedule_id(settings.deployment, settings.taxonomy)
    handle = client.get_schedule_handle(sid)
    if settings.schedule is None:
        try:
            await handle.delete()
        except RPCError as exc:
            if exc.status is not RPCStatusCode.NOT_FOUND:
                raise
        return None
    wanted = _schedule(settings, settings.schedule, task_queue)
    try:
        await client.create_schedule(sid, wanted)
    except ScheduleAlreadyRunningError:

        def replace(existing: ScheduleUpdateInput) -> ScheduleUpdate:
            # The cron, workflow and settings follow the configuration; whether the schedule is
            # paused (and the operator's note why) is the operator's: a worker (re)starting
            # must not resume retraining someone paused.
            state = existing.description.schedule.state
            return ScheduleUpdate(schedule=dataclasses.replace(wanted, state=state))

        await handle.update(replace)
    return sid


async def run_round(
    client: Client,
    settings: RetrainingSettings,
    *,
    task_queue: str,
    reason: str = "",
    force: bool = False,
) -> RoundDecision:
    """Run one round now (starting the workflow if needed) and return its decision."""
    handle = await client.start_workflow(
        RetrainingWorkflow.run,
        RetrainingInput(settings=settings),
        id=retraining_workflow_id(settings.deployment, settings.taxonomy),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    return await handle.execute_update(
        RetrainingWorkflow.run_round, RoundRequest(trigger="request", reason=reason, force=force)
    )


async def status(client: Client, deployment: str, taxonomy: str) -> RetrainingStatus:
    answer: RetrainingStatus = await _handle(client, deployment, taxonomy).query(
        RetrainingWorkflow.status
    )
    return answer
