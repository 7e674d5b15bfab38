"""A version's parent is the version current when it is published, not when its training began:
another publisher may have taken the next number meanwhile, or an operator rolled back. The
metadata names the parent by version and the model card by model version, both read under the
taxonomy's lock as the version goes in.

The models are copies of the shipped `ekman` model under model versions of their own: nothing is
trained.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from warmline.triage import registry
from warmline.triage.local import LocalModel, default_model_dir

TAXONOMY = "ekman"


@pytest.fixture(scope="module")
def shipped() -> LocalModel:
    return LocalModel.load(default_model_dir(TAXONOMY))


def trained(shipped: LocalModel, name: str, parent: str | None) -> LocalModel:
    """A model as training leaves it: its card names the parent read when training began."""
    model = LocalModel.load(default_model_dir(TAXONOMY))
    model.card = shipped.card.model_copy(
        update={"model_version": f"local:goemotions-{TAXONOMY}:{name}", "parent_version": parent}
    )
    return model


def publish(root: Path, model: LocalModel, *, make_current: bool = True) -> registry.Metadata:
    _, metadata = registry.publish(
        root, model, data={}, metrics={}, command=["test"], make_current=make_current
    )
    return metadata


def card_parent(root: Path, version: str) -> str | None:
    """The parent the published version's `model.json` names, as the workers would read it."""
    registry.check_version(root, TAXONOMY, version)
    return LocalModel.load(root / TAXONOMY / version).card.parent_version


@pytest.mark.parametrize("make_current", [True, False], ids=["trained", "candidate"])
def test_a_version_published_meanwhile_is_the_parent(
    shipped: LocalModel, tmp_path: Path, make_current: bool
) -> None:
    root = tmp_path / "reg"
    base = trained(shipped, "base", None)
    publish(root, base)
    began_from = base.model_version
    late = trained(shipped, "late", began_from)
    rival = trained(shipped, "rival", began_from)
    publish(root, rival)  # another publisher took v2 while `late` was training

    metadata = publish(root, late, make_current=make_current)

    assert (metadata.version, metadata.parent_version) == ("v3", "v2")
    assert card_parent(root, "v3") == rival.model_version
    assert late.card.parent_version == rival.model_version
    assert registry.current(root / TAXONOMY) == ("v3" if make_current else "v2")


def test_a_rollback_made_during_training_is_the_parent(shipped: LocalModel, tmp_path: Path) -> None:
    root = tmp_path / "reg"
    first = trained(shipped, "first", None)
    second = trained(shipped, "second", first.model_version)
    publish(root, first)
    publish(root, second)
    late = trained(shipped, "late", second.model_version)
    registry.set_current(root, TAXONOMY, "v1")  # an operator rolls back while `late` trains

    metadata = publish(root, late)

    assert (metadata.version, metadata.parent_version) == ("v3", "v1")
    assert card_parent(root, "v3") == first.model_version


def test_a_registry_emptied_during_training_leaves_no_parent(
    shipped: LocalModel, tmp_path: Path
) -> None:
    """Training began beside a model in another registry (or one since removed): this registry
    has none current, so the version has no parent there."""
    root = tmp_path / "reg"
    late = trained(shipped, "late", "local:goemotions-ekman:elsewhere")

    metadata = publish(root, late)

    assert (metadata.version, metadata.parent_version) == ("v1", None)
    assert card_parent(root, "v1") is None
