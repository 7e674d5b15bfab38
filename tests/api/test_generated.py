"""The committed gRPC modules match what `python -m warmline.api.generate` writes today."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from warmline.api import generate


def test_committed_modules_are_up_to_date() -> None:
    out_of_date = generate.stale(generate.generate())
    assert not out_of_date, (
        f"generated modules out of date: {out_of_date}; run python -m warmline.api.generate"
    )


def test_stale_names_a_changed_and_a_leftover_module(tmp_path: Path) -> None:
    shutil.copytree(generate.OUTPUT, tmp_path / "v1")
    (tmp_path / "v1" / "specialist_pb2.py").write_text("# edited by hand\n")
    (tmp_path / "v1" / "retired_pb2.py").write_text("# from a deleted proto\n")

    stale = generate.stale(generate.generate(), tmp_path / "v1")

    assert stale == ["retired_pb2.py", "specialist_pb2.py"]


@pytest.mark.parametrize("proto", ["specialist", "connector"])
def test_generated_imports_point_into_warmline_api(proto: str) -> None:
    grpc_module = (generate.OUTPUT / f"{proto}_pb2_grpc.py").read_text()
    assert f"from warmline.api.v1 import {proto}_pb2" in grpc_module
    assert "from warmline.v1 import" not in grpc_module
