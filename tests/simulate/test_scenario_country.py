"""A `message` step's `country` is a country code as a tenant's is: the crisis helplines are
looked up by it, so `gb` or `Ireland` would silently send the `default` ones, and an expectation
about the country's helplines would fail for no reason the report shows. Refused at load time
(exit 2, FILE:LINE:COL), before any service starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from warmline.cli import app
from warmline.simulate import load_scenario

ROOT = Path(__file__).resolve().parents[2]
ONLINE_SHOP = ROOT / "examples" / "online-shop" / "warmline.yaml"
HEADER = (
    f"apiVersion: warmline/v1\nkind: Scenario\nmetadata: {{name: probe}}\nconfig: {ONLINE_SHOP}\n"
)


def _scenario(tmp_path: Path, country: str) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(
        HEADER + "steps:\n  - at: 0s\n"
        f'    message: {{conversation: c1, text: "I want to end it all", country: {country}}}\n',
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize(
    ("country", "expected"),
    [
        pytest.param("gb", "'gb' is not a country code", id="lower-case"),
        pytest.param("Ireland", "'Ireland' is not a country code", id="a-name"),
        pytest.param("GBR", "'GBR' is not a country code", id="alpha-3"),
    ],
)
def test_a_country_that_is_no_code_is_refused_at_its_value(
    tmp_path: Path, country: str, expected: str
) -> None:
    path = _scenario(tmp_path, country)
    column = path.read_text(encoding="utf-8").splitlines()[6].index(country) + 1
    result = CliRunner().invoke(app, ["simulate", str(path)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert f"{path}:7:{column}: steps[0].message.country: {expected}" in result.stderr


def test_a_lower_case_code_gets_its_capitals_suggested(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["simulate", str(_scenario(tmp_path, "ie"))])
    assert result.exit_code == 2, result.output
    assert "did you mean 'IE'?" in result.stderr


def test_a_country_code_loads(tmp_path: Path) -> None:
    loaded = load_scenario(_scenario(tmp_path, "IE"))
    message = loaded.scenario.steps[0].message
    assert message is not None
    assert message.country == "IE"
