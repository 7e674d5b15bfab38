"""The annotation loop's contracts: what the sampler submits, what the workflow holds and reports.

Every workflow input, signal, update and query of `AnnotationWorkflow` takes or returns one of
these models (sent with the pydantic data converter). The policy is a snapshot of the
configuration's `annotation:` section taken when the workflow starts, so a running loop does not
change under a redeploy.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import to_json

from warmline.config.model import WarmlineConfig

TONE_TAXONOMY = "tone"
TONE_LABELS: tuple[str, ...] = (
    "appropriate",
    "tone_deaf",
    "dismissive",
    "sycophantic",
    "unsafe_in_crisis",
)
"""What a tone audit of one AI reply may find; `appropriate` means none of the others."""
CRISIS_SKILL = "crisis"
"""Annotators with this skill take crisis items; when nobody has it, crisis items go to anyone."""
TONE_SKILL = "tone"
EMOTION_SKILL = "emotions"
DEFAULT_SKILLS: tuple[str, ...] = (EMOTION_SKILL, TONE_SKILL)
MAX_LABELS = 10
MAX_REASON_CHARS = 500
BACKLOG_BYTES = 1_000_000
"""The most serialized JSON (bytes, as the pydantic data converter writes it) the loop holds of
open work: open tasks with their prepared items, labelled items waiting for their batch, and
submissions carried over a continue-as-new. Past it, new items are shed (counted in the report's
`shed`) rather than taken as tasks, so the continue-as-new input and the `open_tasks` answer stay
well under Temporal's 2 MB payload limit with any backlog. About 1,400 open tasks of GoEmotions
length (some 730 bytes each) or 48 of 20,000 characters."""
INPUT_BYTES_MAX = 1_800_000
"""The most a continue-as-new input may take: over it (the open work within `BACKLOG_BYTES`, and
the recent-history memories at their longest with long item ids), the oldest halves of those
memories are let go until it fits (see `AnnotationWorkflow`)."""


def json_bytes(model: BaseModel) -> int:
    """`model`'s size as the pydantic data converter serializes it (UTF-8 JSON)."""
    return len(to_json(model))


def annotation_workflow_id(deployment: str) -> str:
    """One annotation loop per deployment."""
    return f"annotation/{deployment}"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class Source(StrEnum):
    """Why an item was sampled (a message may be sampled for several reasons at once)."""

    LOW_CONFIDENCE = "low_confidence"
    ESCALATION = "escalation"
    CRISIS = "crisis"
    RANDOM = "random"
    DISAGREEMENT = "disagreement"
    CORRECTION = "correction"
    TONE_AUDIT = "tone_audit"


class ItemKind(StrEnum):
    EMOTION = "emotion"
    """A customer message labelled with the configured emotion taxonomy."""
    TONE = "tone"
    """An AI reply audited for tone with `TONE_LABELS`."""


class TaskKind(StrEnum):
    LABEL = "label"
    ADJUDICATION = "adjudication"


# --- what goes in -------------------------------------------------------------------------------


class ItemRequest(_Model):
    """Asks the loop to annotate a message (signal `submit_item`).

    Carries no customer text: the workflow fetches the text from the conversation through an
    activity and redacts it there. For a tone audit without `message_id`, the activity picks the
    conversation's AI replies by `tone_audit_fraction`.
    """

    tenant_id: str
    conversation_id: str
    message_id: str | None = None
    """The message to annotate; None: the escalated (else latest) customer message, or for a
    tone audit every AI reply the audit fraction picks."""
    kind: ItemKind = ItemKind.EMOTION
    sources: list[Source] = Field(min_length=1)
    distress: float | None = None
    crisis: bool = False
    model_version: str = ""
    ai_labels: list[str] = Field(default_factory=list)
    """What the AI read (GoEmotions labels), for the record."""
    candidate_labels: list[str] = Field(default_factory=list)
    """A specialist's correction, shown to no annotator (it would anchor them) but kept with the
    gold label's provenance."""
    language: str = "en"


class TextItem(_Model):
    """An item whose text the caller holds (benchmarks, imports); it is redacted before use."""

    item_id: str
    text: str
    kind: ItemKind = ItemKind.EMOTION
    tenant_id: str = ""
    conversation_id: str = ""
    """Where the text comes from, if anywhere; events about the item use it as their subject."""
    message_id: str = ""
    sources: list[Source] = Field(default_factory=lambda: [Source.RANDOM])
    distress: float = 0.0
    crisis: bool = False
    model_version: str = ""
    ai_labels: list[str] = Field(default_factory=list)
    language: str = "en"


class PreparedItem(_Model):
    """An item ready for annotators: redacted text and what triage made of it."""

    item_id: str
    tenant_id: str = ""
    conversation_id: str = ""
    message_id: str = ""
    kind: ItemKind = ItemKind.EMOTION
    text: str
    """Redacted: personal data replaced by placeholders such as `{{PHONE}}`."""
    redactions: int = 0
    distress: float = 0.0
    crisis: bool = False
    risk_flags: list[str] = Field(default_factory=list)
    model_version: str = ""
    ai_labels: list[str] = Field(default_factory=list)
    candidate_labels: list[str] = Field(default_factory=list)
    language: str = "en"
    sources: list[Source] = Field(default_factory=list)


# --- the policy ---------------------------------------------------------------------------------


class AnnotatorSpec(_Model):
    id: str
    senior: bool = False
    skills: list[str] = Field(default_factory=lambda: list(DEFAULT_SKILLS))
    languages: list[str] = Field(default_factory=lambda: ["en"])


class AnnotationPolicy(_Model):
    """The configuration's `annotation:` section as the workflow uses it."""

    deployment: str
    taxonomy: str
    """The annotators' taxonomy name (e.g. `goemotions/ekman` or a custom name)."""
    labels: list[str]
    model_taxonomy: str
    """The model's taxonomy gold labels are recorded in: `original`, `group` or `ekman`."""
    label_map: dict[str, str] = Field(default_factory=dict)
    annotators: list[AnnotatorSpec] = Field(default_factory=list)
    supervisors: list[str] = Field(default_factory=list)
    overlap: Annotated[int, Field(ge=1)] = 3
    threshold: float = 0.667
    adjudication_by: str = "senior_annotator"
    max_rounds: int = 1
    content_warnings: bool = True
    blur_above_distress: float = 0.7
    tone_audit_fraction: float = 0.05
    batch_size: Annotated[int, Field(ge=2)] = 20
    lease_seconds: Annotated[int, Field(ge=1)] = 1800
    """An assignment nobody submitted within this long goes back to the pool."""
    tenants: list[str] = Field(default_factory=list)

    def annotator(self, annotator_id: str) -> AnnotatorSpec | None:
        return next((a for a in self.annotators if a.id == annotator_id), None)

    def labels_for(self, kind: ItemKind) -> tuple[str, ...]:
        return TONE_LABELS if kind is ItemKind.TONE else tuple(self.labels)

    def to_model_labels(self, labels: list[str]) -> list[str]:
        """Annotators' labels in the model's taxonomy, each once, in order."""
        mapped: list[str] = []
        for label in labels:
            target = self.label_map.get(label, label)
            if target not in mapped:
                mapped.append(target)
        return mapped


def policy_from_config(
    config: WarmlineConfig, *, batch_size: int | None = None
) -> AnnotationPolicy:
    annotation = config.annotation
    taxonomy = annotation.taxonomy
    name = taxonomy.builtin or taxonomy.name or "custom"
    return AnnotationPolicy(
        deployment=config.metadata.name,
        taxonomy=name,
        labels=list(taxonomy.label_set),
        model_taxonomy=annotation.gold_taxonomy,
        label_map=dict(annotation.label_map),
        annotators=[
            AnnotatorSpec(id=a.id, senior=a.senior, skills=list(a.skills), languages=a.languages)
            for a in annotation.annotators
        ],
        supervisors=[s.id for s in config.routing.supervisors],
        overlap=annotation.overlap,
        threshold=annotation.agreement.threshold,
        adjudication_by=annotation.adjudication.by,
        max_rounds=annotation.adjudication.max_rounds,
        content_warnings=annotation.content_warnings.enabled,
        blur_above_distress=annotation.content_warnings.blur_above_distress,
        tone_audit_fraction=annotation.tone_audit_fraction,
        batch_size=batch_size or annotation.batch_size,
        tenants=[t.id for t in config.tenants],
    )


# --- tasks --------------------------------------------------------------------------------------


class Task(_Model):
    """One annotation task as the workflow holds it."""

    task_id: str
    kind: TaskKind = TaskKind.LABEL
    item: PreparedItem
    required: int
    """Labels needed: the overlap k, or 1 for an adjudication."""
    assigned: dict[str, datetime] = Field(default_factory=dict)
    """Annotators holding the task now, with when they got it."""
    labels: dict[str, list[str]] = Field(default_factory=dict)
    exposure: dict[str, float] = Field(default_factory=dict)
    """Each labeller's exposure minutes (wellness view) when they got the task."""
    budget: dict[str, float] = Field(default_factory=dict)
    excluded: list[str] = Field(default_factory=list)
    """Annotators who skipped it: it is not offered to them again."""
    flagged: list[str] = Field(default_factory=list)
    revealed: list[str] = Field(default_factory=list)
    prior: dict[str, int] = Field(default_factory=dict)
    """For an adjudication: how many annotators chose each label."""
    origin: dict[str, list[str]] = Field(default_factory=dict)
    """For an adjudication: the annotators' labels it settles."""
    origin_exposure: dict[str, float] = Field(default_factory=dict)
    origin_budget: dict[str, float] = Field(default_factory=dict)
    alpha: float | None = None
    """For an adjudication: the alpha of the batch that sent it."""
    round: int = 0
    created_at: datetime
    lapsed: dict[str, datetime] = Field(default_factory=dict)
    """For an adjudication: who held it until their lease lapsed, with when they got it; they
    may still send their adjudication while nobody else holds it."""

    @property
    def full(self) -> bool:
        return len(self.labels) + len(self.assigned) >= self.required

    @property
    def labelled(self) -> bool:
        return len(self.labels) >= self.required


class TaskView(_Model):
    """What an annotator sees of a task."""

    task_id: str
    kind: TaskKind
    item_kind: ItemKind
    text: str
    """Redacted text; empty while `blurred` and not revealed."""
    blurred: bool = False
    content_warning: str = ""
    labels: list[str]
    """The labels the annotator may choose from."""
    multi_label: bool = True
    prior: dict[str, int] = Field(default_factory=dict)
    distress: float = 0.0
    language: str = "en"
    assigned_at: datetime


# --- updates ------------------------------------------------------------------------------------


class NextTaskRequest(_Model):
    annotator_id: str


class NextTaskResult(_Model):
    task: TaskView | None = None
    reason: str = ""
    """Why there is no task: none open, on a break, ..."""


class LabelSubmission(_Model):
    annotator_id: str
    task_id: str
    labels: list[str]


class SubmitResult(_Model):
    task_id: str
    duplicate: bool = False
    """The same labels were already submitted: nothing was counted again."""


class SkipRequest(_Model):
    annotator_id: str
    task_id: str
    reason: str


class FlagRequest(_Model):
    annotator_id: str
    task_id: str
    note: str = ""


class FlagResult(_Model):
    task_id: str
    duplicate: bool = False


class RevealRequest(_Model):
    annotator_id: str
    task_id: str


class FlushResult(_Model):
    batches: int
    """Batches measured by this flush (0 when nothing was waiting)."""


# --- reports ------------------------------------------------------------------------------------


class AnnotatorBatchStat(_Model):
    annotator_id: str
    items: int
    agreed: int
    """Items where their labels equal the gold label."""
    mean_exposure_minutes: float
    """Their exposure in the same shift when they took the batch's tasks."""


class BatchReport(_Model):
    batch: int
    kind: ItemKind
    alpha: float | None
    """Krippendorff's alpha (nominal, per label present/absent); None when undefined."""
    items: int
    annotators: int
    threshold: float
    gold: int
    adjudicated: int
    """Items sent to adjudication."""
    measured_at: datetime
    per_annotator: list[AnnotatorBatchStat] = Field(default_factory=list)


class ExposureBand(StrEnum):
    FRESH = "0-25%"
    MODERATE = "25-50%"
    ELEVATED = "50-75%"
    HIGH = "75%+"


def exposure_band(exposure_minutes: float, budget_minutes: float | None) -> ExposureBand:
    """Where `exposure_minutes` falls in the shift's budget (4 h when no budget is known)."""
    share = exposure_minutes / (budget_minutes or 240.0)
    if share < 0.25:
        return ExposureBand.FRESH
    if share < 0.5:
        return ExposureBand.MODERATE
    if share < 0.75:
        return ExposureBand.ELEVATED
    return ExposureBand.HIGH


class ExposureStat(_Model):
    """One annotator's agreement with gold labels at one exposure band of their shift budget."""

    annotator_id: str
    band: ExposureBand
    items: int
    agreed: int

    @property
    def rate(self) -> float:
        return self.agreed / self.items if self.items else 0.0


class ReplyQuality(_Model):
    """Tone audits of one model version's replies."""

    model_version: str
    audited: int
    appropriate: int
    findings: dict[str, int] = Field(default_factory=dict)

    @property
    def rate(self) -> float:
        """Share of audited replies found appropriate."""
        return self.appropriate / self.audited if self.audited else 0.0


class AnnotationWork(_Model):
    """One annotator's time with one task, as their wellness workflow counts it."""

    annotator_id: str
    task_id: str
    kind: TaskKind = TaskKind.LABEL
    minutes: float = Field(ge=0.0)
    """From the task being handed out to the labels (or a skip), capped at the lease."""
    distress: float = 0.0
    """What triage read in the item."""
    crisis: bool = False
    flagged: bool = False
    """The annotator flagged the item as distressing: it counts as high distress at least."""


class AnnotationCarry(_Model):
    """What a continued-as-new run takes over."""

    tasks: list[Task] = Field(default_factory=list)
    labelled: list[Task] = Field(default_factory=list)
    seen: list[str] = Field(default_factory=list)
    done: dict[str, dict[str, list[str]]] = Field(default_factory=dict)
    done_distress: dict[str, float] = Field(default_factory=dict)
    batch: int = 0
    gold: int = 0
    dropped: int = 0
    flags: int = 0
    items: int = 0
    batches: list[BatchReport] = Field(default_factory=list)
    exposure: list[ExposureStat] = Field(default_factory=list)
    reply_quality: list[ReplyQuality] = Field(default_factory=list)
    flagged: list[str] = Field(default_factory=list)
    pending_items: list[ItemRequest] = Field(default_factory=list)
    pending_texts: list[TextItem] = Field(default_factory=list)
    """Submissions not prepared yet when the run continued as new."""
    worked: list[AnnotationWork] = Field(default_factory=list)
    """The recent work sent to wellness workflows, so a later flag can weigh it more."""
    skipped: list[str] = Field(default_factory=list)
    """Recent skips (`task id|annotator`), so a retried skip succeeds quietly."""
    shed: int = 0


class AnnotationInput(_Model):
    policy: AnnotationPolicy
    carry: AnnotationCarry | None = None
    updates_per_run: int = Field(default=500, ge=1)
    """Updates a run accepts before it continues as new (Temporal refuses a run's 2,001st)."""
    backlog_bytes: int = Field(default=BACKLOG_BYTES, ge=1, le=BACKLOG_BYTES)
    """The open work the loop holds, in serialized bytes (`BACKLOG_BYTES`); a run may be given
    less (tests), not more."""


class AnnotationReport(_Model):
    """The loop's state for supervisors (query `report`)."""

    items: int
    open_tasks: int
    gold: int
    dropped: int
    batches: list[BatchReport]
    exposure: list[ExposureStat]
    reply_quality: list[ReplyQuality]
    flags: int
    """Items annotators flagged as distressing."""
    shed: int = 0
    """Items not taken as tasks because the open work was at `BACKLOG_BYTES` (newest first; an
    untouched task given up to make room for a crisis item counts too)."""
