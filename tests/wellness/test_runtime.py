"""The configuration's wellness section becomes the policy the workflows run with."""

from __future__ import annotations

from datetime import timedelta

from tests.api.conftest import load_peer_support
from warmline.runtime import roster_settings, wellness_policy, worker_kinds
from warmline.wellness.policy import WorkerKind


def test_the_peer_support_policy_and_strategy() -> None:
    config = load_peer_support()
    assert roster_settings(config).strategy == "wellness_aware"
    policy = wellness_policy(config)
    assert (policy.elevated_at, policy.high_at) == (0.35, 0.65)
    assert (policy.weight_high, policy.weight_crisis, policy.weight_hostile) == (2.5, 4.0, 1.5)
    assert policy.break_after_intense == timedelta(hours=1)
    assert policy.break_duration == timedelta(minutes=15)
    assert policy.max_consecutive_crisis == 1
    assert policy.note_visibility == "wellness_lead"
    assert (policy.rotate_at_budget, policy.rotation_cooldown) == (0.75, timedelta(hours=1))
    assert policy.intense_queues == ["listening-priority", "crisis"]
    assert policy.wellness_leads == ["sup-night"]
    kinds = worker_kinds(config)
    assert kinds["staff-nia"] == WorkerKind.SPECIALIST
    assert kinds["an-kit"] == WorkerKind.ANNOTATOR
