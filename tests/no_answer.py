"""Waiting on a call that must end `UNAVAILABLE` because no worker answers, without hanging the
test when it never does (the defect those tests catch)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import grpc
import pytest

PATIENCE_S = 90.0
"""How long a test waits for an answer before it calls the call hung: far above any bound, so a
slow machine never fails it, far below "for ever"."""


async def within_patience(call: Awaitable[object]) -> None:
    try:
        await asyncio.wait_for(call, PATIENCE_S)
    except TimeoutError:
        raise AssertionError(f"no answer after {PATIENCE_S:g} s: the call waits for ever") from None


async def no_answer(call: Awaitable[object]) -> str:
    """The details of `call`, which must end `UNAVAILABLE` well within `PATIENCE_S`."""
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await within_patience(call)
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE, raised.value
    return raised.value.details() or ""
