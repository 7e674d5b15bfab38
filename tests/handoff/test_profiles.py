"""Where the handoff's customer facts come from: the request, then the configured CRM connectors."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.hubspot import HubSpotProfileSource
from tests.worker_process import dummy_secrets
from warmline.config.loader import load_config
from warmline.errors import WarmlineError
from warmline.handoff import (
    CombinedProfileSource,
    ProfileIncompleteError,
    RequestProfileSource,
)
from warmline.serve import profile_sources

INSURER = Path(__file__).resolve().parents[2] / "examples" / "insurer-claims" / "warmline.yaml"


class Failing:
    def lookup(self, *_: object) -> dict[str, str]:
        raise ConnectionError("the CRM is down")


class Fixed:
    def __init__(self, facts: dict[str, str]) -> None:
        self.facts = facts

    def lookup(self, *_: object) -> dict[str, str]:
        return self.facts


def test_sources_are_merged_in_order_and_a_failing_one_is_skipped_and_named() -> None:
    combined = CombinedProfileSource(
        [RequestProfileSource(), Failing(), Fixed({"country": "FR", "name": "Ana"})]
    )
    with pytest.raises(ProfileIncompleteError) as incomplete:
        combined.lookup("acme", "c1", "GB", "gold")
    assert incomplete.value.facts == {"country": "GB", "tier": "gold", "name": "Ana"}
    assert incomplete.value.failed == ["Failing"]


def test_sources_that_all_answer_are_merged_in_order() -> None:
    combined = CombinedProfileSource(
        [RequestProfileSource(), Fixed({"country": "FR", "name": "Ana"})]
    )
    assert combined.lookup("acme", "c1", "GB", "gold") == {
        "country": "GB",
        "tier": "gold",
        "name": "Ana",
    }


def test_the_insurer_asks_its_hubspot_connector(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in dummy_secrets(INSURER).items():
        monkeypatch.setenv(name, value)
    config = load_config(INSURER)
    combined = profile_sources(config, INSURER.parent)
    assert isinstance(combined, CombinedProfileSource)
    kinds = [type(s) for s in combined.sources]
    assert kinds == [RequestProfileSource, HubSpotProfileSource]


def test_a_connector_without_profiles_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in dummy_secrets(INSURER).items():
        monkeypatch.setenv(name, value)
    config = load_config(INSURER)
    context = config.handoff.context.model_copy(update={"customer_profile_from": ["hr"]})
    handoff = config.handoff.model_copy(update={"context": context})
    with pytest.raises(WarmlineError, match=r"connector 'hr' .* cannot look up customer profiles"):
        profile_sources(config.model_copy(update={"handoff": handoff}), INSURER.parent)
