"""Apache Kafka keeps its data where it was told to, whatever letters the path has."""

from __future__ import annotations

from pathlib import Path

from warmline.services.kafka import start_kafka


def test_a_state_dir_with_non_ascii_letters_holds_the_data_and_starts_again(
    tmp_path: Path,
) -> None:
    """Java reads server.properties as ISO-8859-1, so a log directory under `/home/jürgen` was
    read as `/home/jÃ¼rgen`: the data went outside the state directory, where removing the old
    broker's directory at the next start did not reach it, and every start after the first failed
    formatting it (`Invalid cluster.id in: …/meta.properties`)."""
    workdir = tmp_path / "jürgen-€-𝄞" / "state"
    for _ in range(2):
        broker = start_kafka(workdir)
        try:
            assert (workdir / "kafka" / "data" / "meta.properties").is_file()
        finally:
            broker.process.stop()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jürgen-€-𝄞"]
