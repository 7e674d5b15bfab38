import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Offer(_message.Message):
    __slots__ = ("offer_id", "tenant_id", "conversation_id", "queue", "priority", "reason", "crisis", "created_at", "expires_at", "assigned_by")
    OFFER_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CRISIS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    ASSIGNED_BY_FIELD_NUMBER: _ClassVar[int]
    offer_id: str
    tenant_id: str
    conversation_id: str
    queue: str
    priority: int
    reason: str
    crisis: bool
    created_at: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    assigned_by: str
    def __init__(self, offer_id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., conversation_id: _Optional[str] = ..., queue: _Optional[str] = ..., priority: _Optional[int] = ..., reason: _Optional[str] = ..., crisis: _Optional[bool] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., assigned_by: _Optional[str] = ...) -> None: ...

class WatchOffersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class OfferEvent(_message.Message):
    __slots__ = ("offered", "gone", "synced")
    OFFERED_FIELD_NUMBER: _ClassVar[int]
    GONE_FIELD_NUMBER: _ClassVar[int]
    SYNCED_FIELD_NUMBER: _ClassVar[int]
    offered: Offer
    gone: OfferGone
    synced: Synced
    def __init__(self, offered: _Optional[_Union[Offer, _Mapping]] = ..., gone: _Optional[_Union[OfferGone, _Mapping]] = ..., synced: _Optional[_Union[Synced, _Mapping]] = ...) -> None: ...

class OfferGone(_message.Message):
    __slots__ = ("offer_id",)
    OFFER_ID_FIELD_NUMBER: _ClassVar[int]
    offer_id: str
    def __init__(self, offer_id: _Optional[str] = ...) -> None: ...

class Synced(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Referral(_message.Message):
    __slots__ = ("name", "phone", "text", "url", "hours")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    HOURS_FIELD_NUMBER: _ClassVar[int]
    name: str
    phone: str
    text: str
    url: str
    hours: str
    def __init__(self, name: _Optional[str] = ..., phone: _Optional[str] = ..., text: _Optional[str] = ..., url: _Optional[str] = ..., hours: _Optional[str] = ...) -> None: ...

class Handoff(_message.Message):
    __slots__ = ("tenant_id", "conversation_id", "queue", "rendered", "risk_flags", "requires_acknowledgement", "referrals", "customer_profile", "render_error", "truncated", "profile_unavailable")
    class CustomerProfileEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    RENDERED_FIELD_NUMBER: _ClassVar[int]
    RISK_FLAGS_FIELD_NUMBER: _ClassVar[int]
    REQUIRES_ACKNOWLEDGEMENT_FIELD_NUMBER: _ClassVar[int]
    REFERRALS_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_PROFILE_FIELD_NUMBER: _ClassVar[int]
    RENDER_ERROR_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    PROFILE_UNAVAILABLE_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    conversation_id: str
    queue: str
    rendered: str
    risk_flags: _containers.RepeatedScalarFieldContainer[str]
    requires_acknowledgement: bool
    referrals: _containers.RepeatedCompositeFieldContainer[Referral]
    customer_profile: _containers.ScalarMap[str, str]
    render_error: str
    truncated: bool
    profile_unavailable: bool
    def __init__(self, tenant_id: _Optional[str] = ..., conversation_id: _Optional[str] = ..., queue: _Optional[str] = ..., rendered: _Optional[str] = ..., risk_flags: _Optional[_Iterable[str]] = ..., requires_acknowledgement: _Optional[bool] = ..., referrals: _Optional[_Iterable[_Union[Referral, _Mapping]]] = ..., customer_profile: _Optional[_Mapping[str, str]] = ..., render_error: _Optional[str] = ..., truncated: _Optional[bool] = ..., profile_unavailable: _Optional[bool] = ...) -> None: ...

class AcceptRequest(_message.Message):
    __slots__ = ("offer_id",)
    OFFER_ID_FIELD_NUMBER: _ClassVar[int]
    offer_id: str
    def __init__(self, offer_id: _Optional[str] = ...) -> None: ...

class AcceptResponse(_message.Message):
    __slots__ = ("offer_id", "tenant_id", "conversation_id", "queue", "handoff")
    OFFER_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    HANDOFF_FIELD_NUMBER: _ClassVar[int]
    offer_id: str
    tenant_id: str
    conversation_id: str
    queue: str
    handoff: Handoff
    def __init__(self, offer_id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., conversation_id: _Optional[str] = ..., queue: _Optional[str] = ..., handoff: _Optional[_Union[Handoff, _Mapping]] = ...) -> None: ...

class DeclineRequest(_message.Message):
    __slots__ = ("offer_id", "reason")
    OFFER_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    offer_id: str
    reason: str
    def __init__(self, offer_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class DeclineResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetHandoffRequest(_message.Message):
    __slots__ = ("tenant_id", "conversation_id")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    conversation_id: str
    def __init__(self, tenant_id: _Optional[str] = ..., conversation_id: _Optional[str] = ...) -> None: ...

class GetConversationRequest(_message.Message):
    __slots__ = ("tenant_id", "conversation_id")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    conversation_id: str
    def __init__(self, tenant_id: _Optional[str] = ..., conversation_id: _Optional[str] = ...) -> None: ...

class Turn(_message.Message):
    __slots__ = ("role", "message_id", "text", "sent_at")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SENT_AT_FIELD_NUMBER: _ClassVar[int]
    role: str
    message_id: str
    text: str
    sent_at: _timestamp_pb2.Timestamp
    def __init__(self, role: _Optional[str] = ..., message_id: _Optional[str] = ..., text: _Optional[str] = ..., sent_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Conversation(_message.Message):
    __slots__ = ("tenant_id", "conversation_id", "status", "turns", "risk_acknowledged", "handoff", "distress", "message_count")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    TURNS_FIELD_NUMBER: _ClassVar[int]
    RISK_ACKNOWLEDGED_FIELD_NUMBER: _ClassVar[int]
    HANDOFF_FIELD_NUMBER: _ClassVar[int]
    DISTRESS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_COUNT_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    conversation_id: str
    status: str
    turns: _containers.RepeatedCompositeFieldContainer[Turn]
    risk_acknowledged: bool
    handoff: Handoff
    distress: float
    message_count: int
    def __init__(self, tenant_id: _Optional[str] = ..., conversation_id: _Optional[str] = ..., status: _Optional[str] = ..., turns: _Optional[_Iterable[_Union[Turn, _Mapping]]] = ..., risk_acknowledged: _Optional[bool] = ..., handoff: _Optional[_Union[Handoff, _Mapping]] = ..., distress: _Optional[float] = ..., message_count: _Optional[int] = ...) -> None: ...

class AcknowledgeRiskRequest(_message.Message):
    __slots__ = ("tenant_id", "conversation_id")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    conversation_id: str
    def __init__(self, tenant_id: _Optional[str] = ..., conversation_id: _Optional[str] = ...) -> None: ...

class AcknowledgeRiskResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ReplyRequest(_message.Message):
    __slots__ = ("tenant_id", "conversation_id", "message_id", "text")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    conversation_id: str
    message_id: str
    text: str
    def __init__(self, tenant_id: _Optional[str] = ..., conversation_id: _Optional[str] = ..., message_id: _Optional[str] = ..., text: _Optional[str] = ...) -> None: ...

class ReplyResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CorrectTriageRequest(_message.Message):
    __slots__ = ("tenant_id", "conversation_id", "message_id", "labels", "note")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    conversation_id: str
    message_id: str
    labels: _containers.RepeatedScalarFieldContainer[str]
    note: str
    def __init__(self, tenant_id: _Optional[str] = ..., conversation_id: _Optional[str] = ..., message_id: _Optional[str] = ..., labels: _Optional[_Iterable[str]] = ..., note: _Optional[str] = ...) -> None: ...

class CorrectTriageResponse(_message.Message):
    __slots__ = ("message_id", "labels", "ai_labels")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    AI_LABELS_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    labels: _containers.RepeatedScalarFieldContainer[str]
    ai_labels: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, message_id: _Optional[str] = ..., labels: _Optional[_Iterable[str]] = ..., ai_labels: _Optional[_Iterable[str]] = ...) -> None: ...

class TransferRequest(_message.Message):
    __slots__ = ("tenant_id", "conversation_id", "queue", "note")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    conversation_id: str
    queue: str
    note: str
    def __init__(self, tenant_id: _Optional[str] = ..., conversation_id: _Optional[str] = ..., queue: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class TransferResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class HandBackRequest(_message.Message):
    __slots__ = ("tenant_id", "conversation_id", "note")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    conversation_id: str
    note: str
    def __init__(self, tenant_id: _Optional[str] = ..., conversation_id: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class HandBackResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CompleteRequest(_message.Message):
    __slots__ = ("tenant_id", "conversation_id", "outcome", "summary")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    conversation_id: str
    outcome: str
    summary: str
    def __init__(self, tenant_id: _Optional[str] = ..., conversation_id: _Optional[str] = ..., outcome: _Optional[str] = ..., summary: _Optional[str] = ...) -> None: ...

class CompleteResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SetAvailabilityRequest(_message.Message):
    __slots__ = ("available",)
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    available: bool
    def __init__(self, available: _Optional[bool] = ...) -> None: ...

class SetAvailabilityResponse(_message.Message):
    __slots__ = ("available", "conversations")
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    CONVERSATIONS_FIELD_NUMBER: _ClassVar[int]
    available: bool
    conversations: int
    def __init__(self, available: _Optional[bool] = ..., conversations: _Optional[int] = ...) -> None: ...
