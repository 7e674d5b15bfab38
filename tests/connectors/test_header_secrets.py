"""Credentials sent in HTTP headers: a token no header can carry (a line break at its end from the
file or variable it was set from) stops the connector at start with a clear error, and never
reaches a log, an exception or a dead letter's reason."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from connectors.bamboohr import BambooHRConnector, BambooHRSettings
from connectors.http import send
from connectors.hubspot import HubSpotConnector, HubSpotSettings
from connectors.sdk.connector import ConnectorContext, ConnectorError, PermanentError
from tests.connectors.fakes import FakeHubSpot

SHOP = Path(__file__).resolve().parents[2] / "examples" / "online-shop"
TOKEN = "pat-na1-0f3c9e5a-secret-part"
BAD_VALUES = [TOKEN + "\n", TOKEN + " ", " " + TOKEN, TOKEN + "\r\n", "pat-na1-é" + TOKEN]


class _Anything(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def server_url() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Anything)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("value", BAD_VALUES, ids=["lf", "space", "leading", "crlf", "non-ascii"])
def test_a_token_no_header_can_carry_is_refused_without_showing_it(value: str) -> None:
    context = ConnectorContext(name="crm", secrets={"access_token": value})
    with pytest.raises(ConnectorError) as refused:
        HubSpotConnector(HubSpotSettings(), context)
    assert "access_token" in str(refused.value)
    assert TOKEN not in str(refused.value)

    context = ConnectorContext(name="hr", secrets={"api_key": value})
    with pytest.raises(ConnectorError) as refused:
        BambooHRConnector(BambooHRSettings(subdomain="acme"), context)
    assert "api_key" in str(refused.value)
    assert TOKEN not in str(refused.value)


async def test_a_clean_token_is_taken_as_it_is() -> None:
    """The token reaches HubSpot byte for byte: the fake refuses any other bearer with 401."""
    context = ConnectorContext(name="crm", secrets={"access_token": TOKEN})
    with FakeHubSpot(token=TOKEN) as hub:
        connector = HubSpotConnector(HubSpotSettings(base_url=hub.url), context)
        await connector.start()
        try:
            assert await connector.find_ticket("c-none") is None
        finally:
            await connector.stop()
        [request] = hub.seen()
    assert request.status == 404, "authenticated, and no ticket of that conversation"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"


async def test_a_request_that_is_not_valid_http_is_permanent_and_quotes_no_header(
    server_url: str,
) -> None:
    """Whatever header a connector got wrong, retrying sends it wrong again, and the error the
    HTTP library raises quotes the value (here a credential)."""
    async with httpx.AsyncClient(base_url=server_url) as client:
        with pytest.raises(PermanentError) as refused:
            await send(
                client,
                "GET",
                "/x",
                what="read the thing",
                headers={"Authorization": f"Bearer {TOKEN}\n"},
            )
    message = str(refused.value)
    assert message.startswith("read the thing: the request is not valid HTTP"), message
    assert "secret-part" not in message


def test_connector_run_reports_the_bad_secret_at_its_line(tmp_path: Path) -> None:
    shutil.copytree(SHOP, tmp_path / "shop")
    config = tmp_path / "shop" / "warmline.yaml"
    config.write_text(
        config.read_text()
        + "\nconnectors:\n  - name: crm\n    type: hubspot\n"
        + "    events: [io.warmline.conversation.escalated.v1]\n"
        + '    secrets: {access_token: "${WARMLINE_TEST_HUBSPOT_TOKEN}"}\n'
    )
    command = [sys.executable, "-m", "warmline.cli", "connector", "run", "crm"]
    # Nothing listens on these: the secret is refused before anything is dialled.
    command += ["--config", str(config), "--kafka", "127.0.0.1:9", "--redis", "redis://127.0.0.1:9"]
    env = os.environ | {"WARMLINE_TEST_HUBSPOT_TOKEN": TOKEN + "\n"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    lines = config.read_text().splitlines()
    at = next(n for n, line in enumerate(lines, 1) if "access_token" in line)
    [said] = done.stderr.splitlines()
    assert said.startswith(
        f"{config}:{at}:29: connectors[0].secrets.access_token: environment variable "
        "WARMLINE_TEST_HUBSPOT_TOKEN begins or ends with whitespace or a line break"
    ), said
    assert "secret-part" not in done.stderr + done.stdout
