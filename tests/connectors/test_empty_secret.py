"""A connector's secret set but empty is refused when it is built, naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.sdk.connector import MissingSecretError
from connectors.sdk.run import build
from warmline.config.loader import load_config

INSURER = Path(__file__).resolve().parents[2] / "examples" / "insurer-claims"


@pytest.mark.parametrize("value", ["", "   ", "\n"])
def test_an_empty_secret_is_refused_by_name_not_value(value: str) -> None:
    config = load_config(INSURER / "warmline.yaml", resolve_secrets=False)
    [entry] = [c for c in config.connectors if c.type == "bamboohr"]
    [ref] = entry.secrets.values()
    with pytest.raises(MissingSecretError) as caught:
        build(config, entry, base_dir=INSURER, env={ref.name: value})
    assert f"environment variable(s) {ref.name} set but empty" in str(caught.value)


def test_a_missing_secret_is_still_named() -> None:
    config = load_config(INSURER / "warmline.yaml", resolve_secrets=False)
    [entry] = [c for c in config.connectors if c.type == "bamboohr"]
    [ref] = entry.secrets.values()
    with pytest.raises(MissingSecretError) as caught:
        build(config, entry, base_dir=INSURER, env={})
    assert f"needs environment variable(s) {ref.name}" in str(caught.value)
