"""An unanswered check-in nudges the worker, then the wellness leads, after the configured delay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from tests.api.conftest import load_peer_support
from warmline.config.model import CheckIns
from warmline.events import EventType
from warmline.runtime import wellness_policy
from warmline.wellness.policy import Shift, Wellness, WellnessPolicy, WellnessState

DAY = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
M = timedelta(minutes=1)
H = timedelta(hours=1)


def test_nudges_follow_the_configured_delay_and_name_the_wellness_leads() -> None:
    policy = WellnessPolicy(
        checkin_nudge_after=5 * M, checkin_triggers=[], wellness_leads=["sup-a", "sup-b"]
    )
    wellness = Wellness(WellnessState(worker_id="w-1"), policy)
    wellness.schedule(Shift(shift_id="s-1", starts_at=DAY, ends_at=DAY + 8 * H), DAY)
    wellness.advance(DAY + 2 * H)
    assert wellness.next_wake() == DAY + 2 * H + 5 * M
    wellness.advance(DAY + 2 * H + 20 * M)

    asked = [e for e in wellness.outbox if e.type == EventType.WELLNESS_CHECKIN_REQUESTED]
    assert [(e.at - DAY, e.data) for e in asked] == [
        (2 * H, {"reason": "cadence", "recipient": "worker"}),
        (2 * H + 5 * M, {"reason": "missed:cadence", "recipient": "worker"}),
        (
            2 * H + 10 * M,
            {
                "reason": "missed:cadence",
                "recipient": "wellness_lead",
                "wellness_leads": ["sup-a", "sup-b"],
            },
        ),
    ]


def test_the_nudge_delay_comes_from_the_configuration_with_the_old_default() -> None:
    config = load_peer_support()
    assert wellness_policy(config).checkin_nudge_after == 15 * M
    # A policy snapshotted before the setting existed keeps the delay it ran with.
    assert WellnessPolicy().checkin_nudge_after == 15 * M
    checkins = config.wellness.checkins.model_copy(update={"nudge_after": 5 * M})
    section = config.wellness.model_copy(update={"checkins": checkins})
    policy = wellness_policy(config.model_copy(update={"wellness": section}))
    assert policy.checkin_nudge_after == 5 * M


def test_a_nudge_delay_of_zero_is_refused() -> None:
    assert CheckIns.model_validate({"nudge_after": "10m"}).nudge_after == 10 * M
    with pytest.raises(ValidationError, match="nudge_after must be longer than 0s"):
        CheckIns.model_validate({"nudge_after": "0s"})


def test_only_a_check_in_sent_while_one_was_asked_for_counts_as_an_answer() -> None:
    policy = WellnessPolicy(checkin_triggers=[], checkin_cadence=2 * H)
    wellness = Wellness(WellnessState(worker_id="w-1"), policy)
    wellness.schedule(Shift(shift_id="s-1", starts_at=DAY, ends_at=DAY + 8 * H), DAY)
    wellness.submit_checkin(4, "", DAY + 30 * M)
    wellness.advance(DAY + 2 * H)
    wellness.submit_checkin(3, "", DAY + 2 * H + M)
    wellness.submit_checkin(3, "", DAY + 2 * H + 2 * M)
    view = wellness.state.view(policy, DAY + 2 * H + 2 * M)
    assert (view.checkins_requested, view.checkins_submitted) == (1, 3)
    assert view.checkins_answered == 1
    # A new shift counts afresh.
    wellness.schedule(Shift(shift_id="s-2", starts_at=DAY + 24 * H, ends_at=DAY + 32 * H), DAY)
    wellness.advance(DAY + 24 * H)
    assert wellness.state.view(policy, DAY + 24 * H).checkins_answered == 0
