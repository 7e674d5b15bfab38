"""`CURRENT` and `SHADOW` under writers at once: `train` beside a rollback, shadows started by two
threads. Each interleaving is forced, not hoped for: the second writer starts while the first is
at a known point, and the first goes on once the second has finished or waits for the lock.

The models are copies of the shipped `ekman` model: nothing is trained, no service is needed.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.triage.rivals import Rival
from warmline.retraining import promotion
from warmline.triage import registry
from warmline.triage.local import LocalModel, default_model_dir

TAXONOMY = "ekman"


@pytest.fixture(scope="module")
def model() -> LocalModel:
    return LocalModel.load(default_model_dir(TAXONOMY))


def test_a_train_finishing_during_a_rollback_neither_undoes_it_nor_is_undone(
    model: LocalModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rollback from v2 to v1 has decided, and is checking v1, when a training publishes v3:
    the training waits for it and then makes v3 current, its parent v1 (the rollback used to write
    v1 over v3, so the model just trained was silently never served)."""
    for name in ("v1", "v2"):
        registry.publish(tmp_path, model, data={}, metrics={}, command=[name])
    rival = Rival(
        lambda: registry.publish(tmp_path, model, data={}, metrics={}, command=["train"]),
        monkeypatch,
    )
    check = registry.check_version

    def check_while_a_training_ends(root: Path, taxonomy: str, version: str) -> None:
        rival.let_in()
        check(root, taxonomy, version)

    monkeypatch.setattr(registry, "check_version", check_while_a_training_ends)
    entry = promotion.rollback(tmp_path, TAXONOMY, to=None, actor="ana", reason="complaints")

    assert rival.finished()
    assert rival.errors == []
    assert (entry.from_version, entry.to_version) == ("v2", "v1")
    assert registry.current(tmp_path / TAXONOMY) == "v3"
    trained = registry.read_metadata(tmp_path / TAXONOMY / "v3")
    assert trained is not None
    assert trained.parent_version == "v1"
    # Rolling v3 back goes to what it replaced, not to the v2 the operator rolled back from.
    assert promotion.previous(tmp_path, TAXONOMY) == "v1"


def test_two_threads_starting_shadows_at_once_never_fail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second thread starts a shadow while the first has staged its own: each stages under a
    name of its own (both used `.SHADOW.<pid>`, and the first found its staged file gone)."""
    (tmp_path / TAXONOMY).mkdir()
    rival = Rival(lambda: promotion.start_shadow(tmp_path, TAXONOMY, "v2"), monkeypatch)
    replace = Path.replace

    def replace_after_the_rival(self: Path, target: str | Path) -> Path:
        if threading.current_thread() is threading.main_thread():
            rival.let_in()
        return replace(self, target)

    monkeypatch.setattr(Path, "replace", replace_after_the_rival)
    promotion.start_shadow(tmp_path, TAXONOMY, "v1")

    assert rival.finished()
    assert rival.errors == []
    assert promotion.shadow_version(tmp_path, TAXONOMY) == "v1"
    assert sorted(p.name for p in (tmp_path / TAXONOMY).iterdir()) == [promotion.SHADOW]
