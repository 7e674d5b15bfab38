"""A registry damaged between rounds: an emptied `CURRENT` is not an empty registry, a candidate
damaged after it was scored is not promoted, and `rollback --to` repairs a `CURRENT` that is
empty or gone (real training and Redis; no Temporal needed: these are the activities' steps)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.retraining.conftest import TAXONOMY, Deployment
from warmline.cli import app
from warmline.retraining import promotion
from warmline.retraining.rounds import conclude, evaluate_candidate, retrain_once, train_candidate
from warmline.retraining.shadow import RegistryProvider
from warmline.triage import registry
from warmline.triage.errors import ModelLoadError
from warmline.triage.local import CURRENT, WEIGHTS, LocalModel


def _rollback(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["triage", "rollback", *[str(a) for a in args]])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_an_emptied_current_fails_the_round_instead_of_promoting_unjudged(
    deployment: Deployment,
) -> None:
    deployment.add_gold(0, 300)
    settings = deployment.settings
    pointer = settings.registry / TAXONOMY / CURRENT
    # What a power cut after CURRENT's rename, before its data reached the disk, leaves.
    pointer.write_bytes(b"")
    gold = deployment.store.read(settings.taxonomy)

    with pytest.raises(ModelLoadError) as raised:
        retrain_once(settings, gold, round_id="t/empty-current")

    assert str(raised.value) == (
        f"{pointer}: is empty, and names no version although versions are beside it (v1); "
        f"point it at a complete version with `warmline triage rollback --registry "
        f"{settings.registry} --taxonomy {TAXONOMY} --to VERSION`"
    )
    # Nothing trained, registered or made current over the model that was serving.
    assert registry.versions(settings.registry / TAXONOMY) == ["v1"]
    assert pointer.read_bytes() == b""
    assert promotion.history(settings.registry, TAXONOMY) == []
    # A worker starting on it says the same instead of serving "no current model".
    with pytest.raises(ModelLoadError, match="is empty, and names no version"):
        RegistryProvider(settings.registry, TAXONOMY)


def test_a_candidate_damaged_after_scoring_is_not_promoted(deployment: Deployment) -> None:
    deployment.add_gold(0, 300)
    settings = deployment.settings
    gold = deployment.store.read(settings.taxonomy)
    candidate = train_candidate(settings, gold, round_id="t/damaged")
    verdict = evaluate_candidate(settings, candidate, gold)
    assert verdict.judgement.promote, verdict.judgement.reason
    assert candidate.version == "v2"
    promotion.start_shadow(settings.registry, TAXONOMY, "v2")
    # During its day in shadow, the candidate's weights are damaged.
    (settings.registry / TAXONOMY / "v2" / WEIGHTS).write_bytes(b"half a file")

    with pytest.raises(ModelLoadError) as raised:
        conclude(settings, verdict)

    message = str(raised.value)
    assert message.startswith(
        f"v2 is not promoted, {settings.registry / TAXONOMY / CURRENT} still names v1: "
    )
    assert "weights.npz does not match" in message
    assert registry.current(settings.registry / TAXONOMY) == "v1"
    assert promotion.shadow_version(settings.registry, TAXONOMY) is None
    assert [e.action for e in promotion.history(settings.registry, TAXONOMY)] == []


@pytest.fixture
def two_versions(base_model_dir: Path, tmp_path: Path) -> Path:
    """A registry of `group` v1 and v2 (v2 current)."""
    root = tmp_path / "reg"
    shutil.copytree(base_model_dir, root)
    model = LocalModel.load(root / TAXONOMY / "v1")
    registry.publish(root, model, data={}, metrics={}, command=["tests", "v2"])
    return root


def test_rollback_to_repairs_an_emptied_current(two_versions: Path) -> None:
    pointer = two_versions / TAXONOMY / CURRENT
    pointer.write_bytes(b"\n")

    code, out, err = _rollback("--registry", two_versions, "--taxonomy", TAXONOMY)
    assert (code, out) == (2, "")
    assert err == (
        f"error: {pointer} is damaged: it is empty, not one of the versions beside it (v1, v2); "
        "pass --to VERSION to point it at a complete one\n"
    )

    code, out, err = _rollback("--registry", two_versions, "--taxonomy", TAXONOMY, "--to", "v1")
    assert code == 0, err
    [entry] = promotion.history(two_versions, TAXONOMY)
    assert out == f"{TAXONOMY}: no version -> v1 (by {entry.actor})\n"
    assert (entry.from_version, entry.to_version) == (None, "v1")
    assert registry.current(two_versions / TAXONOMY) == "v1"


def test_rollback_to_repairs_a_deleted_current(two_versions: Path) -> None:
    (two_versions / TAXONOMY / CURRENT).unlink()

    code, out, err = _rollback("--registry", two_versions, "--taxonomy", TAXONOMY)
    assert (code, out) == (2, "")
    assert err == (
        f"error: {two_versions / TAXONOMY}: no version is current (there is no CURRENT file "
        "beside the versions v1, v2); pass --to VERSION to make one current\n"
    )

    code, _, err = _rollback(
        "--registry", two_versions, "--taxonomy", TAXONOMY, "--to", "v2", "--actor", "ana"
    )
    assert code == 0, err
    assert registry.current(two_versions / TAXONOMY) == "v2"
    [entry] = promotion.history(two_versions, TAXONOMY)
    assert (entry.from_version, entry.to_version, entry.actor) == (None, "v2", "ana")
