"""The package says when the customer's CRM profile could not be read, so the specialist does not
take an empty profile for a customer the CRM does not know."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from temporalio.testing import ActivityEnvironment

from activities.handoff import LOOKUPS_HANGING_MAX, HandoffActivities
from tests.handoff.test_render import EXAMPLES, _request
from warmline.handoff import (
    CombinedProfileSource,
    HandoffPackage,
    HandoffRenderer,
    RequestProfileSource,
)

PEER_SUPPORT = EXAMPLES / "peer-support/templates/handoff.md.j2"
QUICK = timedelta(seconds=0.05)
"""The lookup time limit for sources that never answer; the tests wait for no answer."""


class _DownCrm:
    def lookup(
        self, tenant_id: str, conversation_id: str, country: str | None, customer_tier: str
    ) -> dict[str, str]:
        raise ConnectionError("CRM answered 503 Service Unavailable")


class _HangingCrm:
    def __init__(self) -> None:
        self.release = threading.Event()

    def lookup(
        self, tenant_id: str, conversation_id: str, country: str | None, customer_tier: str
    ) -> dict[str, str]:
        self.release.wait(60)
        return {"name": "Late Answer"}


class _ListCrm:
    def lookup(
        self, tenant_id: str, conversation_id: str, country: str | None, customer_tier: str
    ) -> list[str]:
        return ["name", "Ada"]


class _UnknownCustomerCrm:
    def lookup(
        self, tenant_id: str, conversation_id: str, country: str | None, customer_tier: str
    ) -> dict[str, str]:
        return {}


def _render(activities: HandoffActivities) -> HandoffPackage:
    return ActivityEnvironment().run(activities.render_handoff, _request(crisis=False))


def test_a_failing_profile_source_is_reported_as_unavailable() -> None:
    package = _render(HandoffActivities(HandoffRenderer.from_file(PEER_SUPPORT), _DownCrm()))

    assert package.profile_unavailable
    assert package.customer_profile == {}
    assert package.render_error is None


def test_a_profile_source_that_does_not_answer_in_time_is_reported_as_unavailable() -> None:
    crm = _HangingCrm()
    activities = HandoffActivities(
        HandoffRenderer.from_file(PEER_SUPPORT), crm, profile_timeout=QUICK
    )
    try:
        package = _render(activities)
    finally:
        crm.release.set()

    assert package.profile_unavailable
    assert package.customer_profile == {}


def test_a_profile_source_not_asked_while_lookups_hang_is_reported_as_unavailable() -> None:
    crm = _HangingCrm()
    activities = HandoffActivities(
        HandoffRenderer.from_file(PEER_SUPPORT), crm, profile_timeout=QUICK
    )
    try:
        packages = [_render(activities) for _ in range(LOOKUPS_HANGING_MAX + 1)]
    finally:
        crm.release.set()

    assert all(package.profile_unavailable for package in packages)


def test_a_profile_source_answering_no_mapping_is_reported_as_unavailable() -> None:
    activities = HandoffActivities(
        HandoffRenderer.from_file(PEER_SUPPORT),
        _ListCrm(),  # type: ignore[arg-type]  # the mistake under test
    )

    assert _render(activities).profile_unavailable


def test_a_customer_the_crm_does_not_know_is_not_reported_as_unavailable() -> None:
    package = _render(
        HandoffActivities(HandoffRenderer.from_file(PEER_SUPPORT), _UnknownCustomerCrm())
    )

    assert not package.profile_unavailable
    assert package.customer_profile == {}


@pytest.mark.parametrize(
    ("country", "tier", "profile"),
    [(None, "", {}), ("GB", "gold", {"country": "GB", "tier": "gold"})],
)
def test_no_crm_configured_is_not_reported_as_unavailable(
    country: str | None, tier: str, profile: dict[str, str]
) -> None:
    """The worker's default source (the request's own facts) has nothing to fail."""
    activities = HandoffActivities(HandoffRenderer.from_file(PEER_SUPPORT), RequestProfileSource())
    request = _request(crisis=False, country=country, customer_tier=tier)

    package = ActivityEnvironment().run(activities.render_handoff, request)

    assert not package.profile_unavailable
    assert package.customer_profile == profile


def test_a_package_recorded_before_the_field_existed_still_validates() -> None:
    """Packages in workflow histories and results from before `profile_unavailable`."""
    recorded = '{"specialist_id": "spec-7", "queue": "billing", "rendered": "hi"}'

    package = HandoffPackage.model_validate_json(recorded)

    assert not package.profile_unavailable


def test_one_of_several_sources_failing_keeps_the_others_facts_and_says_so() -> None:
    """`warmline serve` always combines the request's own facts with the CRM's: a CRM that fails
    (a 5xx, its own timeout) is skipped there, and the package still says the profile is
    incomplete."""
    profiles = CombinedProfileSource([RequestProfileSource(), _DownCrm()])
    package = _render(HandoffActivities(HandoffRenderer.from_file(PEER_SUPPORT), profiles))

    assert package.profile_unavailable
    assert package.customer_profile["country"] == "GB"
