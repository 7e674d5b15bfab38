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


def kafka_bootstrap(value: str | None) -> str | None:
    """A `--kafka` option's value, refused unless kafka-python can read every server in it as
    host:port with a port it could dial."""
    from kafka.cluster import collect_hosts

    if value is None:
        return None
    wanted = f"{value!r} is not host:port, comma-separated (e.g. 127.0.0.1:9092)"
    try:
        servers = collect_hosts(value)
    except ValueError:
        raise typer.BadParameter(f"{wanted}: a port is not a number") from None
    for host, port, _ in servers:
        if not host:
            raise typer.BadParameter(f"{wanted}: a server has no host")
        if not 0 < port < 2**16:
            raise typer.BadParameter(f"{wanted}: port {port} is out of range")
    return value


def temporal_address(value: str | None) -> str | None:
    """A `--temporal` option's value, refused unless it is host:port with a port that can be
    dialled (the Temporal client takes no scheme and would dial port 80 when none is given)."""
    if value is None:
        return None
    wanted = f"{value!r} is not host:port (e.g. 127.0.0.1:7233)"
    if "://" in value:
        raise typer.BadParameter(f"{wanted}: leave out the scheme")
    host, colon, port = value.rpartition(":")
    if not colon or not host:
        raise typer.BadParameter(f"{wanted}: give the host and the port")
    if not port.isdecimal() or not 0 < int(port) < 2**16:
        raise typer.BadParameter(f"{wanted}: the port must be a number from 1 to 65535")
    return value
