import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WorkerState(_message.Message):
    __slots__ = ("worker_id", "exposure_minutes", "budget_minutes", "on_break", "break_until", "over_budget", "rotated_off_intense", "rotation_until", "crisis_blocked", "checkin_pending", "in_shift", "available")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    EXPOSURE_MINUTES_FIELD_NUMBER: _ClassVar[int]
    BUDGET_MINUTES_FIELD_NUMBER: _ClassVar[int]
    ON_BREAK_FIELD_NUMBER: _ClassVar[int]
    BREAK_UNTIL_FIELD_NUMBER: _ClassVar[int]
    OVER_BUDGET_FIELD_NUMBER: _ClassVar[int]
    ROTATED_OFF_INTENSE_FIELD_NUMBER: _ClassVar[int]
    ROTATION_UNTIL_FIELD_NUMBER: _ClassVar[int]
    CRISIS_BLOCKED_FIELD_NUMBER: _ClassVar[int]
    CHECKIN_PENDING_FIELD_NUMBER: _ClassVar[int]
    IN_SHIFT_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    exposure_minutes: float
    budget_minutes: float
    on_break: bool
    break_until: _timestamp_pb2.Timestamp
    over_budget: bool
    rotated_off_intense: bool
    rotation_until: _timestamp_pb2.Timestamp
    crisis_blocked: bool
    checkin_pending: bool
    in_shift: bool
    available: bool
    def __init__(self, worker_id: _Optional[str] = ..., exposure_minutes: _Optional[float] = ..., budget_minutes: _Optional[float] = ..., on_break: _Optional[bool] = ..., break_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., over_budget: _Optional[bool] = ..., rotated_off_intense: _Optional[bool] = ..., rotation_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., crisis_blocked: _Optional[bool] = ..., checkin_pending: _Optional[bool] = ..., in_shift: _Optional[bool] = ..., available: _Optional[bool] = ...) -> None: ...

class CheckIn(_message.Message):
    __slots__ = ("at", "mood", "note", "reason")
    AT_FIELD_NUMBER: _ClassVar[int]
    MOOD_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    at: _timestamp_pb2.Timestamp
    mood: int
    note: str
    reason: str
    def __init__(self, at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., mood: _Optional[int] = ..., note: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class GetMyWellnessRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class MyWellness(_message.Message):
    __slots__ = ("state", "checkins", "scale_min", "scale_max", "scale_labels")
    class ScaleLabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: str
        def __init__(self, key: _Optional[int] = ..., value: _Optional[str] = ...) -> None: ...
    STATE_FIELD_NUMBER: _ClassVar[int]
    CHECKINS_FIELD_NUMBER: _ClassVar[int]
    SCALE_MIN_FIELD_NUMBER: _ClassVar[int]
    SCALE_MAX_FIELD_NUMBER: _ClassVar[int]
    SCALE_LABELS_FIELD_NUMBER: _ClassVar[int]
    state: WorkerState
    checkins: _containers.RepeatedCompositeFieldContainer[CheckIn]
    scale_min: int
    scale_max: int
    scale_labels: _containers.ScalarMap[int, str]
    def __init__(self, state: _Optional[_Union[WorkerState, _Mapping]] = ..., checkins: _Optional[_Iterable[_Union[CheckIn, _Mapping]]] = ..., scale_min: _Optional[int] = ..., scale_max: _Optional[int] = ..., scale_labels: _Optional[_Mapping[int, str]] = ...) -> None: ...

class SubmitCheckInRequest(_message.Message):
    __slots__ = ("mood", "note", "break_now")
    MOOD_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    BREAK_NOW_FIELD_NUMBER: _ClassVar[int]
    mood: int
    note: str
    break_now: bool
    def __init__(self, mood: _Optional[int] = ..., note: _Optional[str] = ..., break_now: _Optional[bool] = ...) -> None: ...

class BreakNowRequest(_message.Message):
    __slots__ = ("minutes",)
    MINUTES_FIELD_NUMBER: _ClassVar[int]
    minutes: float
    def __init__(self, minutes: _Optional[float] = ...) -> None: ...

class EndBreakRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetTeamWellnessRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GroupFigures(_message.Message):
    __slots__ = ("kind", "name", "suppressed", "workers", "mean_exposure_minutes", "breaks_taken", "budget_breaches", "checkins_requested", "checkins_submitted", "checkin_participation", "on_break_now", "rotated_off_now", "exposure_withheld", "checkins_withheld", "checkins_answered", "breaks_withheld")
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SUPPRESSED_FIELD_NUMBER: _ClassVar[int]
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    MEAN_EXPOSURE_MINUTES_FIELD_NUMBER: _ClassVar[int]
    BREAKS_TAKEN_FIELD_NUMBER: _ClassVar[int]
    BUDGET_BREACHES_FIELD_NUMBER: _ClassVar[int]
    CHECKINS_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    CHECKINS_SUBMITTED_FIELD_NUMBER: _ClassVar[int]
    CHECKIN_PARTICIPATION_FIELD_NUMBER: _ClassVar[int]
    ON_BREAK_NOW_FIELD_NUMBER: _ClassVar[int]
    ROTATED_OFF_NOW_FIELD_NUMBER: _ClassVar[int]
    EXPOSURE_WITHHELD_FIELD_NUMBER: _ClassVar[int]
    CHECKINS_WITHHELD_FIELD_NUMBER: _ClassVar[int]
    CHECKINS_ANSWERED_FIELD_NUMBER: _ClassVar[int]
    BREAKS_WITHHELD_FIELD_NUMBER: _ClassVar[int]
    kind: str
    name: str
    suppressed: bool
    workers: int
    mean_exposure_minutes: float
    breaks_taken: int
    budget_breaches: int
    checkins_requested: int
    checkins_submitted: int
    checkin_participation: float
    on_break_now: int
    rotated_off_now: int
    exposure_withheld: bool
    checkins_withheld: bool
    checkins_answered: int
    breaks_withheld: bool
    def __init__(self, kind: _Optional[str] = ..., name: _Optional[str] = ..., suppressed: _Optional[bool] = ..., workers: _Optional[int] = ..., mean_exposure_minutes: _Optional[float] = ..., breaks_taken: _Optional[int] = ..., budget_breaches: _Optional[int] = ..., checkins_requested: _Optional[int] = ..., checkins_submitted: _Optional[int] = ..., checkin_participation: _Optional[float] = ..., on_break_now: _Optional[int] = ..., rotated_off_now: _Optional[int] = ..., exposure_withheld: _Optional[bool] = ..., checkins_withheld: _Optional[bool] = ..., checkins_answered: _Optional[int] = ..., breaks_withheld: _Optional[bool] = ...) -> None: ...

class TeamWellness(_message.Message):
    __slots__ = ("groups", "min_group_size")
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    MIN_GROUP_SIZE_FIELD_NUMBER: _ClassVar[int]
    groups: _containers.RepeatedCompositeFieldContainer[GroupFigures]
    min_group_size: int
    def __init__(self, groups: _Optional[_Iterable[_Union[GroupFigures, _Mapping]]] = ..., min_group_size: _Optional[int] = ...) -> None: ...

class GetCheckInNotesRequest(_message.Message):
    __slots__ = ("worker_id",)
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    def __init__(self, worker_id: _Optional[str] = ...) -> None: ...

class CheckInNotes(_message.Message):
    __slots__ = ("worker_id", "checkins")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    CHECKINS_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    checkins: _containers.RepeatedCompositeFieldContainer[CheckIn]
    def __init__(self, worker_id: _Optional[str] = ..., checkins: _Optional[_Iterable[_Union[CheckIn, _Mapping]]] = ...) -> None: ...
