from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SubscribeRequest(_message.Message):
    __slots__ = ("subscription", "ack", "nack")
    SUBSCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ACK_FIELD_NUMBER: _ClassVar[int]
    NACK_FIELD_NUMBER: _ClassVar[int]
    subscription: Subscription
    ack: Ack
    nack: Nack
    def __init__(self, subscription: _Optional[_Union[Subscription, _Mapping]] = ..., ack: _Optional[_Union[Ack, _Mapping]] = ..., nack: _Optional[_Union[Nack, _Mapping]] = ...) -> None: ...

class Subscription(_message.Message):
    __slots__ = ("connector_name", "token", "event_types")
    CONNECTOR_NAME_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPES_FIELD_NUMBER: _ClassVar[int]
    connector_name: str
    token: str
    event_types: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, connector_name: _Optional[str] = ..., token: _Optional[str] = ..., event_types: _Optional[_Iterable[str]] = ...) -> None: ...

class Ack(_message.Message):
    __slots__ = ("delivery_id",)
    DELIVERY_ID_FIELD_NUMBER: _ClassVar[int]
    delivery_id: str
    def __init__(self, delivery_id: _Optional[str] = ...) -> None: ...

class Nack(_message.Message):
    __slots__ = ("delivery_id", "reason", "permanent")
    DELIVERY_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    PERMANENT_FIELD_NUMBER: _ClassVar[int]
    delivery_id: str
    reason: str
    permanent: bool
    def __init__(self, delivery_id: _Optional[str] = ..., reason: _Optional[str] = ..., permanent: _Optional[bool] = ...) -> None: ...

class Delivery(_message.Message):
    __slots__ = ("delivery_id", "attempt", "event")
    DELIVERY_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    delivery_id: str
    attempt: int
    event: CloudEvent
    def __init__(self, delivery_id: _Optional[str] = ..., attempt: _Optional[int] = ..., event: _Optional[_Union[CloudEvent, _Mapping]] = ...) -> None: ...

class CloudEvent(_message.Message):
    __slots__ = ("id", "type", "source", "subject", "time", "datacontenttype", "data")
    ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    DATACONTENTTYPE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    id: str
    type: str
    source: str
    subject: str
    time: str
    datacontenttype: str
    data: bytes
    def __init__(self, id: _Optional[str] = ..., type: _Optional[str] = ..., source: _Optional[str] = ..., subject: _Optional[str] = ..., time: _Optional[str] = ..., datacontenttype: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...
