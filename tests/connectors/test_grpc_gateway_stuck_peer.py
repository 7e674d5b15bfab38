"""Two processes share a connector name for availability (docs/connector-protocol.md). When one
hangs (its handler stuck, its connection up: keepalives are answered below the application), an
event it let time out goes to the other on its retry, instead of back to the hung one on every
attempt until the event is dead-lettered."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc

from tests.connectors.test_grpc_gateway import (
    ACCEPTED,
    ack,
    gateway,
    gateway_of,
    receive,
    subscription,
)
from warmline.api.v1 import connector_pb2 as pb
from warmline.api.v1 import connector_pb2_grpc as pb_grpc
from warmline.events.types import EventType


async def keep_reading(call: Any, into: list[pb.Delivery]) -> None:
    """A hung process: its transport takes the deliveries, its handler answers none."""
    while isinstance(delivery := await call.read(), pb.Delivery):
        into.append(delivery)


async def ack_everything(call: Any, into: list[pb.Delivery]) -> None:
    while True:
        delivery = await receive(call, within=120)
        into.append(delivery)
        await call.write(ack(delivery))


async def test_a_hung_process_does_not_take_the_retries_of_what_it_let_time_out(
    kafka_bootstrap: str, redis_url: str
) -> None:
    async with (
        gateway(kafka_bootstrap, redis_url, ack_timeout="2s") as (kit, address),
        grpc.aio.insecure_channel(address) as channel,
    ):
        stub = pb_grpc.ConnectorGatewayStub(channel)
        hung_call = stub.Subscribe()
        await hung_call.write(subscription("crm"))
        await kit.wait_for(lambda: gateway_of(kit).connected("crm") == 1)
        working_call = stub.Subscribe()
        await working_call.write(subscription("crm"))
        await kit.wait_for(lambda: gateway_of(kit).connected("crm") == 2)

        to_hung: list[pb.Delivery] = []
        to_working: list[pb.Delivery] = []
        tasks = [
            asyncio.create_task(keep_reading(hung_call, to_hung)),
            asyncio.create_task(ack_everything(working_call, to_working)),
        ]
        try:
            first = kit.event(EventType.HANDOFF_ACCEPTED, ACCEPTED, subject="c-1")
            await kit.emit(first)
            await kit.wait_for(
                lambda: kit.runner.stats.handled + kit.runner.stats.dead_lettered >= 1,
                within=60,
            )
            assert kit.runner.stats.dead_lettered == 0, [d.attempt for d in to_hung]
            assert [d.event.id for d in to_working] == [first.id]
            assert [d.attempt for d in to_hung] == [1], "only the first attempt went there"

            # Later events go to the process that answers, not first to the hung one.
            second = kit.event(EventType.HANDOFF_ACCEPTED, ACCEPTED, subject="c-2")
            await kit.emit(second)
            await kit.wait_handled(2)
            assert [d.event.id for d in to_working] == [first.id, second.id]
            assert len(to_hung) == 1
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            hung_call.cancel()
            working_call.cancel()
