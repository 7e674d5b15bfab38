"""Who is calling: bearer tokens from the configuration, each naming one specialist.

Tokens are compared in constant time against every configured token, so neither a match nor its
position in the roster shows in the timing.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import dataclass

from warmline.config.model import Specialist, WarmlineConfig

AUTHORIZATION = "authorization"
SCHEME = "bearer"


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
        token = bearer_token(metadata)
        found: Caller | None = None
        for candidate, caller in self._entries:
            # No early exit: every token is compared whichever matches.
            if hmac.compare_digest(candidate, token):
                found = caller
        if found is None:
            raise UnauthenticatedError("unknown bearer token")
        return found


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
