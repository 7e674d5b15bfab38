import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ListPagedEscalationsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PagedEscalation(_message.Message):
    __slots__ = ("tenant_id", "conversation_id", "queue", "supervisor", "paged_at", "reason", "crisis", "priority", "offered_to")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    SUPERVISOR_FIELD_NUMBER: _ClassVar[int]
    PAGED_AT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CRISIS_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    OFFERED_TO_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    conversation_id: str
    queue: str
    supervisor: str
    paged_at: _timestamp_pb2.Timestamp
    reason: str
    crisis: bool
    priority: int
    offered_to: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, tenant_id: _Optional[str] = ..., conversation_id: _Optional[str] = ..., queue: _Optional[str] = ..., supervisor: _Optional[str] = ..., paged_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reason: _Optional[str] = ..., crisis: _Optional[bool] = ..., priority: _Optional[int] = ..., offered_to: _Optional[_Iterable[str]] = ...) -> None: ...

class ListPagedEscalationsResponse(_message.Message):
    __slots__ = ("escalations",)
    ESCALATIONS_FIELD_NUMBER: _ClassVar[int]
    escalations: _containers.RepeatedCompositeFieldContainer[PagedEscalation]
    def __init__(self, escalations: _Optional[_Iterable[_Union[PagedEscalation, _Mapping]]] = ...) -> None: ...

class AssignEscalationRequest(_message.Message):
    __slots__ = ("tenant_id", "conversation_id", "specialist_id", "reason")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    SPECIALIST_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    conversation_id: str
    specialist_id: str
    reason: str
    def __init__(self, tenant_id: _Optional[str] = ..., conversation_id: _Optional[str] = ..., specialist_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class AssignEscalationResponse(_message.Message):
    __slots__ = ("offer_id", "specialist_id", "expires_at")
    OFFER_ID_FIELD_NUMBER: _ClassVar[int]
    SPECIALIST_ID_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    offer_id: str
    specialist_id: str
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, offer_id: _Optional[str] = ..., specialist_id: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
