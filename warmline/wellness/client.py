"""How the rest of warmline reaches a worker's wellness workflow: signal-with-start.

The bridge (shifts, availability), the exposure tracker (handled conversations) and the annotation
workflow's activities (tasks done) all go through `WellnessClient`: the first signal for a worker
starts their workflow with the configured policy, later ones reach the running one. A starting
`warmline worker` hands the running ones a changed policy (`apply_policy`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from warmline.wellness.policy import ExposureRecord, Shift, WellnessPolicy, WorkerKind
from warmline.wellness.types import (
    AVAILABILITY_SIGNAL,
    RECORD_EXPOSURE_SIGNAL,
    SHIFT_SIGNAL,
    Availability,
    WellnessInput,
    wellness_workflow_id,
)
from workflows.wellness import WellnessWorkflow

log = logging.getLogger(__name__)

APPLY_CONCURRENCY: Final = 8
"""Signals in flight at once when a policy is handed to every worker's workflow."""


@dataclass(frozen=True)
class PolicyApplied:
    """What `WellnessClient.apply_policy` did, worker by worker."""

    signalled: tuple[str, ...] = ()
    """Workers whose running workflow was handed the policy."""
    not_running: tuple[str, ...] = ()
    """Workers with no running workflow: the next signal starts one with the policy."""
    failed: dict[str, str] = field(default_factory=dict)
    """Worker → why the signal failed (their workflow keeps its policy until the next start)."""


class WellnessClient:
    """Signals-with-start the wellness workflows of one deployment on one task queue."""

    def __init__(
        self,
        client: Client,
        *,
        deployment: str,
        policy: WellnessPolicy,
        task_queue: str,
        kinds: dict[str, WorkerKind] | None = None,
        rpc_timeout: timedelta | None = None,
    ) -> None:
        self._client = client
        self.deployment = deployment
        self._policy = policy
        self._task_queue = task_queue
        self._kinds = kinds or {}
        """Worker id → specialist or annotator (specialist when unknown)."""
        self._rpc_timeout = rpc_timeout

    @property
    def policy(self) -> WellnessPolicy:
        return self._policy

    def workflow_id(self, worker_id: str) -> str:
        return wellness_workflow_id(self.deployment, worker_id)

    def handle(self, worker_id: str) -> WorkflowHandle[WellnessWorkflow, None]:
        return self._client.get_workflow_handle_for(
            WellnessWorkflow.run, self.workflow_id(worker_id)
        )

    async def record(self, worker_id: str, record: ExposureRecord) -> None:
        """Count work the worker did; the record id makes a repeat harmless."""
        await self._signal(worker_id, RECORD_EXPOSURE_SIGNAL, record)

    async def record_annotation(
        self,
        worker_id: str,
        *,
        task_id: str,
        minutes: float,
        distress: float | None = None,
        crisis: bool = False,
        intensity: float | None = None,
    ) -> None:
        """An annotation task done: `intensity` (a weight) overrides the distress bands."""
        await self.record(
            worker_id,
            ExposureRecord(
                record_id=f"annotation/{task_id}",
                kind="annotation",
                minutes=minutes,
                distress=distress,
                crisis=crisis,
                intensity=intensity,
            ),
        )

    async def shift(self, worker_id: str, shift: Shift) -> None:
        await self._signal(worker_id, SHIFT_SIGNAL, shift)

    async def availability(self, worker_id: str, available: bool) -> None:
        await self._signal(worker_id, AVAILABILITY_SIGNAL, Availability(available=available))

    async def apply_policy(self, worker_ids: Iterable[str] | None = None) -> PolicyApplied:
        """Hand `policy` to the running workflow of each worker (by default every worker in
        `kinds`), which adopts it from now on and carries it when it continues as new. A worker
        without a running workflow is left alone; any other failure is logged and reported,
        never raised, so one unreachable workflow does not stop the rest."""
        workers = list(dict.fromkeys(self._kinds if worker_ids is None else worker_ids))
        gate = asyncio.Semaphore(APPLY_CONCURRENCY)
        signalled: list[str] = []
        not_running: list[str] = []
        failed: dict[str, str] = {}

        async def hand_over(worker_id: str) -> None:
            async with gate:
                try:
                    await self.handle(worker_id).signal(
                        WellnessWorkflow.set_policy, self._policy, rpc_timeout=self._rpc_timeout
                    )
                except RPCError as error:
                    if error.status is RPCStatusCode.NOT_FOUND:
                        not_running.append(worker_id)
                        return
                    status = error.status.name if error.status is not None else "RPC error"
                    failed[worker_id] = f"{status}: {error}"
                    log.warning(
                        "wellness policy not handed to %s: %s",
                        self.workflow_id(worker_id),
                        failed[worker_id],
                    )
                    return
            signalled.append(worker_id)

        await asyncio.gather(*(hand_over(w) for w in workers))
        return PolicyApplied(
            signalled=tuple(w for w in workers if w in signalled),
            not_running=tuple(w for w in workers if w in not_running),
            failed={w: failed[w] for w in workers if w in failed},
        )

    async def is_running(self, worker_id: str) -> bool:
        """Whether the worker's wellness workflow runs (a worker removed from the configuration
        keeps theirs, and their work still counts in it)."""
        try:
            description = await self.handle(worker_id).describe(rpc_timeout=self._rpc_timeout)
        except RPCError as error:
            if error.status is RPCStatusCode.NOT_FOUND:
                return False
            raise
        return description.status is WorkflowExecutionStatus.RUNNING

    async def ensure(self, worker_id: str) -> None:
        """Start the worker's workflow unless it runs (a fresh state: no shift, no work yet)."""
        try:
            await self._client.start_workflow(
                WellnessWorkflow.run,
                self._input(worker_id),
                id=self.workflow_id(worker_id),
                task_queue=self._task_queue,
                rpc_timeout=self._rpc_timeout,
            )
        except WorkflowAlreadyStartedError:
            return

    def _input(self, worker_id: str) -> WellnessInput:
        return WellnessInput(
            deployment=self.deployment,
            worker_id=worker_id,
            kind=self._kinds.get(worker_id, WorkerKind.SPECIALIST),
            policy=self._policy,
        )

    async def _signal(self, worker_id: str, signal: str, argument: Any) -> None:
        await self._client.start_workflow(
            WellnessWorkflow.run,
            self._input(worker_id),
            id=self.workflow_id(worker_id),
            task_queue=self._task_queue,
            start_signal=signal,
            start_signal_args=[argument],
            rpc_timeout=self._rpc_timeout,
        )
