"""The exception tree callers can catch: one root, specific leaves with actionable messages."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal


class WarmlineError(Exception):
    """Root of every error warmline raises on purpose."""


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in a file, pointing at a line and column (both 1-based).

    A warning is something valid that probably does not do what its author meant; it never makes
    a file invalid."""

    path: Path
    line: int
    column: int
    message: str
    severity: Literal["error", "warning"] = "error"

    def render(self) -> str:
        label = "warning: " if self.severity == "warning" else ""
        return f"{self.path}:{self.line}:{self.column}: {label}{self.message}"


class ConfigError(WarmlineError):
    """A configuration file is invalid; carries every problem found, each with its position."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        super().__init__("\n".join(d.render() for d in diagnostics))


class ServiceError(WarmlineError):
    """A local service (Temporal, Kafka, Redis) could not be started, reached or stopped."""
