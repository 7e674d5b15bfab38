"""The registry on disk under concurrent writers, and a registry whose pointer or files are damaged.

The models published here are copies of the shipped `ekman` model: nothing is trained.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from warmline.cli import app
from warmline.triage import registry
from warmline.triage.errors import ModelLoadError
from warmline.triage.local import CURRENT, MODEL_CARD, LocalModel, default_model_dir

TAXONOMY = "ekman"


@pytest.fixture(scope="module")
def model() -> LocalModel:
    return LocalModel.load(default_model_dir(TAXONOMY))


def _publish(root: Path, model: LocalModel, name: str) -> tuple[Path, registry.Metadata]:
    return registry.publish(root, model, data={}, metrics={}, command=[name])


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(app, ["triage", *[str(a) for a in args]])


@pytest.mark.parametrize("rival", ["another-process", "another-thread"])
def test_a_publisher_that_loses_the_race_for_a_number_takes_the_next(
    model: LocalModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rival: str
) -> None:
    """A rival publishes while this one is still writing its files: both versions are kept,
    complete, each under its own number (the loser used to fail after all its training)."""
    root = tmp_path / "reg"
    save = LocalModel.save
    started: list[bool] = []
    rivals: list[tuple[Path, registry.Metadata]] = []

    def save_while_a_rival_publishes(self: LocalModel, directory: Path) -> None:
        save(self, directory)
        if started:
            return
        started.append(True)
        with monkeypatch.context() as patch:
            if rival == "another-process":
                patch.setattr("os.getpid", lambda: 4_000_000)
            rivals.append(_publish(root, self, "rival"))

    monkeypatch.setattr(LocalModel, "save", save_while_a_rival_publishes)
    where, metadata = _publish(root, model, "first")
    rival_where, rival_metadata = rivals[0]

    assert (rival_where.name, rival_metadata.version) == ("v1", "v1")
    assert (where.name, metadata.version) == ("v2", "v2")
    for version, command in (("v1", ["rival"]), ("v2", ["first"])):
        written = registry.read_metadata(root / TAXONOMY / version)
        assert written is not None
        assert (written.version, written.command) == (version, command)
        registry.check_version(root, TAXONOMY, version)
    assert registry.current(root / TAXONOMY) == "v2"
    # No staging file is left; the lock file stays, as the registry's own.
    left = sorted(p.name for p in (root / TAXONOMY).iterdir())
    assert left == [registry.LOCK, CURRENT, "v1", "v2"]


def test_threads_moving_current_at_once_never_fail(model: LocalModel, tmp_path: Path) -> None:
    """Each write of `CURRENT` stages under a name of its own: two threads of one process used to
    share `.CURRENT.<pid>`, and the second rename found the file gone."""
    root = tmp_path / "reg"
    for name in ("a", "b"):
        _publish(root, model, name)
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def flip(version: str) -> None:
        start.wait()
        try:
            for _ in range(300):
                registry.set_current(root, TAXONOMY, version)
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=flip, args=(v,)) for v in ("v1", "v2") * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert registry.current(root / TAXONOMY) in {"v1", "v2"}
    # No staging file is left; the lock file stays, as the registry's own.
    left = sorted(p.name for p in (root / TAXONOMY).iterdir())
    assert left == [registry.LOCK, CURRENT, "v1", "v2"]


def test_a_current_naming_a_missing_version_says_so_in_eval_and_train(
    model: LocalModel, tmp_path: Path
) -> None:
    root = tmp_path / "reg"
    _publish(root, model, "first")
    pointer = root / TAXONOMY / CURRENT
    pointer.write_text("v7\n", encoding="utf-8")
    data = tmp_path / "data.tsv"
    data.write_text("I am so happy today\t3\tid1\n", encoding="utf-8")

    evaluated = run("eval", "--data", data, "--taxonomy", TAXONOMY, "--model", root)
    assert evaluated.exit_code == 2, evaluated.output
    assert evaluated.stderr == (
        f"{pointer}: names v7, and there is no v7 directory beside it (versions: v1); point it "
        "at a complete version with `warmline triage rollback --to VERSION`\n"
    )
    # Not the advice for a model path that does not exist: training would not help.
    assert "model_path" not in evaluated.stderr

    trained = run("train", "--data", data, "--taxonomy", TAXONOMY, "--out", root, "--dev", data)
    assert trained.exit_code == 2, trained.output
    [line] = trained.stderr.splitlines()
    assert line.startswith(f"{pointer}: names v7, and there is no v7 directory beside it; ")
    assert f"warmline triage rollback --registry {root} --taxonomy ekman --to VERSION" in line
    assert "Errno" not in line


def test_json_that_does_not_parse_is_named_at_its_line_and_column(
    model: LocalModel, tmp_path: Path
) -> None:
    root = tmp_path / "reg"
    where, _ = _publish(root, model, "first")
    card = where / MODEL_CARD
    card.write_text('{\n  "format_version": 2,\n  "labels" ["joy"]\n}\n', encoding="utf-8")
    with pytest.raises(ModelLoadError) as caught:
        LocalModel.load(where)
    assert str(caught.value).startswith(f"{card}:3:12: model.json is not valid JSON: Expecting")
    with pytest.raises(ModelLoadError) as caught:
        registry.parent_of(root, TAXONOMY)
    assert str(caught.value).startswith(f"{card}:3:12: the current version's model card is not")

    metadata = where / registry.METADATA
    metadata.write_text('{"version": "v1",\n  "oops"\n}\n', encoding="utf-8")
    with pytest.raises(ModelLoadError) as caught:
        registry.read_metadata(where)
    assert str(caught.value).startswith(f"{metadata}:3:1: invalid registry metadata: not JSON")
