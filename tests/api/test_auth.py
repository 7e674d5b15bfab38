"""Bearer tokens: who a token names, and what is refused."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import token_of
from warmline.api.auth import Authenticator, UnauthenticatedError
from warmline.api.wellness import WellnessAuthenticator, WellnessCaller
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


def sharing_a_token(config: WarmlineConfig, holder: str, *, with_: str) -> WarmlineConfig:
    """`config` where the supervisor or specialist `holder` has the token of specialist `with_`."""
    routing = config.routing
    [token] = [s.token for s in routing.specialists if s.id == with_]

    def same(people: list[Any]) -> list[Any]:
        return [p.model_copy(update={"token": token}) if p.id == holder else p for p in people]

    return config.model_copy(
        update={
            "routing": routing.model_copy(
                update={
                    "specialists": same(routing.specialists),
                    "supervisors": same(routing.supervisors),
                }
            )
        }
    )


def test_a_token_configured_for_two_people_names_neither(peer_support: WarmlineConfig) -> None:
    """Whoever came last in the configuration used to be the caller: a specialist whose token is
    also a supervisor's read the team's wellness as that supervisor."""
    metadata = [("authorization", f"Bearer {token_of('vol-aoife')}")]
    supervisor = peer_support.routing.supervisors[0].id

    wellness = WellnessAuthenticator.from_config(
        sharing_a_token(peer_support, supervisor, with_="vol-aoife")
    )
    with pytest.raises(UnauthenticatedError, match="more than one person"):
        wellness.authenticate(metadata)
    specialists = Authenticator.from_config(
        sharing_a_token(peer_support, "staff-ren", with_="vol-aoife")
    )
    with pytest.raises(UnauthenticatedError, match="more than one person"):
        specialists.authenticate(metadata)

    # Everyone else is still told apart.
    assert wellness.authenticate([("authorization", f"Bearer {token_of('staff-ren')}")]) == (
        WellnessCaller("staff-ren", "worker")
    )
