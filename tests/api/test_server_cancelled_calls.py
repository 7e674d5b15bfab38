"""A call whose client gives up while a workflow update runs ends quietly in every service.

The workers are down here (nobody polls the task queue), so an update never answers and the
client's deadline passes first. Temporal's client reports the cancel of its update as
`RPCTimeoutOrCancelledError`; that is no failure of the server's to log with a traceback.
"""

from __future__ import annotations

import logging
import uuid
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from temporalio.client import Client

from tests.api.conftest import UNREACHABLE_REDIS, bearer, load_peer_support
from warmline.api.annotator import AnnotatorService
from warmline.api.auth import Authenticator
from warmline.api.desk import Desk
from warmline.api.server import calls_ended, start_server
from warmline.api.v1 import annotator_pb2 as apb
from warmline.api.v1 import annotator_pb2_grpc as apb_grpc
from warmline.api.v1 import wellness_pb2 as wpb
from warmline.api.v1 import wellness_pb2_grpc as wpb_grpc
from warmline.api.wellness import WellnessAuthenticator, WellnessService
from warmline.liveview import LiveView
from warmline.runtime import wellness_policy, worker_kinds
from warmline.wellness.client import WellnessClient
from warmline.wellness.view import WellnessStateStore

CLIENT_DEADLINE_S = 2.0


async def test_a_client_deadline_during_an_update_is_not_logged_as_a_server_failure(
    namespace_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    config = load_peer_support()
    deployment = f"idle-{uuid.uuid4().hex[:8]}"
    workers = WellnessClient(
        namespace_client,
        deployment=deployment,
        policy=wellness_policy(config),
        task_queue=deployment,
        kinds=worker_kinds(config),
    )
    live_view = LiveView.connect(UNREACHABLE_REDIS)
    store = WellnessStateStore.connect(UNREACHABLE_REDIS, deployment=deployment)
    specialist = config.routing.specialists[0].id
    annotator = config.annotation.annotators[0].token.reveal()
    caplog.set_level(logging.WARNING, logger="warmline.api")
    try:
        with ThreadPoolExecutor(2) as executor:
            server, port = await start_server(
                Desk(namespace_client, live_view, config, executor),
                Authenticator.from_config(config),
                "127.0.0.1:0",
                annotator=AnnotatorService(namespace_client, config, wellness=workers),
                wellness=WellnessService(
                    config, workers, store, WellnessAuthenticator.from_config(config)
                ),
            )
            channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
            try:
                with pytest.raises(grpc.aio.AioRpcError) as wellness_call:
                    await wpb_grpc.WellnessServiceStub(channel).BreakNow(
                        wpb.BreakNowRequest(),
                        metadata=bearer(specialist),
                        timeout=CLIENT_DEADLINE_S,
                    )
                with pytest.raises(grpc.aio.AioRpcError) as annotator_call:
                    await apb_grpc.AnnotatorServiceStub(channel).SetAvailability(
                        apb.SetAnnotatorAvailabilityRequest(available=False),
                        metadata=(("authorization", f"Bearer {annotator}"),),
                        timeout=CLIENT_DEADLINE_S,
                    )
            finally:
                await channel.close(None)  # no grace, as the default: grpc-stubs omits it
                await server.stop(grace=None)
                await calls_ended()
    finally:
        store.close()
        live_view.close()

    assert wellness_call.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    assert annotator_call.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    failures = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert failures == []
