"""Rows of a GoEmotions-format TSV that must not be read as something else, on tiny files."""

from __future__ import annotations

import hashlib
from pathlib import Path

from typer.testing import CliRunner

from warmline.cli import app
from warmline.triage.training import read_split

EKMAN_LABELS = 7


def test_a_byte_order_mark_is_no_part_of_the_first_text(tmp_path: Path) -> None:
    data = tmp_path / "bom.tsv"
    raw = b"\xef\xbb\xbfI am so happy today\t3\tid1\r\nthis is awful\t0\tid2\r\n"
    data.write_bytes(raw)
    split = read_split(data, EKMAN_LABELS)
    assert split.texts == ["I am so happy today", "this is awful"]
    assert split.targets == [[3], [0]]
    assert not split.skipped
    # The hash stays the file's, as sha256sum reports it.
    assert split.sha256 == hashlib.sha256(raw).hexdigest()


def test_a_label_python_would_misread_is_not_an_integer(tmp_path: Path) -> None:
    data = tmp_path / "labels.tsv"
    data.write_text(
        "fine\t1\tid1\n"
        "underscore\t1_0\tid2\n"  # int() reads 10
        "arabic digit\t\u0663\tid3\n"  # int() reads 3
        "spaced\t 2 , 3\tid4\n"
        "negative\t-1\tid5\n",
        encoding="utf-8",
    )
    split = read_split(data, 28)
    assert split.texts == ["fine", "spaced"]
    assert split.targets == [[1], [2, 3]]
    assert split.skipped == {"label_not_an_integer": 2, "label_out_of_range": 1}
    assert [p.render() for p in split.problems][:2] == [
        f"{data}:2:12: label_not_an_integer: found '1_0' where a label index was expected "
        "(comma-separated integers)",
        f"{data}:3:14: label_not_an_integer: found '\u0663' where a label index was expected "
        "(comma-separated integers)",
    ]


def test_a_duplicate_id_is_counted_and_named_with_the_first_line(tmp_path: Path) -> None:
    data = tmp_path / "train.tsv"
    data.write_text(
        "I am so happy today\t3\tabc\n"
        "this is awful\t0\txyz\n"
        "I am so happy today\t4\tabc\n"  # the same comment, other labels
        "no id\t6\t\n"
        "no id either\t6\t\n",  # empty ids name no comment: not duplicates
        encoding="utf-8",
    )
    split = read_split(data, EKMAN_LABELS)
    assert split.texts == ["I am so happy today", "this is awful", "no id", "no id either"]
    assert split.skipped == {"duplicate_id": 1}
    [problem] = split.problems
    assert problem.render() == f"{data}:3:23: duplicate_id: id 'abc' is already on line 1"

    refused = CliRunner().invoke(
        app, ["triage", "eval", "--data", str(data), "--taxonomy", "ekman"]
    )
    assert refused.exit_code == 2, refused.output
    assert f"{data}:3:23: duplicate_id: id 'abc' is already on line 1" in refused.stderr
    assert f"{data}: 1 of 5 rows skipped (duplicate_id: 1)" in refused.stderr
    assert refused.exception is None or isinstance(refused.exception, SystemExit)
