"""Checks of the service addresses a user gives on the command line, made when the option is
parsed, so a mistyped address is an `Invalid value` message before anything connects."""

from __future__ import annotations

import typer


def redis_url(value: str | None) -> str | None:
    """A `--redis` option's value, refused unless redis-py can read it as a Redis URL (building a
    pool connects to nothing)."""
    from redis import ConnectionPool

    if value is None:
        return None
    try:
        ConnectionPool.from_url(value)
    except ValueError as error:
        raise typer.BadParameter(f"{value!r}: {error}; e.g. redis://127.0.0.1:6379/0") from None
    return value
