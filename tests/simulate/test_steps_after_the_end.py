"""`warmline simulate`: a step about a conversation or escalation that has already ended is a step
failure that says so, and a scenario can expect that refusal with `refused:`."""

from __future__ import annotations

from pathlib import Path

from warmline.services import Endpoints
from warmline.simulate import load_scenario, run_scenario

ROOT = Path(__file__).resolve().parents[2]
ONLINE_SHOP = ROOT / "examples" / "online-shop" / "warmline.yaml"
GRIEF = "My mother died last week and the gift I ordered for her arrived today"
ENDED = "refused: conversation c1 has already ended (its workflow is completed)"


def test_steps_after_the_conversation_closed_say_it_has_ended(
    tmp_path: Path, embedded_services: Endpoints
) -> None:
    path = tmp_path / "after-the-end.yaml"
    path.write_text(
        f"""apiVersion: warmline/v1
kind: Scenario
metadata: {{name: after-the-end}}
config: {ONLINE_SHOP}
steps:
  - at: 0s
    message: {{conversation: c1, text: "{GRIEF}"}}
  - at: 15s
    accept: {{specialist: sp-olu, conversation: c1}}
  - at: 30s
    complete: {{specialist: sp-olu, conversation: c1}}
  - at: 40s
    close: {{conversation: c1, reason: done}}
  - at: 50s
    hand_back: {{specialist: sp-olu, conversation: c1, note: over to you}}
  - at: 60s
    message: {{conversation: c1, text: "one more thing"}}
  - at: 70s
    assign: {{conversation: c1, specialist: sp-olu, supervisor: sup-amara, reason: paged}}
  - at: 80s
    message: {{conversation: c1, text: "are you there?"}}
    refused: has already ended
expect:
  - event: io.warmline.conversation.closed.v1
    subject: c1
    within: 41s
""",
        encoding="utf-8",
    )
    report = run_scenario(
        load_scenario(path), kafka=embedded_services.kafka, redis=embedded_services.redis
    )
    assert [r.passed for r in report.results] == [True]
    failed = [(e.number, e.kind, e.message) for e in report.run.step_errors]
    assert failed == [
        (5, "hand_back", ENDED),
        (6, "message", ENDED),
        (
            7,
            "assign",
            "refused: the escalation of c1 has already ended (its workflow is completed)",
        ),
    ]
    assert report.failures()[0] == f"{path}:15:5: steps[4]: step 5 (at 50s, hand_back): {ENDED}"
