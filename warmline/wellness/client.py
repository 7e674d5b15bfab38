"""How the rest of warmline reaches a worker's wellness workflow: signal-with-start.

The bridge (shifts, availability), the exposure tracker (handled conversations) and the annotation
workflow's activities (tasks done) all go through `WellnessClient`: the first signal for a worker
starts their workflow with the configured policy, later ones reach the running one.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import WorkflowAlreadyStartedError

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
