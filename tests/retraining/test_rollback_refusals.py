"""`warmline triage rollback` and `shadow` refuse what would leave the operator misled: a version
the workers cannot load, a damaged `CURRENT`, a `--registry` that is not a registry."""

from __future__ import annotations

import json
import os
import pwd
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from redis import Redis
from typer.testing import CliRunner

from tests.retraining.conftest import TAXONOMY, Deployment, write_config
from warmline.annotation.gold import GoldLabelStore
from warmline.cli import app
from warmline.retraining import promotion
from warmline.retraining.settings import CRISIS_LABELS, RetrainingSettings
from warmline.triage import registry
from warmline.triage.local import CURRENT, MODEL_CARD, LocalModel


def _rollback(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["triage", "rollback", *[str(a) for a in args]])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def two_versions(base_model_dir: Path, tmp_path: Path) -> Path:
    """A registry of `group` v1 and v2 (v2 current, trained after v1)."""
    root = tmp_path / "reg"
    shutil.copytree(base_model_dir, root)
    model = LocalModel.load(root / TAXONOMY / "v1")
    registry.publish(root, model, data={}, metrics={}, command=["tests", "v2"])
    assert registry.current(root / TAXONOMY) == "v2"
    return root


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda v: (v / MODEL_CARD).unlink(), "model.json is missing"),
        (lambda v: (v / MODEL_CARD).write_text("{", encoding="utf-8"), "is not valid JSON"),
        (lambda v: (v / "weights.npz").write_bytes(b"x"), "weights.npz does not match"),
    ],
)
def test_rollback_to_a_version_that_cannot_load_leaves_current_alone(
    two_versions: Path, damage: Callable[[Path], object], problem: str
) -> None:
    version = two_versions / TAXONOMY / "v1"
    damage(version)
    for to in ((), ("--to", "v1")):
        code, out, err = _rollback("--registry", two_versions, "--taxonomy", TAXONOMY, *to)
        assert code == 2, err
        assert out == ""
        assert err.startswith(
            f"error: cannot roll back to v1, {two_versions / TAXONOMY / CURRENT} still names v2: "
        )
        assert problem in err
        assert len(err.splitlines()) == 1
    assert registry.current(two_versions / TAXONOMY) == "v2"
    assert promotion.history(two_versions, TAXONOMY) == []


def test_a_damaged_current_is_named_and_to_repairs_it(two_versions: Path) -> None:
    pointer = two_versions / TAXONOMY / CURRENT
    pointer.write_text("garbage\n", encoding="utf-8")
    code, out, err = _rollback("--registry", two_versions, "--taxonomy", TAXONOMY)
    assert code == 2
    assert out == ""
    assert err == (
        f"error: {pointer} is damaged: it names 'garbage', not one of the versions beside it "
        "(v1, v2); pass --to VERSION to point it at a complete one\n"
    )
    assert "has no earlier version" not in err
    code, out, err = _rollback("--registry", two_versions, "--taxonomy", TAXONOMY, "--to", "v1")
    assert code == 0, err
    assert "garbage -> v1" in out
    assert registry.current(two_versions / TAXONOMY) == "v1"


def test_a_taxonomy_directory_is_accepted_as_eval_accepts_it(two_versions: Path) -> None:
    code, out, err = _rollback("--registry", two_versions / TAXONOMY, "--taxonomy", TAXONOMY)
    assert code == 0, err
    assert "v2 -> v1" in out
    assert registry.current(two_versions / TAXONOMY) == "v1"


def test_another_taxonomys_directory_says_to_pass_the_parent(two_versions: Path) -> None:
    code, _, err = _rollback("--registry", two_versions / TAXONOMY, "--taxonomy", "ekman")
    assert code == 2
    assert err == (
        f"error: {two_versions / TAXONOMY}: is the 'group' taxonomy's directory in a registry; "
        f"pass the registry directory (the parent), e.g. {two_versions}\n"
    )


def test_a_file_as_registry_is_named_a_file(tmp_path: Path) -> None:
    data = tmp_path / "train.tsv"
    data.write_text("hello\t0\tx1\n", encoding="utf-8")
    code, _, err = _rollback("--registry", data, "--taxonomy", "ekman")
    assert code == 2
    assert err == (
        f"error: {data}: is a file, and a registry is a directory (the --out of "
        "`warmline triage train`)\n"
    )
    assert "--out " + str(data) not in err


def test_shadow_with_a_registry_that_does_not_exist_says_how_to_create_it(
    slices: dict[str, Path], tmp_path: Path
) -> None:
    missing = tmp_path / "models" / "original"
    settings = RetrainingSettings(
        deployment="test-missing-registry",
        taxonomy=TAXONOMY,
        registry=missing,
        base_data=slices["base"],
        dev_data=slices["dev"],
        crisis_labels=CRISIS_LABELS[TAXONOMY],
    )
    # The store is never used: the command stops before reaching Redis.
    store = GoldLabelStore(Redis.from_url("redis://127.0.0.1:1/0"), deployment="unused")
    config = write_config(tmp_path, Deployment(settings=settings, store=store, train_rows=[]))
    result = CliRunner().invoke(app, ["triage", "shadow", "--config", str(config)])
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        f"error: {missing}: the registry annotation.retraining.registry names does not exist; "
        f"create it with `warmline triage train --data {slices['base']} --taxonomy {TAXONOMY} "
        f"--out {missing}`\n"
    )
    assert "no candidate has been in shadow" not in result.stderr


def test_a_history_that_is_not_text_is_named_not_a_traceback(two_versions: Path) -> None:
    history = two_versions / TAXONOMY / promotion.HISTORY
    history.write_bytes(b'{"at": "\xff"}\n')
    code, out, err = _rollback("--registry", two_versions, "--taxonomy", TAXONOMY)
    assert code == 2
    assert out == ""
    assert err == (
        f"error: {history}:1: byte 8 is not UTF-8 text; the registry writes {promotion.HISTORY} "
        "as UTF-8 JSON lines, so this one was damaged: restore it from a backup, or roll back "
        "with --to VERSION, which does not read it\n"
    )
    assert registry.current(two_versions / TAXONOMY) == "v2"


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("SHADOW", b"\xfe", "SHADOW: byte 0 is not UTF-8 text"),
        (promotion.HISTORY, b'{"x": 1}\n', "HISTORY.jsonl:1: not a history entry"),
        (promotion.HISTORY, b"\xff\n", "HISTORY.jsonl:1: byte 0 is not UTF-8 text"),
    ],
)
def test_shadow_with_a_damaged_registry_file_is_one_line(
    deployment: Deployment, tmp_path: Path, name: str, content: bytes, problem: str
) -> None:
    settings = deployment.settings
    (settings.registry / TAXONOMY / name).write_bytes(content)
    config = write_config(tmp_path, deployment)
    result = CliRunner().invoke(app, ["triage", "shadow", "--config", str(config)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: {settings.registry / TAXONOMY}/")
    assert problem in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_a_user_id_without_an_account_still_rolls_back(
    two_versions: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A container run under an arbitrary user id (no passwd entry, no USER nor LOGNAME) has no
    login name: the rollback is recorded as `uid N`, not refused with a traceback."""
    uid = next(n for n in range(424242, 425242) if not _has_account(n))
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(os, "getuid", lambda: uid)

    code, out, err = _rollback(
        "--registry", two_versions, "--taxonomy", TAXONOMY, "--to", "v1", "--json"
    )

    assert code == 0, err
    assert json.loads(out)["actor"] == f"uid {uid}"
    assert registry.current(two_versions / TAXONOMY) == "v1"
    assert promotion.history(two_versions, TAXONOMY)[-1].actor == f"uid {uid}"


def _has_account(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return False
    return True
