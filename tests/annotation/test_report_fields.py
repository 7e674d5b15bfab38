"""The annotator API's agreement report carries every count of the loop's report."""

from __future__ import annotations

from warmline.annotation.model import AnnotationReport
from warmline.api.annotator import _report


def test_every_count_of_the_loops_report_reaches_the_api() -> None:
    counts = {"items": 11, "open_tasks": 7, "gold": 5, "dropped": 3, "flags": 2, "shed": 13}
    report = AnnotationReport(batches=[], exposure=[], reply_quality=[], **counts)
    assert {
        name for name, field in AnnotationReport.model_fields.items() if field.annotation is int
    } == set(counts), "a count of the report is not in this test"
    answered = _report(report)
    assert {name: getattr(answered, name) for name in counts} == counts
