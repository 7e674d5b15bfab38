"""A jar damaged after it was fetched (in warmline's cache, or in the local Maven repository Maven
copies it from) is noticed and fetched again, rather than failing every broker start in Java."""

from __future__ import annotations

import functools
import shutil
import threading
import zipfile
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from warmline.services.kafka_jars import KAFKA_VERSION, kafka_classpath

_JAR = f"kafka-clients-{KAFKA_VERSION}.jar"


def _whole(jar: Path) -> bool:
    try:
        with zipfile.ZipFile(jar) as archive:
            return archive.testzip() is None
    except (OSError, zipfile.BadZipFile):
        return False


def _cut_short(jar: Path) -> None:
    """Rewrite `jar` with its first half only (a new file: a hard link's target stays whole)."""
    half = jar.read_bytes()[: jar.stat().st_size // 2]
    jar.unlink()
    jar.write_bytes(half)


class _Repository(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: Maven fetches a few hundred files."""


@pytest.fixture
def machine_lib() -> Path:
    """The machine's resolved jars (resolving them first, so ~/.m2 holds every file)."""
    return Path(kafka_classpath().removesuffix("/*"))


@pytest.fixture
def mirror(machine_lib: Path) -> Iterator[str]:
    """A Maven repository on loopback serving the machine's local one."""
    handler = functools.partial(_Repository, directory=str(Path.home() / ".m2" / "repository"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_jar_cut_short_in_the_cache_is_fetched_again(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    machine_lib: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """A cache marked complete was trusted for ever: a jar cut short in it (a cache an earlier
    warmline filled before it refused bad checksums, a disk error) failed every broker start."""
    monkeypatch.setenv("WARMLINE_CACHE_DIR", str(tmp_path / "cache"))
    lib = tmp_path / "cache" / "kafka" / KAFKA_VERSION / "lib"
    shutil.copytree(machine_lib, lib)
    _cut_short(lib / _JAR)
    assert (lib / ".complete").exists()

    assert kafka_classpath() == f"{lib}/*"
    assert _whole(lib / _JAR), "the damaged jar in the cache was used as it was"
    assert "resolving Apache Kafka" in capfd.readouterr().err


def test_a_jar_damaged_in_the_local_maven_repository_is_fetched_again(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    mirror: str,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Maven checks checksums only while downloading: a jar its local repository already holds
    damaged (kept there by a Maven run without --strict-checksums) was copied into the cache as
    it was, so clearing warmline's cache did not help either."""
    home = tmp_path / "home"
    (home / ".m2").mkdir(parents=True)
    (home / ".m2" / "settings.xml").write_text(
        "<settings><mirrors><mirror><id>mirror</id><mirrorOf>*</mirrorOf>"
        f"<url>{mirror}</url></mirror></mirrors></settings>"
    )
    repository = home / "repo"
    monkeypatch.setenv("WARMLINE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("MAVEN_OPTS", f"-Duser.home={home} -Dmaven.repo.local={repository}")
    lib = tmp_path / "cache" / "kafka" / KAFKA_VERSION / "lib"
    assert kafka_classpath() == f"{lib}/*"
    in_repository = repository / "org" / "apache" / "kafka" / "kafka-clients" / KAFKA_VERSION / _JAR
    _cut_short(in_repository)
    shutil.rmtree(lib.parent)
    capfd.readouterr()

    assert kafka_classpath() == f"{lib}/*"
    assert _whole(lib / _JAR), "the damaged jar was copied from the local repository"
    assert _whole(in_repository), "the local repository keeps the damaged jar"
    assert _JAR in capfd.readouterr().err, "the jar fetched again is not named"
