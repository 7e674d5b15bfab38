"""Secret references: secrets live only in environment variables, written `${NAME}` in YAML.

A literal value in a secret field is rejected; resolution happens at load time, not at validation.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import PlainSerializer, PlainValidator, ValidationInfo, WithJsonSchema
from pydantic_core import PydanticCustomError

SECRET_PATTERN = r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$"  # noqa: S105 - a pattern, not a password
_REFERENCE = re.compile(SECRET_PATTERN)
# Setting names that hold credentials; a literal value under such a name is a leaked secret.
SECRET_LIKE_NAMES = re.compile(
    r"(?i)(secret|token|password|passwd|api_?key|credential|authorization)"
)


class SecretNotResolvedError(LookupError):
    """A secret's value was asked for but its environment variable was not read or not set."""


@dataclass(frozen=True)
class SecretRef:
    """A reference to an environment variable holding a secret; `value` is set once resolved."""

    name: str
    value: str | None = field(default=None, repr=False, compare=False)

    def reveal(self) -> str:
        """The secret itself; raises `SecretNotResolvedError` when it was not resolved."""
        if self.value is None:
            raise SecretNotResolvedError(
                f"secret ${{{self.name}}} was not resolved (load the config with secrets)"
            )
        return self.value

    def __str__(self) -> str:
        return f"${{{self.name}}}"


def is_reference(value: object) -> bool:
    """Whether `value` is written as a `${NAME}` reference."""
    return isinstance(value, str) and _REFERENCE.match(value) is not None


def parse_reference(value: object, env: Mapping[str, str] | None, *, resolve: bool) -> SecretRef:
    """Turn `${NAME}` into a `SecretRef`, reading `env` when `resolve` is true."""
    if isinstance(value, SecretRef):
        return value
    if not isinstance(value, str) or not is_reference(value):
        raise PydanticCustomError(
            "secret_literal",
            "secrets must be {form} references such as {example}, not literal values",
            {"form": "${ENV}", "example": "'${WARMLINE_API_KEY}'"},
        )
    name = value[2:-1]
    if not resolve:
        return SecretRef(name)
    source = env if env is not None else {}
    if name not in source:
        raise PydanticCustomError(
            "secret_missing", "environment variable {name} is not set", {"name": name}
        )
    if not source[name].strip():
        # An empty token locks its holder out without a word (the API skips it) and an empty
        # API key fails only at the first request; both are a variable not filled in.
        raise PydanticCustomError(
            "secret_empty",
            "environment variable {name} is set but empty; give it the secret's value",
            {"name": name},
        )
    return SecretRef(name, source[name])


def literal_secret_settings(settings: Mapping[str, object]) -> list[tuple[str | int, ...]]:
    """Where plain settings hold a credential (by name) or a `${NAME}` reference, as paths into
    `settings`; values inside a mapping (a header, a CRM field) or a list count too, since they
    are sent as written just the same."""
    found: list[tuple[str | int, ...]] = []
    for name, value in settings.items():
        found.extend((name, *path) for path in _literal_secrets(name, value))
    return found


def _literal_secrets(name: str, value: object) -> Iterator[tuple[str | int, ...]]:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            yield from ((key, *path) for path in _literal_secrets(str(key), inner))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            if is_reference(inner):
                yield (index,)
    elif is_reference(value) or (SECRET_LIKE_NAMES.search(name) and isinstance(value, str)):
        yield ()


def _validate_secret(value: Any, info: ValidationInfo) -> SecretRef:
    context = info.context if isinstance(info.context, Mapping) else {}
    env = context.get("env")
    return parse_reference(value, env, resolve=bool(context.get("resolve_secrets", False)))


Secret = Annotated[
    SecretRef,
    PlainValidator(_validate_secret),
    # Dumping a configuration writes the reference back, never the secret itself.
    PlainSerializer(str, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": SECRET_PATTERN,
            "description": "A secret, always a reference to an environment variable: ${NAME}.",
            "examples": ["${WARMLINE_API_KEY}"],
        }
    ),
]
"""A secret field: only `${ENV_VAR}` references are accepted."""
