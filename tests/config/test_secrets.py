"""Secret references: only `${NAME}` is accepted; values come from the environment at load time."""

from __future__ import annotations

import pytest
from pydantic_core import PydanticCustomError

from warmline.config.secrets import (
    SecretNotResolvedError,
    SecretRef,
    literal_secret_settings,
    parse_reference,
)


def test_reference_without_resolution_keeps_only_the_name() -> None:
    ref = parse_reference("${API_KEY}", {"API_KEY": "s3cret"}, resolve=False)
    assert ref == SecretRef("API_KEY")
    with pytest.raises(SecretNotResolvedError):
        ref.reveal()


def test_reference_resolved_from_env() -> None:
    ref = parse_reference("${API_KEY}", {"API_KEY": "s3cret"}, resolve=True)
    assert ref.reveal() == "s3cret"
    assert "s3cret" not in repr(ref)
    assert str(ref) == "${API_KEY}"


def test_missing_variable_names_it() -> None:
    with pytest.raises(PydanticCustomError, match="environment variable API_KEY is not set"):
        parse_reference("${API_KEY}", {}, resolve=True)


@pytest.mark.parametrize("value", ["sk-123", "$API_KEY", "${API KEY}", "${}", "x${API_KEY}", 42])
def test_literals_are_refused(value: object) -> None:
    with pytest.raises(PydanticCustomError, match="secrets must be"):
        parse_reference(value, {}, resolve=False)


def test_secret_like_settings() -> None:
    settings = {"url": "https://x", "api_key": "abc", "password": "pw", "other": "${TOKEN}", "n": 1}
    assert literal_secret_settings(settings) == [("api_key",), ("password",), ("other",)]


def test_secret_like_values_inside_mappings_and_lists() -> None:
    settings = {
        "headers": {"X-Api-Key": "${HOOK_KEY}", "Authorization": "Bearer abc", "X-Team": "care"},
        "recipients": ["ops@example.com", "${PAGER_TOKEN}"],
        "fields": {"owner": "{{ data.specialist }}"},
    }
    assert literal_secret_settings(settings) == [
        ("headers", "X-Api-Key"),
        ("headers", "Authorization"),
        ("recipients", 1),
    ]
