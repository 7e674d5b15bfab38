"""The annotation loop's activities: fetch and redact text, read wellness, measure agreement,
record gold labels, count annotators' exposure and tell retraining of new gold labels.

Message text never travels in events: `prepare_items` reads it from the conversation's `view`
query and redacts it before returning, so only redacted text enters the annotation workflow's
history and the gold-label store.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, Field
from temporalio import activity
from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from warmline.annotation import agreement
from warmline.annotation.gold import GoldLabel, GoldLabelStore
from warmline.annotation.model import (
    AnnotationWork,
    ItemKind,
    ItemRequest,
    PreparedItem,
    TaskKind,
    TextItem,
)
from warmline.annotation.redact import Redactor, profile_values
from warmline.annotation.sampling import picked
from warmline.conversation import ConversationView, TrajectoryPoint, Turn, workflow_id
from warmline.retraining.client import notify_gold_labels
from warmline.retraining.settings import RetrainingSettings
from warmline.triage.types import Role
from warmline.wellness.client import WellnessClient
from warmline.wellness.policy import ExposureRecord, weight_of
from warmline.wellness.view import WellnessStateStore, WorkerWellness


class PrepareCall(BaseModel):
    request: ItemRequest
    tone_audit_fraction: float = 0.0


class TextCall(BaseModel):
    item: TextItem


class PreparedItems(BaseModel):
    items: list[PreparedItem] = Field(default_factory=list)
    problem: str = ""
    """Why nothing could be prepared (no such conversation or message)."""


class WellnessCall(BaseModel):
    worker_ids: list[str]


class WellnessStates(BaseModel):
    states: dict[str, WorkerWellness]


class AgreementCall(BaseModel):
    items: list[dict[str, list[str]]]
    labels: list[str]


class AgreementResult(BaseModel):
    alpha: float | None


class GoldCall(BaseModel):
    labels: list[GoldLabel]


class GoldRecorded(BaseModel):
    recorded: list[str]
    """Item ids newly recorded (an item already in the store is not recorded again)."""


class ExposureCall(BaseModel):
    work: AnnotationWork
    late_flag: bool = False
    """The annotator flagged the item after sending the labels `work` counted: add only what
    the flag weighs more."""


class ExposureRecorded(BaseModel):
    record_id: str = ""
    """The wellness record sent; empty when nothing was (no wellness, nothing to add)."""
    weight: float = 0.0
    """The weight its minutes count with (for a late flag: the extra weight)."""


class GoldNotice(BaseModel):
    taxonomy: str
    """The model taxonomy the gold labels were recorded in."""
    count: int


class GoldNotified(BaseModel):
    notified: bool
    reason: str = ""
    """Why retraining was not told: it is off, or it trains another taxonomy."""


def item_id(tenant_id: str, conversation_id: str, message_id: str, kind: ItemKind) -> str:
    return f"{tenant_id}/{conversation_id}/{message_id}/{kind.value}"


class AnnotationActivities:
    """Built once by the worker with its Temporal client and the deployment's Redis stores."""

    def __init__(
        self,
        client: Client,
        gold: GoldLabelStore,
        wellness: WellnessStateStore,
        redactor: Redactor,
        *,
        exposure: WellnessClient | None = None,
        retraining: RetrainingSettings | None = None,
    ) -> None:
        self._client = client
        self._gold = gold
        self._wellness = wellness
        self._redactor = redactor
        self._exposure = exposure
        """Signals annotators' wellness workflows; None: annotation work is not counted."""
        self._retraining = retraining
        """None: retraining is off in this deployment."""

    @activity.defn(name="annotation_prepare_items")
    async def prepare_items(self, call: PrepareCall) -> PreparedItems:
        request = call.request
        handle = self._client.get_workflow_handle(
            workflow_id(request.tenant_id, request.conversation_id)
        )
        try:
            view = await handle.query("view", result_type=ConversationView)
        except RPCError as error:
            if error.status is RPCStatusCode.NOT_FOUND:
                return PreparedItems(problem="no such conversation")
            raise
        except WorkflowQueryFailedError as error:
            return PreparedItems(problem=f"the conversation's view failed: {error}")
        return await asyncio.to_thread(self._prepare, request, view, call.tone_audit_fraction)

    @activity.defn(name="annotation_prepare_text")
    def prepare_text(self, call: TextCall) -> PreparedItem:
        item = call.item
        text, redactions = self._redactor.redact(item.text)
        return PreparedItem(
            item_id=item.item_id,
            tenant_id=item.tenant_id,
            conversation_id=item.conversation_id,
            message_id=item.message_id,
            kind=item.kind,
            text=text,
            redactions=redactions,
            distress=item.distress,
            crisis=item.crisis,
            model_version=item.model_version,
            ai_labels=item.ai_labels,
            language=item.language,
            sources=item.sources,
        )

    @activity.defn(name="annotation_read_wellness")
    def read_wellness(self, call: WellnessCall) -> WellnessStates:
        return WellnessStates(states=self._wellness.read(call.worker_ids))

    @activity.defn(name="annotation_measure_agreement")
    def measure_agreement(self, call: AgreementCall) -> AgreementResult:
        return AgreementResult(alpha=agreement.alpha(call.items, call.labels))

    @activity.defn(name="annotation_record_gold")
    def record_gold(self, call: GoldCall) -> GoldRecorded:
        return GoldRecorded(
            recorded=[label.item_id for label in call.labels if self._gold.record(label)]
        )

    @activity.defn(name="annotation_record_exposure")
    async def record_exposure(self, call: ExposureCall) -> ExposureRecorded:
        """Count an annotator's work in their wellness workflow (signal-with-start).

        A flagged item counts as high distress at least (`wellness.exposure.bands.high`), so it
        weighs `weights.high` unless its own weight is more (a crisis). The record id is the
        task's, so a retried activity or a repeated submission counts once.
        """
        if self._exposure is None:
            return ExposureRecorded()
        work = call.work
        policy = self._exposure.policy
        task_id = work.task_id
        if work.kind is TaskKind.ADJUDICATION:
            # A senior may label an item and later adjudicate it: two pieces of work.
            task_id = f"{task_id}/adjudication"
        distress = max(work.distress, policy.high_at) if work.flagged else work.distress
        record = ExposureRecord(
            record_id=task_id,
            kind="annotation",
            minutes=work.minutes,
            distress=distress,
            crisis=work.crisis,
        )
        weight = weight_of(record, policy)
        if not call.late_flag:
            await self._exposure.record_annotation(
                work.annotator_id,
                task_id=task_id,
                minutes=work.minutes,
                distress=distress,
                crisis=work.crisis,
            )
            return ExposureRecorded(record_id=f"annotation/{task_id}", weight=weight)
        counted = weight_of(record.model_copy(update={"distress": work.distress}), policy)
        extra = weight - counted
        if extra <= 0 or work.minutes <= 0:
            return ExposureRecorded()
        # Not a crisis again: the labels' record already started any break a crisis calls for.
        await self._exposure.record_annotation(
            work.annotator_id,
            task_id=f"{task_id}/flag",
            minutes=work.minutes,
            distress=distress,
            intensity=extra,
        )
        return ExposureRecorded(record_id=f"annotation/{task_id}/flag", weight=extra)

    @activity.defn(name="annotation_notify_retraining")
    async def notify_retraining(self, notice: GoldNotice) -> GoldNotified:
        """Tell the retraining workflow of new gold labels (starting it if it does not run)."""
        settings = self._retraining
        if settings is None:
            return GoldNotified(notified=False, reason="retraining is off")
        if notice.taxonomy != settings.taxonomy:
            reason = (
                f"gold labels are recorded in the {notice.taxonomy!r} taxonomy but retraining "
                f"trains {settings.taxonomy!r}; set annotation.retraining.taxonomy to "
                f"{notice.taxonomy!r} (or map the labels into {settings.taxonomy!r})"
            )
            activity.logger.warning("retraining not told: %s", reason)
            return GoldNotified(notified=False, reason=reason)
        await notify_gold_labels(
            self._client,
            settings.deployment,
            settings.taxonomy,
            notice.count,
            start=settings,
            task_queue=activity.info().task_queue,
        )
        return GoldNotified(notified=True)

    # --- preparing ------------------------------------------------------------------------------

    def _prepare(
        self, request: ItemRequest, view: ConversationView, tone_fraction: float
    ) -> PreparedItems:
        # The profile's names, e-mail, phone, address ...: redacted wherever the texts have them.
        names = profile_values(view.handoff.customer_profile if view.handoff else {})
        points = {point.message_id: point for point in view.trajectory}
        if request.kind is ItemKind.TONE:
            return self._tone_items(request, view, points, tone_fraction, names)
        message_id = request.message_id
        if message_id is None:
            if view.escalation is not None:
                message_id = view.escalation.message_id
            elif view.trajectory:
                message_id = view.trajectory[-1].message_id
            else:
                return PreparedItems(problem="the conversation has no triaged message")
        turn = next(
            (t for t in view.turns if t.role is Role.CUSTOMER and t.message_id == message_id),
            None,
        )
        if turn is None:
            return PreparedItems(problem=f"no customer message {message_id!r} in the transcript")
        return PreparedItems(
            items=[self._item(request, turn, points.get(message_id), names, ItemKind.EMOTION)]
        )

    def _tone_items(
        self,
        request: ItemRequest,
        view: ConversationView,
        points: dict[str, TrajectoryPoint],
        fraction: float,
        names: list[str],
    ) -> PreparedItems:
        items: list[PreparedItem] = []
        last_point: TrajectoryPoint | None = None
        for turn in view.turns:
            if turn.role is Role.CUSTOMER:
                last_point = points.get(turn.message_id, last_point)
                continue
            if turn.role is not Role.AI:
                continue
            wanted = (
                turn.message_id == request.message_id
                if request.message_id is not None
                else picked(
                    f"{request.tenant_id}/{request.conversation_id}/{turn.message_id}",
                    "tone",
                    fraction,
                )
            )
            if wanted:
                items.append(self._item(request, turn, last_point, names, ItemKind.TONE))
        return PreparedItems(items=items)

    def _item(
        self,
        request: ItemRequest,
        turn: Turn,
        point: TrajectoryPoint | None,
        names: list[str],
        kind: ItemKind,
    ) -> PreparedItem:
        text, redactions = self._redactor.redact(turn.text, known_names=names)
        extra: dict[str, Any] = {}
        if point is not None:
            extra = {
                "risk_flags": [flag.value for flag in point.risk_flags],
                "model_version": request.model_version or point.model_version,
                "ai_labels": request.ai_labels
                or sorted(point.emotions, key=lambda label: -point.emotions[label])[:3],
            }
        distress = point.distress if point is not None else (request.distress or 0.0)
        return PreparedItem(
            item_id=item_id(request.tenant_id, request.conversation_id, turn.message_id, kind),
            tenant_id=request.tenant_id,
            conversation_id=request.conversation_id,
            message_id=turn.message_id,
            kind=kind,
            text=text,
            redactions=redactions,
            distress=distress,
            crisis=request.crisis or any(flag != "hostile" for flag in extra.get("risk_flags", [])),
            candidate_labels=request.candidate_labels,
            language=request.language,
            sources=request.sources,
            **{"model_version": request.model_version, "ai_labels": request.ai_labels, **extra},
        )
