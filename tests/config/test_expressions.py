"""The condition language: what parses, what is rejected (and where), and how it evaluates."""

from __future__ import annotations

from typing import Any

import pytest

from warmline.config.expressions import (
    MAX_NESTING,
    EvaluationContext,
    EvaluationError,
    ExpressionError,
    parse_condition,
)

VALID = [
    "distress >= 0.7 for 2 messages",
    'emotion("grief") > 0.5',
    "confidence < 0.4",
    '"self_harm" in risk_flags',
    "'self_harm' not in risk_flags and not crisis",
    'channel in ["sms", "chat"] or locale == "de-DE"',
    "(distress > 0.5 or hostile) and message_count >= 3",
    'has_flag("abuse")',
    '"de" in locale',
    "distress > .5",
]


@pytest.mark.parametrize("text", VALID)
def test_valid_conditions_parse(text: str) -> None:
    assert str(parse_condition(text)) == text


INVALID = [
    ("distres > 1", 1, "unknown name 'distres'; did you mean 'distress'?"),
    ("distress > ", 12, "expected a value, found end of condition"),
    ("distress = 1", 10, "unexpected '='; use '==' to compare"),
    ("distress > 1 and", 17, "expected a value, found end of condition"),
    ("emotion(1) > 0.5", 9, "emotion() expects a string"),
    ('emotoin("grief") > 0.5', 1, "unknown function 'emotoin'; did you mean 'emotion'?"),
    ('emotion("a", "b") > 1', 1, "emotion() takes 1 argument(s), got 2"),
    ("confidence", 1, "a condition must be true or false"),
    ("(distress > 1", 14, "expected ')'"),
    ("distress > 1)", 13, "unexpected ')'"),
    ('"grief" > 1', 1, "'>' compares numbers, not a string"),
    ("channel == 1", 9, "cannot compare a string with a number"),
    ("distress > 0.5 for 0 messages", 20, "between 1 and 100"),
    ("distress > 0.5 for 2 minutes", 22, "expected 'messages' after 'for 2'"),
    ("distress > 0.5 for 1.5 messages", 16, "whole number"),
    ('"x" in distress', 8, "'in' needs a list or a string on the right"),
    ("distress and crisis", 1, "'and' needs true/false operands, not a number"),
    ("not distress", 5, "'not' needs a true/false operand"),
    ('"unterminated', 1, "unterminated string"),
    ("distress > 1 ; import os", 14, "unexpected character ';'"),
    ("__import__('os')", 1, "unknown function '__import__'"),
    ("risk_flags.pop() > 1", 11, "unexpected character '.'"),
    ("", 1, "empty condition"),
]


@pytest.mark.parametrize(("text", "column", "message"), INVALID)
def test_invalid_conditions_point_at_the_column(text: str, column: int, message: str) -> None:
    with pytest.raises(ExpressionError) as raised:
        parse_condition(text)
    assert message in raised.value.message
    assert raised.value.column == column


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    text = "(" * 500 + "crisis" + ")" * 500
    with pytest.raises(ExpressionError, match=f"deeper than {MAX_NESTING}"):
        parse_condition(text)


def test_overlong_condition_is_rejected() -> None:
    with pytest.raises(ExpressionError, match="longer than"):
        parse_condition("crisis or " * 500 + "crisis")


MESSAGE: dict[str, Any] = {
    "distress": 0.8,
    "confidence": 0.3,
    "risk_flags": ["self_harm"],
    "crisis": True,
    "hostile": False,
    "channel": "chat",
    "locale": "en-GB",
    "message_count": 4,
    "emotions": {"grief": 0.6, "fear": 0.1},
}

EVALUATIONS = [
    ('emotion("grief") > 0.5', True),
    ('emotion("joy") > 0', False),
    ("confidence < 0.4", True),
    ('"self_harm" in risk_flags', True),
    ('"abuse" not in risk_flags', True),
    ('has_flag("abuse")', False),
    ('channel in ["sms", "chat"]', True),
    ('"GB" in locale', True),
    ("hostile or distress > 0.9", False),
    ("not hostile and crisis", True),
    ("distress == 0.8", True),
    ("message_count != 4", False),
    ("not not crisis", True),
]


@pytest.mark.parametrize(("text", "expected"), EVALUATIONS)
def test_evaluation(text: str, expected: bool) -> None:
    assert parse_condition(text).evaluate(MESSAGE) is expected


def test_sustained_condition_needs_every_recent_message() -> None:
    condition = parse_condition("distress >= 0.7 for 2 messages")
    assert condition.window == 2

    def history(*values: float) -> EvaluationContext:
        return EvaluationContext([{"distress": value} for value in values])

    assert condition.evaluate(history(0.2, 0.7, 0.9)) is True
    assert condition.evaluate(history(0.9, 0.5, 0.9)) is False
    assert condition.evaluate(history(0.9)) is False


def test_sustained_inside_a_larger_condition() -> None:
    condition = parse_condition("crisis or distress > 0.5 for 3 messages")
    context = EvaluationContext([{"crisis": False, "distress": d} for d in (0.6, 0.7, 0.8)])
    assert condition.evaluate(context) is True
    assert condition.window == 3


def test_missing_value_is_an_evaluation_error() -> None:
    with pytest.raises(EvaluationError, match="no value for 'distress'"):
        parse_condition("distress > 0.5").evaluate({})


def test_wrong_runtime_type_is_an_evaluation_error() -> None:
    with pytest.raises(EvaluationError, match="distress should be a number"):
        parse_condition("distress > 0.5").evaluate({"distress": "high"})


def test_short_circuit_skips_missing_values() -> None:
    assert parse_condition("crisis or distress > 0.5").evaluate({"crisis": True}) is True
