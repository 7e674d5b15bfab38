"""The template sandbox refuses, before allocating, what a mistyped number would make huge.

Each runaway template renders in a child process under a 512 MB address-space limit, so a
sandbox that lets one through fails that child (a `MemoryError`, or too slow) rather than the
worker running these tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
from jinja2.exceptions import SecurityError
from markupsafe import Markup

from connectors.http import compile_template, render
from connectors.sdk.connector import PermanentError
from tests.handoff.test_render import _request
from warmline.handoff import HandoffRenderer
from warmline.sandbox import BudgetedSandbox, render_budget

ROOT = Path(__file__).resolve().parents[1]
MAX_SIZE = 64 * 1024

_CHILD = textwrap.dedent(
    """
    import json, resource, sys, time
    limit = 512 << 20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    from warmline.sandbox import BudgetedSandbox, render_budget
    environment = BudgetedSandbox(max_size={max_size})
    started = time.monotonic()
    try:
        with render_budget(2.0):
            environment.from_string(sys.argv[1]).render()
        outcome = {{"error": None, "message": ""}}
    except BaseException as error:
        outcome = {{"error": type(error).__name__, "message": str(error)[:300]}}
    outcome["seconds"] = time.monotonic() - started
    print(json.dumps(outcome))
    """
).format(max_size=MAX_SIZE)


def _render_in_child(source: str) -> dict[str, object]:
    """Render `source` in a memory-limited child; its error type, message and time taken."""
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, source],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    outcome: dict[str, object] = json.loads(done.stdout)
    return outcome


@pytest.mark.parametrize(
    ("source", "named"),
    [
        ("{{ 'x'.center(10**9) }}", "center() width"),
        ("{{ 'x'.ljust(10**9) }}", "ljust() width"),
        ("{{ 'x'.rjust(10**9, '-') }}", "rjust() width"),
        ("{{ '7'.zfill(10**9) }}", "zfill() width"),
        ("{{ 'x' | center(10**9) }}", "center() width"),
        ("{{ 'a\nb\nc' | indent(10**9) }}", "indent()"),
        ("{{ '\t'.expandtabs(10**9) }}", "expandtabs()"),
        ("{{ '%01000000000d' % 1 }}", "'%' formatting"),
        ("{{ '%0*d' % (10**9, 1) }}", "'%' formatting"),
        ("{{ '%.1000000000f' % 1.5 }}", "'%' formatting"),
        ("{{ '%(n)01000000000d' % {'n': 1} }}", "'%' formatting"),
        ("{{ '%01000000000d' | format(1) }}", "format()"),
        ("{{ '{:>1000000000}'.format(1) }}", "a format width or precision"),
        ("{{ '{:>{}}'.format(1, 10**9) }}", "a format width or precision"),
        ("{{ '{:.1000000000f}'.format(1.5) }}", "a format width or precision"),
        ("{{ '{n:01000000000}'.format_map({'n': 1}) }}", "a format width or precision"),
        ("{{ ('x' * 60000) | replace('x', 'y' * 60000) }}", "replace()"),
        ("{{ ('x' * 60000).replace('x', 'y' * 60000) }}", "replace()"),
        ("{{ (('x' * 60000) | safe).replace('x', 'y' * 60000) }}", "replace()"),
        ("{{ range(60000) | join('x' * 60000) }}", "join()"),
        ("{{ ('x' * 60000).join(range(60000) | map('string')) }}", "join()"),
        ("{{ [1] | batch(10**9, 0) | list }}", "batch() with a fill value"),
        ("{{ [] | slice(10**8) | list | length }}", "slice() count"),
        ("{{ (1).to_bytes(10**9, 'big') }}", "to_bytes() length"),
        ("{{ lipsum(10**5) }}", "lipsum(100000"),
        ("{{ lipsum(1, min=10**8, max=10**8 + 1) }}", "lipsum(1"),
    ],
)
def test_runaway_sizes_are_refused_before_they_allocate(source: str, named: str) -> None:
    outcome = _render_in_child(source)

    assert outcome["error"] == "SecurityError", outcome
    assert named in str(outcome["message"])
    assert "over the size limit 65536" in str(outcome["message"])
    # Refused up front: well inside the render timeout, not found out by it.
    assert isinstance(outcome["seconds"], float)
    assert outcome["seconds"] < 2.0


@pytest.mark.parametrize(
    ("source", "rendered"),
    [
        ("{{ 'x'.center(5) }}|{{ 'x'.ljust(3, '.') }}|{{ '7'.zfill(3) }}", "  x  |x..|007"),
        ("{{ 'ab' | center(6) }}|{{ 'a\nb' | indent(2, true) }}", "  ab  |  a\n  b"),
        ("{{ '%05d' % 3 }}|{{ '%s-%s' % ('a', 'b') }}|{{ '%d%%' % 5 }}", "00003|a-b|5%"),
        ("{{ '%(a)s/%(b).2f' % {'a': 1, 'b': 2} }}|{{ '%*d' % (4, 7) }}", "1/2.00|   7"),
        ("{{ '%s, %s!' | format('Hi', 'Ana') }}|{{ '%(x)s' | format(x=1) }}", "Hi, Ana!|1"),
        ("{{ '{:>4}'.format(1) }}|{{ '{a:.1f}'.format_map({'a': 2}) }}", "   1|2.0"),
        ("{{ 'a.b' | replace('.', ', ') }}|{{ 'aaa'.replace('a', 'bb', 2) }}", "a, b|bbbba"),
        ("{{ [1, 2] | join(', ') }}|{{ '-'.join(['a', 'b']) }}", "1, 2|a-b"),
        (
            "{{ [1, 2, 3] | batch(2, 0) | list }}|{{ [1, 2, 3] | slice(2) | list }}",
            "[[1, 2], [3, 0]]|[[1, 2], [3]]",
        ),
        ("{{ 'a\tb'.expandtabs(2) }}|{{ (258).to_bytes(2, 'big') | list }}", "a b|[1, 2]"),
        ("{{ lipsum(2, false, 3, 5).split('\n\n') | length }}", "2"),
    ],
)
def test_ordinary_padding_formatting_and_joining_still_work(source: str, rendered: str) -> None:
    environment = BudgetedSandbox(max_size=MAX_SIZE)

    with render_budget(2.0):
        assert environment.from_string(source).render() == rendered


def test_markup_format_still_escapes_and_format_still_guards_attributes() -> None:
    environment = BudgetedSandbox(max_size=MAX_SIZE, autoescape=True)

    with render_budget(2.0):
        escaped = environment.from_string("{{ ('<p>{}</p>' | safe).format(x) }}").render(x="<b>")
        assert escaped == Markup("<p>&lt;b&gt;</p>")
        # The bounded filters keep the markup they are given, and escape what they add.
        filtered = environment.from_string(
            "{{ ('<i>%s</i>' | safe) | format(x) }} {{ ('<i>a</i>' | safe) | replace('a', x) }}"
            " {{ [x, '<i>' | safe] | join(' ') }} {{ '<i>' | safe | indent(2, true) }}"
        ).render(x="<b>")
        assert filtered == "<i>&lt;b&gt;</i> <i>&lt;b&gt;</i> &lt;b&gt; <i>   <i>"
        with pytest.raises(SecurityError, match=r"attribute '__class__' of 'int' object is unsafe"):
            environment.from_string("{{ '{0.__class__.__mro__}'.format(1) }}").render()


def test_a_handoff_template_with_a_huge_width_falls_back_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "handoff.md.j2"
    # Ten million: small enough for the old code to render and cut rather than run out of memory.
    path.write_text("{{ conversation.id | center(10000000) }}", encoding="utf-8")
    renderer = HandoffRenderer.from_file(path, timeout=timedelta(seconds=2))

    package = renderer.render(_request(crisis=False), {})

    assert package.render_error is not None
    assert package.render_error.startswith("SecurityError: center() width would build 10000000")
    assert "(template line 1)" in package.render_error
    assert "repeated anger over a refund" in package.rendered


def test_a_connector_template_with_a_huge_width_is_a_permanent_error_naming_it() -> None:
    template = compile_template("{{ data.summary.ljust(10000000) }}", "body")

    with pytest.raises(PermanentError, match=r"template body failed: SecurityError: ljust\(\)"):
        render(template, "body", {"data": {"summary": "s"}, "event": {}})
