"""Who is calling: bearer tokens from the configuration, each naming one specialist; and what the
API services (specialist, annotator, wellness) tell a caller whose call Temporal failed.

Tokens are compared in constant time against every configured token, so neither a match nor its
position in the roster shows in the timing.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Final, TypeVar

from temporalio.client import RPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

from warmline.config.model import Specialist, WarmlineConfig

AUTHORIZATION = "authorization"
SCHEME = "bearer"

TEMPORAL_UNREACHABLE: Final = frozenset(
    {
        RPCStatusCode.UNAVAILABLE,
        RPCStatusCode.DEADLINE_EXCEEDED,
        RPCStatusCode.CANCELLED,  # what a call that ran past its `rpc_timeout` fails with
    }
)
"""Statuses of a Temporal call that did not get through, or got no answer in time."""
TEMPORAL_BUSY: Final = frozenset({RPCStatusCode.RESOURCE_EXHAUSTED})
"""Temporal refused the call for now: the namespace's rate limit, too many updates in flight on
one workflow, an overloaded server. Not the caller's quota: the same call succeeds shortly."""
UNREACHABLE_MESSAGE: Final = "Temporal is unreachable; retry"
BUSY_MESSAGE: Final = "Temporal is over its rate limit for now; retry shortly"
NO_ANSWER_MESSAGE: Final = "the workflow did not answer in time; try again"
UNANSWERED: Final = frozenset({RPCStatusCode.CANCELLED, RPCStatusCode.DEADLINE_EXCEEDED})
"""How a query or a describe that ran past its `rpc_timeout` fails (the SDK's timeout gives
CANCELLED)."""
WhoT = TypeVar("WhoT")
AnswerT = TypeVar("AnswerT")


@dataclass(frozen=True)
class Caller:
    """An authenticated specialist and the skills their offers are checked against."""

    specialist_id: str
    skills: frozenset[str]
    crisis_trained: bool = False


class UnauthenticatedError(Exception):
    """The call carries no bearer token, a malformed one, or one nobody holds."""


class Authenticator:
    """Maps bearer tokens to specialists; built once from a configuration with resolved secrets."""

    def __init__(self, specialists: Iterable[Specialist]) -> None:
        self._entries: list[tuple[bytes, Caller]] = []
        for specialist in specialists:
            token = specialist.token.reveal().encode()
            if not token:
                continue
            caller = Caller(specialist.id, frozenset(specialist.skills), specialist.crisis_trained)
            self._entries.append((token, caller))

    @classmethod
    def from_config(cls, config: WarmlineConfig) -> Authenticator:
        return cls(config.routing.specialists)

    def authenticate(self, metadata: Iterable[tuple[str, str | bytes]] | None) -> Caller:
        """The caller named by the `authorization: Bearer <token>` metadata."""
        return holder_of(bearer_token(metadata), self._entries)


def bearer_token(metadata: Iterable[tuple[str, str | bytes]] | None) -> bytes:
    """The token of the call's `authorization: Bearer <token>` metadata."""
    values = [value for key, value in metadata or () if key.lower() == AUTHORIZATION]
    if not values:
        raise UnauthenticatedError("missing 'authorization: Bearer <token>' metadata")
    if len(values) > 1:
        raise UnauthenticatedError("more than one authorization header")
    value = values[0]
    text = value.decode(errors="replace") if isinstance(value, bytes) else value
    scheme, _, token = text.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != SCHEME or not token:
        raise UnauthenticatedError("the authorization metadata must read 'Bearer <token>'")
    return token.encode()


def holder_of(token: bytes, entries: Iterable[tuple[bytes, WhoT]]) -> WhoT:
    """Whom `token` names among the configured `(token, holder)` entries.

    Every entry is compared, in constant time, whichever matches. A token configured for two
    different people (one environment variable named for both, a pasted secret) names neither:
    the configuration does not say who is calling, and taking either would give one of them the
    other's rights (a specialist's token that is also a supervisor's reads team wellness).
    """
    found: list[WhoT] = []
    for candidate, holder in entries:
        if hmac.compare_digest(candidate, token):
            found.append(holder)
    if not found:
        raise UnauthenticatedError("unknown bearer token")
    if any(holder != found[0] for holder in found):
        raise UnauthenticatedError(
            "this bearer token is configured for more than one person; "
            "each needs a token of their own"
        )
    return found[0]


# --- Temporal failures ----------------------------------------------------------------------------


def retry_later(error: BaseException) -> str | None:
    """The `UNAVAILABLE` message for a Temporal failure that a retry of the same call may get
    past, or None for any other error.

    One definition for the specialist, annotator and wellness services, so that a client's retry
    policy (retry on UNAVAILABLE) holds whichever of them it calls.
    """
    if isinstance(error, RPCTimeoutOrCancelledError):
        return NO_ANSWER_MESSAGE
    if isinstance(error, RPCError):
        if error.status in TEMPORAL_BUSY:
            return BUSY_MESSAGE
        if error.status in TEMPORAL_UNREACHABLE:
            return UNREACHABLE_MESSAGE
    return None


def call_cancelled() -> bool:
    """Whether grpc cancelled the running call (its client cancelled it, its deadline passed, or
    the server is stopping): nobody is left to answer.

    Temporal's client reports such a cancel of its own call as `RPCTimeoutOrCancelledError` (an
    update) rather than letting `CancelledError` through, which would otherwise be answered, and
    logged, as a workflow that did not answer.
    """
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def answered_within(
    bound: timedelta | None, call: Awaitable[AnswerT], no_answer: Callable[[], Exception]
) -> AnswerT:
    """`call`'s answer (a workflow's update, query or describe), or `no_answer()` raised once
    `bound` has passed (None: no bound).

    The SDK's `rpc_timeout` bounds one RPC, not the call: an update polls again for as long as
    the server answers "not yet" (the time-skipping server answers so before a 15 s
    `rpc_timeout` passes), so with the workers down it could wait for ever. The bound holds for
    the whole call; pass the same `rpc_timeout` to the SDK as well, so that no single RPC
    outlives it either.

    The caller's own cancel, which the SDK reports as a timeout too (`call_cancelled`), ends the
    call cancelled rather than as a workflow that did not answer.
    """
    seconds = None if bound is None else bound.total_seconds()
    try:
        async with asyncio.timeout(seconds):
            return await call
    except (TimeoutError, RPCTimeoutOrCancelledError) as error:
        if call_cancelled():
            raise asyncio.CancelledError from error
        raise no_answer() from error
    except RPCError as error:
        if error.status not in UNANSWERED:
            raise
        if call_cancelled():
            raise asyncio.CancelledError from error
        raise no_answer() from error
