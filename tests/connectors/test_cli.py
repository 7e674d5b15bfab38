"""`warmline connector run` as a process: the documented example connector, end to end."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.imports import loaded_by
from warmline.events.envelope import DomainEvent
from warmline.events.publisher import EventPublisher
from warmline.events.types import EventType

SHOP = Path(__file__).resolve().parents[2] / "examples" / "online-shop"


class ChatServer:
    """A Slack-style incoming webhook: takes `{"text": ...}` JSON; the first post gets a 503."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.failed_once = False
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Type") != "application/json":
                    self.send_error(415, "JSON only")
                    return
                text = json.loads(body).get("text")
                if not isinstance(text, str) or not text:
                    self.send_error(400, "missing text")
                    return
                if not server.failed_once:
                    server.failed_once = True
                    self.send_error(503, "try later")
                    return
                server.texts.append(text)
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: object) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()


@pytest.fixture
def chat() -> Iterator[ChatServer]:
    server = ChatServer()
    yield server
    server.close()


def configure(tmp_path: Path, settings: str) -> Path:
    shutil.copytree(SHOP, tmp_path / "shop")
    config = tmp_path / "shop" / "warmline.yaml"
    config.write_text(
        config.read_text()
        + "\nconnectors:\n  - name: team-chat\n"
        + "    type: connectors.examples.team_chat:TeamChatAlerts\n"
        + "    events: [io.warmline.crisis.detected.v1]\n"
        + settings
    )
    return config


def run(config: Path, name: str, kafka: str, redis: str, topic: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "warmline.cli", "connector", "run", name]
    command += ["--config", str(config), "--kafka", kafka, "--redis", redis, "--topic", topic]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def event(event_type: EventType, subject: str, data: dict[str, object]) -> DomainEvent:
    return DomainEvent(
        id=str(uuid.uuid4()),
        type=event_type,
        source="/warmline/tests",
        subject=subject,
        time=datetime.now(UTC),
        data=data,
    )


def test_the_example_connector_runs_from_the_configuration(
    tmp_path: Path, chat: ChatServer, kafka_bootstrap: str, redis_url: str
) -> None:
    config = configure(tmp_path, f"    settings:\n      webhook_url: {chat.url}\n")
    topic = f"cli-{uuid.uuid4().hex[:8]}"
    crisis = event(EventType.CRISIS_DETECTED, "conv-9", {"message_id": "m1", "risk_flags": ["x"]})
    paged = event(
        EventType.SUPERVISOR_PAGED, "conv-9", {"supervisor": None, "queue": "care", "reason": "r"}
    )
    publisher = EventPublisher.connect(kafka_bootstrap, topic=topic)
    publisher.publish([crisis, paged, crisis])
    publisher.close()
    process = run(config, "team-chat", kafka_bootstrap, redis_url, topic)
    try:
        deadline = time.monotonic() + 60
        while not chat.texts and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.1)
        time.sleep(1)
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert chat.texts == [":rotating_light: crisis in conv-9 (x)"], stderr
    assert chat.failed_once, "the 503 was retried"
    assert process.returncode == 0, stderr
    assert "connector team-chat stopped" in stderr


def test_invalid_settings_are_reported_at_their_line(
    tmp_path: Path, kafka_bootstrap: str, redis_url: str
) -> None:
    config = configure(tmp_path, "    settings:\n      webhook: http://example.invalid/\n")
    process = run(config, "team-chat", kafka_bootstrap, redis_url, "unused")
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2
    lines = config.read_text().splitlines()
    at = next(n for n, line in enumerate(lines, 1) if "webhook: http" in line)
    assert f"warmline.yaml:{at}:7: connectors[0].settings: unknown key 'webhook'" in stderr
    assert f"warmline.yaml:{at - 1}:5: connectors[0].settings: missing required" in stderr
    assert "Traceback" not in stderr


def test_an_unknown_connector_name_is_a_clear_error(
    tmp_path: Path, kafka_bootstrap: str, redis_url: str
) -> None:
    config = configure(tmp_path, "    settings:\n      webhook_url: http://127.0.0.1:9/\n")
    process = run(config, "crm", kafka_bootstrap, redis_url, "unused")
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2
    assert "no connector named 'crm' (defined: team-chat)" in stderr


def test_a_missing_secret_is_a_configuration_error_before_anything_is_dialled(
    tmp_path: Path,
) -> None:
    config = configure(
        tmp_path,
        "    settings:\n      webhook_url: http://127.0.0.1:9/\n"
        '    secrets: {signing_key: "${WARMLINE_TEST_ABSENT_SECRET}"}\n',
    )
    # Nothing listens on these: a secret checked only after connecting would say so instead.
    process = run(config, "team-chat", "127.0.0.1:9", "redis://127.0.0.1:9/0", "unused")
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2, stderr
    lines = config.read_text().splitlines()
    at = next(n for n, line in enumerate(lines, 1) if "signing_key" in line)
    assert stderr.splitlines() == [
        f"{config}:{at}:28: connectors[0].secrets.signing_key: environment variable "
        "WARMLINE_TEST_ABSENT_SECRET is not set"
    ]


def test_the_connector_guide_shows_the_example_as_it_is() -> None:
    root = Path(__file__).resolve().parents[2]
    guide = (root / "docs" / "connectors.md").read_text()
    example = (root / "connectors" / "examples" / "team_chat.py").read_text()
    assert f"```python\n{example}```" in guide, "docs/connectors.md must show team_chat.py verbatim"
    assert len([line for line in example.splitlines() if line.strip()]) <= 35


def test_a_connector_reads_the_topics_of_what_it_handles() -> None:
    from connectors.bamboohr import BambooHRConnector
    from connectors.examples.team_chat import TeamChatAlerts
    from connectors.sdk.run import topics_for
    from warmline.config.model import Connector as Entry

    hr = Entry(name="hr", type="bamboohr", events=["io.warmline.wellness.*"])
    chat = Entry(name="chat", type="team-chat", events=["io.warmline.crisis.*"])
    assert topics_for(hr, BambooHRConnector) == ("warmline.wellness.v1",)
    assert topics_for(chat, TeamChatAlerts) == ("warmline.events.v1",)


def test_validating_connectors_loads_no_runner() -> None:
    """`warmline validate` checks connector settings without the runner, the event consumer or
    Temporal's client: a configuration check answers in about a second."""
    heavy = ("connectors.sdk.runner", "temporalio.client", "warmline.events.consuming")
    assert loaded_by("connectors.sdk.check", heavy) == []
