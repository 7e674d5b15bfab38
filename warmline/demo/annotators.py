"""Simulated annotators: people who take annotation tasks, read them and label them.

Each annotator is an asyncio task asking the annotation loop for their next task, as the annotator
API's `NextTask` does, and labelling it after a moment. They read what each scripted message was
written to carry (its script's kind) and get it wrong now and then, each at their own rate, so that
the loop measures agreement on realistic disagreement and adjudicates where it falls short.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterable, Mapping

from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError

from warmline.annotation.client import AnnotationLoop, AnnotationRefusedError
from warmline.annotation.model import TONE_LABELS, ItemKind, TaskView
from warmline.annotation.redact import Redactor
from warmline.demo.checkins import answer_checkin
from warmline.demo.scripts import Kind, Script
from warmline.wellness.client import WellnessClient

IDLE_S = 0.3
"""How long an annotator waits before asking again when there is no task for them."""
READ_S = (0.02, 0.1)
"""How long an annotator takes over one task."""

KIND_LABELS: Mapping[Kind, tuple[str, ...]] = {
    Kind.ROUTINE: ("neutral",),
    Kind.FRUSTRATED: ("anger",),
    Kind.SARCASTIC: ("anger",),
    Kind.GRIEVING: ("sadness",),
    Kind.PANICKING: ("fear",),
    Kind.CRISIS: ("sadness", "fear"),
}
"""What a message of each kind carries, in the demo taxonomy's (`goemotions/ekman`) labels."""
APPROPRIATE = TONE_LABELS[0]

ERROR_RATES: Mapping[str, float] = {"an-lea": 0.05, "an-sam": 0.15, "an-mo": 0.25}
"""How often each annotator picks a wrong label; others get `DEFAULT_ERROR_RATE`."""
DEFAULT_ERROR_RATE = 0.1


def labels_by_text(scripts: Iterable[Script], redactor: Redactor) -> dict[str, tuple[str, ...]]:
    """What each scripted message carries, keyed by its text as an annotator sees it (redacted)."""
    return {
        redactor.redact(text)[0]: KIND_LABELS[script.kind]
        for script in scripts
        for text in script.messages
    }


class Annotator:
    """One simulated annotator; `run` works their tasks until cancelled."""

    def __init__(
        self,
        annotator_id: str,
        loop: AnnotationLoop,
        truths: Mapping[str, tuple[str, ...]],
        *,
        seed: int,
        wellness: WellnessClient | None = None,
    ) -> None:
        self.id = annotator_id
        self.loop = loop
        self.truths = truths
        self.wellness = wellness
        """Their wellness workflow, whose check-in requests they answer between tasks."""
        self.error_rate = ERROR_RATES.get(annotator_id, DEFAULT_ERROR_RATE)
        # A simulation, not security: a seeded generator makes runs repeatable.
        self.rng = random.Random(f"{seed}:{annotator_id}")  # noqa: S311

    async def run(self) -> None:
        while True:
            try:
                result = await self.loop.next_task(self.id)
            except (AnnotationRefusedError, WorkflowUpdateFailedError, RPCError):
                result = None
            task = result.task if result is not None else None
            if task is None:
                # No task (none open, or on a break): a moment for a check-in, then ask again.
                if self.wellness is not None:
                    await answer_checkin(self.wellness, self.id, self.rng)
                await asyncio.sleep(IDLE_S)
                continue
            await asyncio.sleep(self.rng.uniform(*READ_S))
            try:
                await self._label(task)
            except (AnnotationRefusedError, WorkflowUpdateFailedError, RPCError):
                continue  # Adjudicated or withdrawn meanwhile: the next task.

    async def _label(self, task: TaskView) -> None:
        text = task.text
        if task.blurred and not text:
            # The annotator opts in to the blurred, high-distress text.
            text = (await self.loop.reveal(self.id, task.task_id)).text
        if task.item_kind is ItemKind.TONE:
            truth: tuple[str, ...] = (APPROPRIATE,)
        else:
            truth = self.truths.get(text, ("neutral",))
        labels = [label for label in truth if label in task.labels] or task.labels[:1]
        if self.rng.random() < self.error_rate:
            others = [label for label in task.labels if label not in labels]
            labels = [self.rng.choice(others)] if others else labels
        await self.loop.submit(self.id, task.task_id, labels)
