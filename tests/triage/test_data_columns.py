"""A bad row's FILE:LINE:COL counts characters, as editors do, not bytes: text in any language
before the problem must not push the column to the right."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.triage.test_data_rows import EKMAN_LABELS
from warmline.triage.errors import TrainingDataError
from warmline.triage.training import check_labels, read_split

ACCENTED = "café ünïcödé"
"""12 characters, 17 bytes in UTF-8."""


def test_an_invalid_byte_after_multibyte_characters_is_at_its_character_column(
    tmp_path: Path,
) -> None:
    data = tmp_path / "train.tsv"
    data.write_bytes(b"fine\t1\tid1\n" + f"{ACCENTED} ".encode() + b"\xff broken\t2\tid2\n")

    split = read_split(data, EKMAN_LABELS)

    assert split.skipped == {"invalid_utf8": 1}
    # 13 characters (18 bytes) come before the bad byte: the text and a space.
    assert [p.render() for p in split.problems] == [
        f"{data}:2:14: invalid_utf8: byte 0xff is not UTF-8"
    ]
    assert split.examples == ["train.tsv:2:14: invalid_utf8: byte 0xff is not UTF-8"]


def test_a_label_list_byte_after_multibyte_characters_is_at_its_character_column(
    tmp_path: Path,
) -> None:
    # 6 characters (8 bytes) come before the bad byte on line 2.
    (tmp_path / "labels.txt").write_bytes(b"anger\n" + "dégoût".encode() + b"\xe9\n")

    with pytest.raises(TrainingDataError) as caught:
        check_labels(tmp_path / "train.tsv", "ekman")

    assert str(caught.value).startswith(f"{tmp_path / 'labels.txt'}:2:7: byte 0xe9 is not UTF-8")
