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


def listen_address(value: str | None) -> str | None:
    """A `--listen` option's value: host:port to bind, port 0 (any free port) to 65535; refused
    before anything starts, since gRPC would otherwise wrap a port over 65535 into another one."""
    if value is None:
        return None
    wanted = f"{value!r} is not host:port to listen on (e.g. 127.0.0.1:50051 or [::]:50051)"
    host, colon, port = value.rpartition(":")
    if not colon or not host:
        raise typer.BadParameter(f"{wanted}: give the host and the port")
    if not port.isdecimal() or not 0 <= int(port) < 2**16:
        raise typer.BadParameter(f"{wanted}: the port must be a number from 0 to 65535")
    return value


def kafka_topic(value: str | None) -> str | None:
    """A topic option's value, refused unless Kafka would accept it as a topic name (a consumer
    would otherwise wait for it for ever, and a producer fail only when it first publishes)."""
    from kafka.util import ensure_valid_topic_name

    if value is None:
        return None
    try:
        ensure_valid_topic_name(value)
    except ValueError as error:
        raise typer.BadParameter(f"{value!r}: {error}") from None
    return value


def kafka_topics(values: list[str] | None) -> list[str] | None:
    """`kafka_topic` for an option that may be given several times."""
    if values is None:
        return None
    return [topic for value in values if (topic := kafka_topic(value)) is not None]
