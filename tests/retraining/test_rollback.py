"""`warmline triage rollback`: back to the previous or a given version, with who and why."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.retraining.conftest import Deployment
from warmline.cli import app
from warmline.retraining import promotion
from warmline.retraining.rounds import retrain_once
from warmline.retraining.shadow import RegistryProvider
from warmline.triage import registry
from warmline.triage.errors import ModelLoadError
from warmline.triage.local import default_model_dir
from warmline.triage.types import TriageRequest


def _rollback(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["triage", "rollback", *args])
    return result.exit_code, result.stdout, result.stderr


def _promoted(deployment: Deployment) -> Path:
    """The deployment's registry after one promoted round: v2 current, v1 before it."""
    deployment.add_gold(0, 300)
    decision = retrain_once(
        deployment.settings,
        deployment.store.read(deployment.settings.taxonomy),
        round_id="test/round-1",
    )
    assert decision.outcome == "promoted", decision.reason
    return deployment.settings.registry


def test_rollback_serves_the_previous_version_again(deployment: Deployment) -> None:
    root = _promoted(deployment)
    taxonomy = deployment.settings.taxonomy
    provider = RegistryProvider(root, taxonomy, check_every=0.0)
    request = TriageRequest(tenant_id="t", conversation_id="c", message_id="m", text="thanks!")
    assert provider.version == "v2"
    promoted_version = provider.triage(request).model_version

    code, out, err = _rollback(
        "--registry", str(root), "--taxonomy", taxonomy, "--reason", "complaints", "--actor", "ana",
        "--json",
    )  # fmt: skip

    assert code == 0, err
    entry = json.loads(out)
    assert (entry["from_version"], entry["to_version"]) == ("v2", "v1")
    assert (entry["actor"], entry["reason"]) == ("ana", "complaints")
    assert registry.current(root / taxonomy) == "v1"
    # The worker's provider follows without a restart.
    assert provider.triage(request).model_version != promoted_version
    assert provider.version == "v1"
    actions = [e.action for e in promotion.history(root, taxonomy)]
    assert actions == [promotion.Action.PROMOTED, promotion.Action.ROLLED_BACK]

    # Rolling back again does not flip-flop to v2: v1 has nothing before it.
    code, _, err = _rollback("--registry", str(root), "--taxonomy", taxonomy)
    assert code == 2
    assert "has no earlier version to go back to; pass --to VERSION" in err
    code, out, err = _rollback("--registry", str(root), "--taxonomy", taxonomy, "--to", "v2")
    assert code == 0, err
    assert "v1 -> v2" in out


def test_rollback_refuses_an_unknown_version(deployment: Deployment) -> None:
    root = _promoted(deployment)
    code, out, err = _rollback("--registry", str(root), "--taxonomy", "group", "--to", "v9")
    assert code == 2
    assert out == ""
    assert "no version 'v9'; versions: v1, v2" in err
    assert "Traceback" not in err
    assert registry.current(root / "group") == "v2"


def test_rollback_in_an_empty_registry_says_how_to_fill_it(tmp_path: Path) -> None:
    code, _, err = _rollback("--registry", str(tmp_path), "--taxonomy", "ekman")
    assert code == 2
    assert "no 'ekman' model in this registry" in err
    assert "warmline triage train --taxonomy ekman" in err
    assert "Traceback" not in err


def test_rollback_in_a_registry_that_cannot_be_written_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipped = Path(str(default_model_dir("ekman")))
    for version in ("v1", "v2"):
        # Complete versions: rollback loads its target before it moves CURRENT.
        shutil.copytree(shipped, tmp_path / "ekman" / version)
    (tmp_path / "ekman" / "CURRENT").write_text("v2\n", encoding="utf-8")

    def read_only(taxonomy_dir: Path, version: str) -> None:
        raise PermissionError(13, "Permission denied", str(taxonomy_dir / "CURRENT"))

    monkeypatch.setattr("warmline.triage.registry._point", read_only)
    code, out, err = _rollback("--registry", str(tmp_path), "--taxonomy", "ekman", "--to", "v1")
    assert code == 2
    assert out == ""
    assert err == f"error: {tmp_path}: cannot write the registry: Permission denied\n"
    assert registry.current(tmp_path / "ekman") == "v2"


def test_a_pointer_that_is_not_text_is_named_not_a_traceback(tmp_path: Path) -> None:
    for version in ("v1", "v2"):
        (tmp_path / "ekman" / version).mkdir(parents=True)
    pointer = tmp_path / "ekman" / "CURRENT"
    pointer.write_bytes(b"v2\xff\n")
    code, out, err = _rollback("--registry", str(tmp_path), "--taxonomy", "ekman", "--to", "v1")
    assert code == 2
    assert out == ""
    assert f"{pointer}: byte 2 is not UTF-8 text; the file holds one version name" in err
    assert "Traceback" not in err
    assert pointer.read_bytes() == b"v2\xff\n"
    shadow = tmp_path / "ekman" / "SHADOW"
    shadow.write_bytes(b"\xfe")
    with pytest.raises(ModelLoadError, match="SHADOW: byte 0 is not UTF-8 text"):
        promotion.shadow_version(tmp_path, "ekman")
