"""Bearer tokens: who a token names, and what is refused."""

from __future__ import annotations

import pytest

from tests.api.conftest import token_of
from warmline.api.auth import Authenticator, UnauthenticatedError
from warmline.config.model import WarmlineConfig


@pytest.fixture
def auth(peer_support: WarmlineConfig) -> Authenticator:
    return Authenticator.from_config(peer_support)


def test_a_token_names_its_specialist_and_their_skills(auth: Authenticator) -> None:
    caller = auth.authenticate([("authorization", f"Bearer {token_of('vol-aoife')}")])

    assert caller.specialist_id == "vol-aoife"
    assert caller.skills == {"listening", "bereavement"}
    assert not caller.crisis_trained


def test_scheme_is_case_insensitive_and_metadata_may_be_bytes(auth: Authenticator) -> None:
    caller = auth.authenticate([("authorization", f"bearer  {token_of('staff-ren')} ".encode())])

    assert caller.specialist_id == "staff-ren"
    assert caller.crisis_trained


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ([], "missing"),
        (None, "missing"),
        ([("x-other", "Bearer x")], "missing"),
        ([("authorization", "Basic dm9sOnB3")], "Bearer <token>"),
        ([("authorization", "Bearer")], "Bearer <token>"),
        ([("authorization", "Bearer not-a-token")], "unknown"),
        ([("authorization", f"Bearer {token_of('vol-aoife')}x")], "unknown"),
        ([("authorization", f"Bearer {token_of('vol-aoife')[:-1]}")], "unknown"),
        (
            [
                ("authorization", f"Bearer {token_of('vol-aoife')}"),
                ("authorization", f"Bearer {token_of('staff-ren')}"),
            ],
            "more than one",
        ),
    ],
)
def test_refused(auth: Authenticator, metadata: list[tuple[str, str]] | None, message: str) -> None:
    with pytest.raises(UnauthenticatedError, match=message):
        auth.authenticate(metadata)


def test_a_supervisor_token_is_not_a_specialist_token(
    auth: Authenticator, peer_support: WarmlineConfig
) -> None:
    supervisor = peer_support.routing.supervisors[0].token.reveal()

    with pytest.raises(UnauthenticatedError):
        auth.authenticate([("authorization", f"Bearer {supervisor}")])
