"""A `--redis`, `--kafka` or `--temporal` value its client cannot read is refused when the option is
parsed, in every command that takes one, before any configuration is read or any service is dialled.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from warmline.addresses import (
    kafka_bootstrap,
    kafka_topic,
    kafka_topics,
    listen_address,
    redis_url,
    temporal_address,
)
from warmline.cli import app

SHOP = Path(__file__).resolve().parents[1] / "examples" / "online-shop" / "warmline.yaml"

COMMANDS = [
    ["worker", "--config", str(SHOP), "--temporal", "127.0.0.1:1"],
    ["bridge", "--config", str(SHOP), "--temporal", "127.0.0.1:1"],
    ["wellness-tracker", "--config", str(SHOP), "--temporal", "127.0.0.1:1"],
    ["api", "--config", str(SHOP), "--temporal", "127.0.0.1:1"],
    ["annotate", "sample", "--config", str(SHOP), "--temporal", "127.0.0.1:1"],
    ["connector", "run", "crm", "--config", str(SHOP), "--kafka", "127.0.0.1:1"],
    ["triage", "shadow", "--config", str(SHOP)],
    ["simulate", str(SHOP), "--kafka", "127.0.0.1:1"],
    ["demo", "--temporal", "127.0.0.1:1", "--kafka", "127.0.0.1:1"],
]


def said(result: Result) -> str:
    """The output with the error box's borders and line breaks taken out."""
    return " ".join(result.output.replace("│", " ").split())


def refused_up_front(command: list[str], option: str, value: str) -> str:
    """Run `command` with `option value`: exit 2 with click's own message, no traceback; what
    was said."""
    result = CliRunner().invoke(app, [*command, option, value])
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '{option}'" in said(result)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return said(result)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0] if "--" in c[1] else c[1])
def test_a_redis_address_without_a_scheme_is_refused_up_front(command: list[str]) -> None:
    assert "redis://" in refused_up_front(command, "--redis", "localhost:6379")


def test_the_environment_variable_is_checked_too() -> None:
    result = CliRunner().invoke(
        app, COMMANDS[0], env={"WARMLINE_REDIS": "redis://127.0.0.1:port/0"}
    )
    assert result.exit_code == 2, result.output
    assert "Port could not be cast to integer" in said(result)


@pytest.mark.parametrize(
    "url", ["redis://127.0.0.1:6379/0", "rediss://cache.internal:6380", "unix:///run/redis.sock"]
)
def test_redis_urls_pass_unchanged(url: str) -> None:
    assert redis_url(url) == url
    assert redis_url(None) is None


def test_the_refusal_names_the_value_and_an_example() -> None:
    with pytest.raises(typer.BadParameter, match=r"'127\.0\.0\.1:6379'.*e\.g\. redis://"):
        redis_url("127.0.0.1:6379")


KAFKA_COMMANDS = [c for c in COMMANDS if "--kafka" in c] + [
    ["worker", "--config", str(SHOP), "--temporal", "127.0.0.1:1"],
    ["bridge", "--config", str(SHOP), "--temporal", "127.0.0.1:1"],
    ["wellness-tracker", "--config", str(SHOP), "--temporal", "127.0.0.1:1"],
    ["annotate", "sample", "--config", str(SHOP), "--temporal", "127.0.0.1:1"],
]


@pytest.mark.parametrize("command", KAFKA_COMMANDS, ids=lambda c: c[0] if "--" in c[1] else c[1])
def test_a_kafka_port_that_is_not_a_number_is_refused_up_front(command: list[str]) -> None:
    assert "a port is not a number" in refused_up_front(command, "--kafka", "127.0.0.1:9O92")


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", "a server has no host"),
        ("broker-1:9092,,broker-2:9092", "a server has no host"),
        ("broker-1:", "a port is not a number"),
        ("broker-1:0", "port 0 is out of range"),
        ("broker-1:90920", "port 90920 is out of range"),
    ],
)
def test_bootstrap_servers_kafka_could_not_dial_are_refused(value: str, problem: str) -> None:
    with pytest.raises(typer.BadParameter, match=problem):
        kafka_bootstrap(value)


@pytest.mark.parametrize("value", ["127.0.0.1:9092", "a:9092,b:9093", "[::1]:9092", "kafka"])
def test_bootstrap_servers_pass_unchanged(value: str) -> None:
    assert kafka_bootstrap(value) == value
    assert kafka_bootstrap(None) is None


TEMPORAL_COMMANDS = [
    ["worker", "--config", str(SHOP)],
    ["bridge", "--config", str(SHOP)],
    ["wellness-tracker", "--config", str(SHOP)],
    ["api", "--config", str(SHOP)],
    ["annotate", "sample", "--config", str(SHOP)],
    ["annotate", "report", "--config", str(SHOP)],
    ["triage", "retrain", "--config", str(SHOP)],
    ["demo", "--kafka", "127.0.0.1:1", "--redis", "redis://127.0.0.1:1/0"],
]


@pytest.mark.parametrize("command", TEMPORAL_COMMANDS, ids=lambda c: c[0] if "--" in c[1] else c[1])
def test_a_temporal_port_that_is_not_a_number_is_refused_up_front(command: list[str]) -> None:
    message = refused_up_front(command, "--temporal", "127.0.0.1:72three3")
    assert "the port must be a number from 1 to 65535" in message


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("http://127.0.0.1:7233", "leave out the scheme"),
        ("temporal.internal", "give the host and the port"),
        (":7233", "give the host and the port"),
        ("", "give the host and the port"),
        ("temporal.internal:0", "the port must be a number from 1 to 65535"),
        ("temporal.internal:-1", "the port must be a number from 1 to 65535"),
    ],
)
def test_temporal_addresses_the_client_could_not_dial_are_refused(value: str, problem: str) -> None:
    with pytest.raises(typer.BadParameter, match=problem):
        temporal_address(value)


@pytest.mark.parametrize("value", ["127.0.0.1:7233", "temporal.internal:7233", "[::1]:7233"])
def test_temporal_addresses_pass_unchanged(value: str) -> None:
    assert temporal_address(value) == value
    assert temporal_address(None) is None


TOPIC_OPTIONS = [
    (["worker", "--config", str(SHOP)], "--events-topic"),
    (["bridge", "--config", str(SHOP)], "--messages-topic"),
    (["bridge", "--config", str(SHOP)], "--hr-topic"),
    (["bridge", "--config", str(SHOP)], "--dead-letter-topic"),
    (["wellness-tracker", "--config", str(SHOP)], "--events-topic"),
    (["annotate", "sample", "--config", str(SHOP)], "--events-topic"),
    (["connector", "run", "crm", "--config", str(SHOP)], "--topic"),
]


@pytest.mark.parametrize(
    ("command", "option"), TOPIC_OPTIONS, ids=[f"{c[0]} {o}" for c, o in TOPIC_OPTIONS]
)
def test_a_topic_kafka_would_refuse_is_refused_up_front(command: list[str], option: str) -> None:
    assert "is illegal" in refused_up_front(command, option, "bad topic!")


@pytest.mark.parametrize(
    ("value", "problem"),
    [("", "non-empty"), ("..", "cannot be"), ("a" * 250, "longer than 249"), ("é", "illegal")],
)
def test_topic_names_kafka_would_refuse(value: str, problem: str) -> None:
    with pytest.raises(typer.BadParameter, match=problem):
        kafka_topic(value)


@pytest.mark.parametrize("value", ["warmline.events.v1", "acme_events-2", "a" * 249])
def test_topic_names_pass_unchanged(value: str) -> None:
    assert kafka_topic(value) == value
    assert kafka_topics([value, value]) == [value, value]


def test_a_listen_port_over_65535_is_refused_up_front() -> None:
    message = refused_up_front(["api", "--config", str(SHOP)], "--listen", "127.0.0.1:99999")
    assert "the port must be a number from 0 to 65535" in message


@pytest.mark.parametrize(
    ("value", "problem"),
    [("nonsense", "give the host and the port"), (":50051", "give the host and the port")],
)
def test_listen_addresses_grpc_could_not_bind_are_refused(value: str, problem: str) -> None:
    with pytest.raises(typer.BadParameter, match=problem):
        listen_address(value)


@pytest.mark.parametrize("value", ["127.0.0.1:50051", "[::]:50051", "0.0.0.0:0"])
def test_listen_addresses_pass_unchanged(value: str) -> None:
    assert listen_address(value) == value
