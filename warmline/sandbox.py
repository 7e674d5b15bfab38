"""The sandbox admins' jinja2 templates run in: the handoff template and connectors' templates.

jinja2's immutable sandbox keeps a template from reaching Python internals or changing its data;
`BudgetedSandbox` adds what keeps one from holding a worker: a time budget, checked at every
attribute or item lookup, call, `range` step, `for` loop step and output chunk, and limits on the
values `*` and `**` may build.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, safe_range

from warmline.errors import WarmlineError

MAX_POWER_BITS = 4096
"""The largest integer `**` may produce in a template; bigger powers would stall the worker."""

_LOOP_GUARD = "__warmline_loop_budget"
"""The global every `for` loop's sequence is passed through (see `BudgetedSandbox._parse`)."""


class RenderBudgetError(WarmlineError):
    """A template ran longer than its render timeout."""


_deadline: ContextVar[float | None] = ContextVar("template_render_deadline", default=None)


def check_deadline() -> None:
    """Raise `RenderBudgetError` when the render under way has used up its time."""
    deadline = _deadline.get()
    if deadline is not None and time.monotonic() >= deadline:
        raise RenderBudgetError("the template ran longer than the render timeout")


@contextmanager
def render_budget(seconds: float) -> Iterator[None]:
    """Templates rendered in this block must finish within `seconds` (see `check_deadline`)."""
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def _guarded_range(*args: int) -> Iterator[int]:
    for number in safe_range(*args):
        check_deadline()
        yield number


def _guarded_loop(sequence: Iterable[Any]) -> Iterator[Any]:
    for item in sequence:
        check_deadline()
        yield item


class BudgetedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox plus a time budget and limits on `*` and `**`.

    The time budget (`render_budget`) is cooperative: it is checked where a template spends its
    time, including each step of every `{% for %}`, so nested loops over short lists that print
    nothing are stopped too. `max_size` bounds what `*` may build (characters or items).
    """

    intercepted_binops = frozenset({"*", "**"})

    def __init__(self, *, max_size: int, **options: Any) -> None:
        super().__init__(**options)
        self.max_size = max_size
        self.globals["range"] = _guarded_range
        self.globals[_LOOP_GUARD] = _guarded_loop

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        # Every loop's sequence goes through `_guarded_loop`, which checks the deadline per step.
        for loop in list(tree.find_all(nodes.For)):
            guard = nodes.Name(_LOOP_GUARD, "load", lineno=loop.lineno)
            loop.iter = nodes.Call(guard, [loop.iter], [], None, None, lineno=loop.lineno)
        return tree

    def getattr(self, obj: Any, attribute: str) -> Any:
        check_deadline()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: str | Any) -> Any:
        check_deadline()
        return super().getitem(obj, argument)

    def call(
        __self,  # noqa: N805 - jinja2's signature; `self` may be a keyword argument of the call
        __context: Context,
        __obj: Any,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        check_deadline()
        return super().call(__context, __obj, *args, **kwargs)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        check_deadline()
        if operator == "*":
            sequence, count = (left, right) if isinstance(right, int) else (right, left)
            if (
                isinstance(sequence, str | list | tuple)
                and isinstance(count, int)
                and len(sequence) * count > self.max_size
            ):
                raise SecurityError("repetition longer than the rendered size limit")
            return left * right
        if (
            isinstance(left, int)
            and isinstance(right, int)
            and abs(left) > 1
            and right * abs(left).bit_length() > MAX_POWER_BITS
        ):
            raise SecurityError(f"power too large (over {MAX_POWER_BITS} bits)")
        return left**right
