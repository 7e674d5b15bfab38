import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AnnotationTask(_message.Message):
    __slots__ = ("task_id", "kind", "item_kind", "text", "blurred", "content_warning", "labels", "prior", "distress", "language", "assigned_at")
    class PriorEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ITEM_KIND_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    BLURRED_FIELD_NUMBER: _ClassVar[int]
    CONTENT_WARNING_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    PRIOR_FIELD_NUMBER: _ClassVar[int]
    DISTRESS_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    ASSIGNED_AT_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    kind: str
    item_kind: str
    text: str
    blurred: bool
    content_warning: str
    labels: _containers.RepeatedScalarFieldContainer[str]
    prior: _containers.ScalarMap[str, int]
    distress: float
    language: str
    assigned_at: _timestamp_pb2.Timestamp
    def __init__(self, task_id: _Optional[str] = ..., kind: _Optional[str] = ..., item_kind: _Optional[str] = ..., text: _Optional[str] = ..., blurred: _Optional[bool] = ..., content_warning: _Optional[str] = ..., labels: _Optional[_Iterable[str]] = ..., prior: _Optional[_Mapping[str, int]] = ..., distress: _Optional[float] = ..., language: _Optional[str] = ..., assigned_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class NextTaskRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class NextTaskResponse(_message.Message):
    __slots__ = ("task", "reason")
    TASK_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    task: AnnotationTask
    reason: str
    def __init__(self, task: _Optional[_Union[AnnotationTask, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...

class SubmitLabelsRequest(_message.Message):
    __slots__ = ("task_id", "labels")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    labels: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, task_id: _Optional[str] = ..., labels: _Optional[_Iterable[str]] = ...) -> None: ...

class SubmitLabelsResponse(_message.Message):
    __slots__ = ("task_id", "duplicate")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    duplicate: bool
    def __init__(self, task_id: _Optional[str] = ..., duplicate: _Optional[bool] = ...) -> None: ...

class SkipTaskRequest(_message.Message):
    __slots__ = ("task_id", "reason")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    reason: str
    def __init__(self, task_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class SkipTaskResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class FlagDistressingRequest(_message.Message):
    __slots__ = ("task_id", "note")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    note: str
    def __init__(self, task_id: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class FlagDistressingResponse(_message.Message):
    __slots__ = ("duplicate",)
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    duplicate: bool
    def __init__(self, duplicate: _Optional[bool] = ...) -> None: ...

class RevealTextRequest(_message.Message):
    __slots__ = ("task_id",)
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    def __init__(self, task_id: _Optional[str] = ...) -> None: ...

class GetAgreementReportRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AnnotatorBatchStat(_message.Message):
    __slots__ = ("annotator_id", "items", "agreed", "mean_exposure_minutes")
    ANNOTATOR_ID_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    AGREED_FIELD_NUMBER: _ClassVar[int]
    MEAN_EXPOSURE_MINUTES_FIELD_NUMBER: _ClassVar[int]
    annotator_id: str
    items: int
    agreed: int
    mean_exposure_minutes: float
    def __init__(self, annotator_id: _Optional[str] = ..., items: _Optional[int] = ..., agreed: _Optional[int] = ..., mean_exposure_minutes: _Optional[float] = ...) -> None: ...

class BatchAgreement(_message.Message):
    __slots__ = ("batch", "kind", "alpha", "items", "annotators", "threshold", "gold", "adjudicated", "measured_at", "per_annotator")
    BATCH_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ALPHA_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    ANNOTATORS_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    GOLD_FIELD_NUMBER: _ClassVar[int]
    ADJUDICATED_FIELD_NUMBER: _ClassVar[int]
    MEASURED_AT_FIELD_NUMBER: _ClassVar[int]
    PER_ANNOTATOR_FIELD_NUMBER: _ClassVar[int]
    batch: int
    kind: str
    alpha: float
    items: int
    annotators: int
    threshold: float
    gold: int
    adjudicated: int
    measured_at: _timestamp_pb2.Timestamp
    per_annotator: _containers.RepeatedCompositeFieldContainer[AnnotatorBatchStat]
    def __init__(self, batch: _Optional[int] = ..., kind: _Optional[str] = ..., alpha: _Optional[float] = ..., items: _Optional[int] = ..., annotators: _Optional[int] = ..., threshold: _Optional[float] = ..., gold: _Optional[int] = ..., adjudicated: _Optional[int] = ..., measured_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., per_annotator: _Optional[_Iterable[_Union[AnnotatorBatchStat, _Mapping]]] = ...) -> None: ...

class ExposureAgreement(_message.Message):
    __slots__ = ("annotator_id", "band", "items", "agreed", "rate")
    ANNOTATOR_ID_FIELD_NUMBER: _ClassVar[int]
    BAND_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    AGREED_FIELD_NUMBER: _ClassVar[int]
    RATE_FIELD_NUMBER: _ClassVar[int]
    annotator_id: str
    band: str
    items: int
    agreed: int
    rate: float
    def __init__(self, annotator_id: _Optional[str] = ..., band: _Optional[str] = ..., items: _Optional[int] = ..., agreed: _Optional[int] = ..., rate: _Optional[float] = ...) -> None: ...

class ReplyQuality(_message.Message):
    __slots__ = ("model_version", "audited", "appropriate", "rate", "findings")
    class FindingsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    AUDITED_FIELD_NUMBER: _ClassVar[int]
    APPROPRIATE_FIELD_NUMBER: _ClassVar[int]
    RATE_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    model_version: str
    audited: int
    appropriate: int
    rate: float
    findings: _containers.ScalarMap[str, int]
    def __init__(self, model_version: _Optional[str] = ..., audited: _Optional[int] = ..., appropriate: _Optional[int] = ..., rate: _Optional[float] = ..., findings: _Optional[_Mapping[str, int]] = ...) -> None: ...

class AgreementReport(_message.Message):
    __slots__ = ("items", "open_tasks", "gold", "dropped", "flags", "batches", "exposure", "reply_quality", "shed")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    OPEN_TASKS_FIELD_NUMBER: _ClassVar[int]
    GOLD_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    BATCHES_FIELD_NUMBER: _ClassVar[int]
    EXPOSURE_FIELD_NUMBER: _ClassVar[int]
    REPLY_QUALITY_FIELD_NUMBER: _ClassVar[int]
    SHED_FIELD_NUMBER: _ClassVar[int]
    items: int
    open_tasks: int
    gold: int
    dropped: int
    flags: int
    batches: _containers.RepeatedCompositeFieldContainer[BatchAgreement]
    exposure: _containers.RepeatedCompositeFieldContainer[ExposureAgreement]
    reply_quality: _containers.RepeatedCompositeFieldContainer[ReplyQuality]
    shed: int
    def __init__(self, items: _Optional[int] = ..., open_tasks: _Optional[int] = ..., gold: _Optional[int] = ..., dropped: _Optional[int] = ..., flags: _Optional[int] = ..., batches: _Optional[_Iterable[_Union[BatchAgreement, _Mapping]]] = ..., exposure: _Optional[_Iterable[_Union[ExposureAgreement, _Mapping]]] = ..., reply_quality: _Optional[_Iterable[_Union[ReplyQuality, _Mapping]]] = ..., shed: _Optional[int] = ...) -> None: ...

class SetAnnotatorAvailabilityRequest(_message.Message):
    __slots__ = ("available",)
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    available: bool
    def __init__(self, available: _Optional[bool] = ...) -> None: ...

class AnnotatorAvailability(_message.Message):
    __slots__ = ("available", "in_shift")
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    IN_SHIFT_FIELD_NUMBER: _ClassVar[int]
    available: bool
    in_shift: bool
    def __init__(self, available: _Optional[bool] = ..., in_shift: _Optional[bool] = ...) -> None: ...
