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
DOUBLINGS = 40
"""Enough doublings of an 8-character value to need 8 TB: the sandbox must stop them early."""


TOJSON_INDENTED = '{\n  "a": null,\n  "b": [\n    1.5,\n    "\\u00e9"\n  ]\n}'
"""`tojson` sorts keys (jinja2's default) and writes `é` as `\\u00e9`, as before."""


def _doubled(step: str, start: str = "'xxxxxxxx'") -> str:
    """A loop-free template that sets `a` to `start` and then `step` (`a ~ a`) `DOUBLINGS` times."""
    return "{% set a = " + start + " %}" + step * DOUBLINGS + "{{ a | length }}"


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
        (_doubled("{% set a = a ~ a %}"), "'~' concatenation"),
        (_doubled("{% set a = a ~ '' ~ a %}"), "'~' concatenation"),
        (_doubled("{% set a = a + a %}"), "'+' would build 131072 characters"),
        (_doubled("{% set a = a + a %}", start="[1, 2, 3, 4, 5, 6, 7, 8]"), "'+' would build"),
        (_doubled("{% set a %}{{ a }}{{ a }}{% endset %}"), "a block"),
        (
            "{% macro twice(s) %}{{ s }}{{ s }}{% endmacro %}" + _doubled("{% set a = twice(a) %}"),
            "a block",
        ),
        ("{{ [[[[[[[[[[1]]]]]]]]]] | tojson(indent=10**8) }}", "tojson() indent"),
        ("{{ [[[[[[[[[[1]]]]]]]]]] | tojson(indent=' ' * 60000) }}", "tojson() indent"),
        ("{{ ([1] * 60000) | tojson(indent=60000) }}", "tojson() would build at least"),
        ("{{ ('a ' * 30000) | wordwrap(1, wrapstring='y' * 60000) }}", "wordwrap()"),
        ("{{ ('www.x.co ' * 7000) | urlize(target='y' * 60000) }}", "urlize() target and rel"),
        ("{{ ('a' * 60000).translate({97: 'y' * 60000}) }}", "translate()"),
        ("{{ ['y' * 60000] * 60000 }}", "repetition would build"),
        ("{% set s = 'y' * 60000 %}{{ [s] | batch(60000, s) | list }}", "batch() with a fill"),
        # A value that holds another twice, forty times over, writes out exponentially.
        # `{{ a }}` wrote it out: a trillion items, in one call no deadline check interrupts.
        (
            _doubled("{% set a = [a, a] %}", start="[1]").replace("a | length", "a"),
            "a list would build 131072",
        ),
        (_doubled("{% set a = (a, a) %}", start="[1]"), "a tuple would build"),
        (_doubled("{% set a = {'k': a, 'j': a} %}", start="[1]"), "a dict would build"),
        (_doubled("{% set a = [a] * 2 %}", start="[1]"), "repetition would build"),
        (_doubled("{% set a = a + a %}", start="[[1]]"), "'+' would build"),
        (_doubled("{% set a = dict(x=a, y=a) %}", start="[1]"), "dict() would build"),
        (_doubled("{% set a = namespace(x=a, y=a) %}", start="[1]"), "Namespace() would build"),
        (_doubled("{% set a = {}.fromkeys(range(2), a) %}", start="[1]"), "fromkeys() would"),
        (_doubled("{% set a = a | groupby(1) | list %}", start="[[1, 'x']]"), "groupby() would"),
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


def test_summing_many_lists_takes_one_pass() -> None:
    # `sum` copies the list so far for each one it adds: quadratic, in one call.
    outcome = _render_in_child("{{ ([[1]] * 60000) | sum(start=[]) | length }}")

    assert outcome["error"] is None, outcome
    assert isinstance(outcome["seconds"], float)
    assert outcome["seconds"] < 2.0


def test_squaring_a_number_over_and_over_is_refused_before_it_multiplies() -> None:
    # Each squaring doubles the digits: one multiplication soon runs for seconds, past the
    # deadline, which is only checked between operations.
    outcome = _render_in_child(_doubled("{% set a = a * a %}", start="3 ** 2000"))

    assert outcome["error"] == "SecurityError", outcome
    assert "product too large (over 4096 bits)" in str(outcome["message"])
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
        (
            "{{ [1] ~ 'a' ~ 2 }}|{{ 'a' + 'b' }}|{{ [1] + [2] }}|{{ 2 ** 10 * 3 }}",
            "[1]a2|ab|[1, 2]|3072",
        ),
        (
            "{% set b %}x{{ 1 }}{% endset %}{{ b }}"
            "|{% macro m(x) %}<{{ x }}>{% endmacro %}{{ m(2) }}",
            "x1|<2>",
        ),
        ("{{ {'b': [1.5, 'é'], 'a': none} | tojson(indent=2) }}", TOJSON_INDENTED),
        ("{{ 'a b c d' | wordwrap(3, wrapstring='<br>') }}", "a b<br>c d"),
        (
            "{{ 'see www.x.com' | urlize(target='_blank') }}",
            'see <a href="https://www.x.com" rel="noopener" target="_blank">www.x.com</a>',
        ),
        ("{{ [[1], [2]] | sum(start=[]) }}|{{ [{'n': 2}, {'n': 3}] | sum('n') }}", "[1, 2]|5"),
        ("{{ 'abc'.translate({97: 'AA', 98: none}) }}", "AAc"),
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
        # `~` escapes what is not markup when autoescaping, as jinja2 does.
        joined = environment.from_string("{{ x ~ ('<i>' | safe) ~ 1 }}").render(x="<b>")
        assert joined == "&lt;b&gt;<i>1"
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


def test_a_handoff_template_that_doubles_a_string_falls_back_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "handoff.md.j2"
    # 22 doublings: 32 million characters, small enough for the old code to build and cut.
    path.write_text(
        "{% set a = conversation.id %}\n" + "{% set a = a ~ a %}" * 22 + "{{ a }}", encoding="utf-8"
    )
    renderer = HandoffRenderer.from_file(path, timeout=timedelta(seconds=2))

    package = renderer.render(_request(crisis=False), {})

    assert package.render_error is not None
    assert package.render_error.startswith("SecurityError: '~' concatenation would build")
    assert "over the size limit 65536 (template line 2)" in package.render_error
    assert not package.truncated
    assert "repeated anger over a refund" in package.rendered


def test_a_connector_template_that_doubles_in_a_block_is_a_permanent_error_naming_it() -> None:
    template = compile_template(
        "{% set a = data.summary %}" + "{% set a %}{{ a }}{{ a }}{% endset %}" * 22 + "{{ a }}",
        "body",
    )

    with pytest.raises(PermanentError, match=r"template body failed: SecurityError: a block"):
        render(template, "body", {"data": {"summary": "s" * 8}, "event": {}})


def test_a_connector_template_with_a_huge_width_is_a_permanent_error_naming_it() -> None:
    template = compile_template("{{ data.summary.ljust(10000000) }}", "body")

    with pytest.raises(PermanentError, match=r"template body failed: SecurityError: ljust\(\)"):
        render(template, "body", {"data": {"summary": "s"}, "event": {}})
