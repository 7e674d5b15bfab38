"""The server's plumbing over a real channel: health, reflection, authentication and validation.

Temporal and Redis are unreachable here (see `offline_api`): every refusal below is decided
before any backend call.
"""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.protobuf import descriptor_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tests.api.conftest import Api, bearer
from warmline.api.v1 import specialist_pb2 as pb
from warmline.conversation import MAX_MESSAGE_CHARS

SERVICE = "warmline.v1.SpecialistService"
CONVERSATION = {"tenant_id": "peer-support", "conversation_id": "c-1"}


async def test_health_serves_the_service_and_the_server(offline_api: Api) -> None:
    health = health_pb2_grpc.HealthStub(offline_api.channel)
    for service in ("", SERVICE):
        response = await health.Check(health_pb2.HealthCheckRequest(service=service))
        assert response.status == health_pb2.HealthCheckResponse.SERVING


async def test_health_watch_streams_the_status(offline_api: Api) -> None:
    """`Watch` is a coroutine that writes with `context.write`, not a generator: the malformed
    request interceptor wrapped it as one and clients got UNKNOWN."""
    health = health_pb2_grpc.HealthStub(offline_api.channel)
    for service in ("", SERVICE):
        watch = health.Watch(health_pb2.HealthCheckRequest(service=service))
        response = await asyncio.wait_for(watch.read(), 5)
        assert isinstance(response, health_pb2.HealthCheckResponse)
        assert response.status == health_pb2.HealthCheckResponse.SERVING
        watch.cancel()
    unknown = health.Watch(health_pb2.HealthCheckRequest(service="no.such.Service"))
    response = await asyncio.wait_for(unknown.read(), 5)
    assert isinstance(response, health_pb2.HealthCheckResponse)
    assert response.status == health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
    unknown.cancel()


async def test_reflection_lists_the_services_and_serves_the_proto(offline_api: Api) -> None:
    reflection = reflection_pb2_grpc.ServerReflectionStub(offline_api.channel)
    requests = [
        reflection_pb2.ServerReflectionRequest(list_services=""),
        reflection_pb2.ServerReflectionRequest(file_containing_symbol=SERVICE),
    ]
    listed, described = [r async for r in reflection.ServerReflectionInfo(iter(requests))]

    names = {service.name for service in listed.list_services_response.service}
    assert {SERVICE, "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= names
    files = [
        descriptor_pb2.FileDescriptorProto.FromString(raw)
        for raw in described.file_descriptor_response.file_descriptor_proto
    ]
    specialist = next(f for f in files if f.name == "warmline/v1/specialist.proto")
    methods = {m.name for m in specialist.service[0].method}
    assert {"WatchOffers", "Accept", "Decline", "Reply", "Complete", "SetAvailability"} <= methods


@pytest.mark.parametrize(
    "metadata",
    [
        (),
        (("authorization", "Bearer nobody-has-this"),),
        (("authorization", "token-of-vol-aoife"),),
    ],
    ids=["missing", "unknown", "no-scheme"],
)
async def test_unauthenticated(offline_api: Api, metadata: tuple[tuple[str, str], ...]) -> None:
    stub = offline_api.stub
    with pytest.raises(grpc.aio.AioRpcError) as unary:
        await stub.SetAvailability(pb.SetAvailabilityRequest(available=True), metadata=metadata)
    assert unary.value.code() is grpc.StatusCode.UNAUTHENTICATED

    with pytest.raises(grpc.aio.AioRpcError) as streaming:
        async for _ in stub.WatchOffers(pb.WatchOffersRequest(), metadata=metadata):
            pass
    assert streaming.value.code() is grpc.StatusCode.UNAUTHENTICATED


async def test_authentication_comes_before_validation(offline_api: Api) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await offline_api.stub.Accept(pb.AcceptRequest(offer_id="nonsense"))

    assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize(
    "offer_id",
    [
        "",
        "nonsense",
        "escalation/peer-support/c-1/1/offer/",
        "escalation/peer-support/c-1/1/offer/x",
        "conversation/peer-support/c-1/offer/1",
    ],
)
async def test_malformed_offer_ids_are_invalid_arguments(offline_api: Api, offer_id: str) -> None:
    for call in (
        offline_api.stub.Accept(pb.AcceptRequest(offer_id=offer_id), metadata=bearer("vol-aoife")),
        offline_api.stub.Decline(
            pb.DeclineRequest(offer_id=offer_id, reason="busy"), metadata=bearer("vol-aoife")
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call
        assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "offer_id" in (refused.value.details() or "")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "text"),
        ("  \n\t ", "text: must not be empty"),
        ("x" * (MAX_MESSAGE_CHARS + 1), f"at most {MAX_MESSAGE_CHARS} characters"),
    ],
    ids=["empty", "blank", "oversized"],
)
async def test_reply_text_must_be_present_and_bounded(
    offline_api: Api, text: str, problem: str
) -> None:
    request = pb.ReplyRequest(**CONVERSATION, message_id="s-1", text=text)

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await offline_api.stub.Reply(request, metadata=bearer("vol-aoife"))

    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert problem in (refused.value.details() or "")


@pytest.mark.parametrize(
    ("call", "request_message", "problem"),
    [
        ("Reply", pb.ReplyRequest(**CONVERSATION, text="hello"), "message_id"),
        (
            "Reply",
            pb.ReplyRequest(tenant_id="", conversation_id="c-1", message_id="m", text="hi"),
            "tenant_id",
        ),
        (
            "Reply",
            pb.ReplyRequest(tenant_id="a/b", conversation_id="c-1", message_id="m", text="hi"),
            "tenant_id",
        ),
        (
            "AcknowledgeRisk",
            pb.AcknowledgeRiskRequest(tenant_id="peer-support", conversation_id=""),
            "conversation_id",
        ),
        ("CorrectTriage", pb.CorrectTriageRequest(**CONVERSATION, labels=[]), "labels"),
        ("CorrectTriage", pb.CorrectTriageRequest(**CONVERSATION, labels=["Grief!"]), "labels.0"),
        ("Transfer", pb.TransferRequest(**CONVERSATION, queue="no-such-queue"), "unknown queue"),
        ("HandBack", pb.HandBackRequest(**CONVERSATION, note=" "), "note"),
        ("Complete", pb.CompleteRequest(**CONVERSATION, outcome=""), "outcome"),
        (
            "Complete",
            pb.CompleteRequest(**CONVERSATION, outcome="ok", summary="x" * 5000),
            "summary",
        ),
        ("GetHandoff", pb.GetHandoffRequest(conversation_id="c-1"), "tenant_id"),
        ("GetConversation", pb.GetConversationRequest(tenant_id="peer-support"), "conversation_id"),
    ],
)
async def test_invalid_arguments(
    offline_api: Api, call: str, request_message: object, problem: str
) -> None:
    method = getattr(offline_api.stub, call)

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await method(request_message, metadata=bearer("staff-ren"))

    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert problem in (refused.value.details() or "")


async def test_an_unreachable_backend_is_unavailable_not_internal(offline_api: Api) -> None:
    offer_id = "escalation/peer-support/c-1/1/offer/1"

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await offline_api.stub.Accept(
            pb.AcceptRequest(offer_id=offer_id), metadata=bearer("vol-aoife")
        )

    assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
    assert "9" not in (refused.value.details() or ""), "no addresses leak to clients"


@pytest.mark.parametrize(
    ("method", "streaming"),
    [("Accept", False), ("WatchOffers", True), ("Reply", False)],
)
async def test_bytes_that_are_no_request_are_invalid_arguments_without_a_traceback(
    offline_api: Api, caplog: pytest.LogCaptureFixture, method: str, streaming: bool
) -> None:
    """grpcio itself answered UNKNOWN with the parser's text and logged a traceback each time."""
    path = f"/{SERVICE}/{method}"
    identity = {"request_serializer": None, "response_deserializer": None}
    truncated, not_utf8 = b"\x0a\x05ab", b"\x0a\x02\xff\xfe"  # field 1: 5 bytes promised, 2 sent
    # A non-UTF-8 string breaks only a method whose field 1 is a string (WatchOffers has none).
    for garbage in (truncated,) if streaming else (truncated, not_utf8):
        if streaming:
            call = offline_api.channel.unary_stream(path, **identity)(garbage)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call.read()
        else:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await offline_api.channel.unary_unary(path, **identity)(garbage)
        assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert (caught.value.details() or "").startswith(f"the request to {path} is not a valid")
    assert [r for r in caplog.records if r.levelname == "ERROR"] == []
