"""A jar that arrives damaged is refused and fetched again, never cached for the broker."""

from __future__ import annotations

import functools
import threading
import zipfile
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from warmline.errors import ServiceError
from warmline.services.kafka_jars import KAFKA_VERSION, kafka_classpath

_DAMAGED = f"kafka-clients-{KAFKA_VERSION}.jar"


class _Mirror(SimpleHTTPRequestHandler):
    """A Maven repository serving the machine's local one; while `damaged` is set, one jar
    arrives cut short (its checksum file stays right, as it would from a real repository)."""

    damaged = threading.Event()

    def do_GET(self) -> None:
        if self.damaged.is_set() and self.path.endswith("/" + _DAMAGED):
            whole = Path(self.translate_path(self.path)).read_bytes()
            cut = whole[: len(whole) // 2]
            self.send_response(200)
            self.send_header("Content-Length", str(len(cut)))
            self.end_headers()
            self.wfile.write(cut)
            return
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: Maven fetches a few hundred files."""


@pytest.fixture
def mirror() -> Iterator[str]:
    kafka_classpath()  # the machine's ~/.m2 has every file Maven asks for once this resolved
    handler = functools.partial(_Mirror, directory=str(Path.home() / ".m2" / "repository"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        _Mirror.damaged.clear()


def test_a_jar_cut_short_is_refused_and_fetched_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mirror: str
) -> None:
    """Maven only warns about a checksum that does not match and keeps the jar: before, the
    damaged jar was cached as complete and every broker start failed with a Java stack trace."""
    home = tmp_path / "home"
    (home / ".m2").mkdir(parents=True)
    (home / ".m2" / "settings.xml").write_text(
        "<settings><mirrors><mirror><id>mirror</id><mirrorOf>*</mirrorOf>"
        f"<url>{mirror}</url></mirror></mirrors></settings>"
    )
    monkeypatch.setenv("WARMLINE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("MAVEN_OPTS", f"-Duser.home={home} -Dmaven.repo.local={home / 'repo'}")
    lib = tmp_path / "cache" / "kafka" / KAFKA_VERSION / "lib"

    _Mirror.damaged.set()
    with pytest.raises(ServiceError) as raised:
        kafka_classpath()
    message = str(raised.value)
    assert "kafka-clients" in message, message
    assert "checksum" in message.lower(), message
    assert not lib.exists(), "a damaged set of jars was cached as complete"

    _Mirror.damaged.clear()
    assert kafka_classpath() == f"{lib}/*"
    with zipfile.ZipFile(lib / _DAMAGED) as jar:
        assert jar.testzip() is None, "the jar was not fetched again"
