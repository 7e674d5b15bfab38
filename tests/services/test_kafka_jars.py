"""Apache Kafka's jars, resolved with the machine's real Maven into a cache of the test's own."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from warmline.errors import ServiceError
from warmline.services.base import ServiceName
from warmline.services.kafka_jars import KAFKA_VERSION, kafka_classpath
from warmline.services.local import start_service
from warmline.services.ports import free_port


def test_two_first_starts_at_once_resolve_the_jars_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """On a fresh machine both pytest-xdist workers start Kafka at once. Before, both ran Maven,
    and the second to finish deleted the first one's jars from under the broker it was starting
    (or failed to rename its own over them)."""
    monkeypatch.setenv("WARMLINE_CACHE_DIR", str(tmp_path))
    lib = tmp_path / "kafka" / KAFKA_VERSION / "lib"
    killed_mid_way = lib.parent / ".resolving-x1y2z3" / "lib"
    killed_mid_way.mkdir(parents=True)
    (killed_mid_way / "kafka_2.13-4.4.0.jar").write_bytes(b"PK half a jar")
    both = threading.Barrier(2)

    def first_start() -> int:
        both.wait()
        assert kafka_classpath() == f"{lib}/*"
        # The directory this start's broker would run from, as it is when the start goes on.
        return lib.stat().st_ino

    with ThreadPoolExecutor(2) as pool:
        directories = set(pool.map(lambda _: first_start(), range(2)))
    assert capfd.readouterr().err.count("resolving Apache Kafka") == 1
    assert directories == {lib.stat().st_ino}, "one start's jars were replaced under it"
    assert any(jar.name.startswith("kafka_2.13-") for jar in lib.iterdir())
    assert not killed_mid_way.parent.exists(), "what a killed resolution left stays for good"


def test_a_repository_that_cannot_be_reached_is_named_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """No network on a fresh machine: the error says what could not be fetched from where, and
    Maven's long wait is not taken twice (the port-race retry does not retry a download)."""
    closed = f"127.0.0.1:{free_port()}"
    home = tmp_path / "home"
    (home / ".m2").mkdir(parents=True)
    (home / ".m2" / "settings.xml").write_text(
        "<settings><mirrors><mirror><id>unreachable</id><mirrorOf>*</mirrorOf>"
        f"<url>http://{closed}/maven2</url></mirror></mirrors></settings>"
    )
    monkeypatch.setenv("WARMLINE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("MAVEN_OPTS", f"-Duser.home={home} -Dmaven.repo.local={home / 'repo'}")
    with pytest.raises(ServiceError) as raised:
        start_service(ServiceName.KAFKA, tmp_path / "work", embedded=False, persist=False)
    message = str(raised.value)
    assert "Connection refused" in message
    assert f"http://{closed}/maven2" in message
    assert "maven-dependency-plugin" in message
    assert message.startswith(f"Maven could not fetch Apache Kafka {KAFKA_VERSION}'s jars")
    assert "[Help 1]" not in message
    assert capfd.readouterr().err.count("resolving Apache Kafka") == 1
    assert not (tmp_path / "cache" / "kafka" / KAFKA_VERSION / "lib").exists()
