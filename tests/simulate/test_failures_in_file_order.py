"""A failed run's `FILE:LINE:COL:` lines come in the file's order, also when the scenario writes
its `expect:` above its `steps:`."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from warmline.simulate import load_scenario
from warmline.simulate.report import Run, StepError, evaluate

ROOT = Path(__file__).resolve().parents[2]
ONLINE_SHOP = ROOT / "examples" / "online-shop" / "warmline.yaml"
GRIEF = "My mother died last week and the gift I ordered for her arrived today"

EXPECT_FIRST = f"""apiVersion: warmline/v1
kind: Scenario
metadata: {{name: expect-first}}
expect:
  - event: io.warmline.handoff.completed.v1
    within: 1m
steps:
  - at: 0s
    message: {{conversation: c1, text: "{GRIEF}"}}
  - at: 10s
    accept: {{specialist: sp-priya, conversation: c1}}
"""
"""expect[0] (`event:` at 5:5) comes before step 2 (`accept:` at 11:5)."""


def test_an_expectation_above_the_steps_is_listed_first(tmp_path: Path) -> None:
    path = tmp_path / "expect-first.yaml"
    path.write_text(EXPECT_FIRST, encoding="utf-8")
    loaded = load_scenario(path, config_path=ONLINE_SHOP)
    step = StepError(1, timedelta(seconds=10), "accept", "sp-priya has no open offer of c1 now")
    report = evaluate(loaded.scenario, Run(step_errors=[step]), loaded.document)
    assert report.failures() == [
        f"{path}:5:5: expect[0]: expected event io.warmline.handoff.completed.v1 within 1m; "
        "no handoff.completed event at all",
        f"{path}:11:5: steps[1]: step 2 (at 10s, accept): sp-priya has no open offer of c1 now",
    ]
