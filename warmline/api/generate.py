"""Regenerate the Python gRPC modules in `warmline/api/v1/` from `proto/warmline/v1/*.proto`.

    python -m warmline.api.generate          rewrite the generated modules
    python -m warmline.api.generate --check  exit 1 if the committed modules are out of date

protoc names modules after the proto path (`warmline.v1`); they live in `warmline.api.v1`, so the
generated imports are rewritten to match. Needs `grpcio-tools` (a dev dependency).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROTO_ROOT = ROOT / "proto"
PROTO_PACKAGE = "warmline/v1"
OUTPUT = Path(__file__).resolve().parent / "v1"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")
INIT_TEXT = '"""Generated modules of the warmline.v1 protos (see warmline/api/generate.py)."""\n'


def protos() -> list[Path]:
    return sorted((PROTO_ROOT / PROTO_PACKAGE).glob("*.proto"))


def generate() -> dict[str, str]:
    """Run protoc over every proto and return the generated modules, file name to text."""
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch)
        command = [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{PROTO_ROOT}",
            f"--python_out={out}",
            f"--pyi_out={out}",
            f"--grpc_python_out={out}",
            *(str(proto.relative_to(PROTO_ROOT)) for proto in protos()),
        ]
        completed = subprocess.run(
            command, cwd=PROTO_ROOT, capture_output=True, text=True, check=False
        )
        if completed.returncode != 0:
            raise SystemExit(f"protoc failed:\n{completed.stderr}")
        generated = {"__init__.py": INIT_TEXT}
        for path in sorted((out / PROTO_PACKAGE).iterdir()):
            if path.name.endswith(GENERATED_SUFFIXES):
                generated[path.name] = _rewrite_imports(path.read_text())
        return generated


def _rewrite_imports(text: str) -> str:
    return text.replace("from warmline.v1 import ", "from warmline.api.v1 import ")


def stale(generated: dict[str, str], directory: Path = OUTPUT) -> list[str]:
    """Generated modules missing from `directory` or different there, and leftovers to delete."""
    present = {
        path.name for path in directory.glob("*.py*") if path.name.endswith(GENERATED_SUFFIXES)
    }
    differing = [
        name
        for name, text in generated.items()
        if not (directory / name).is_file() or (directory / name).read_text() != text
    ]
    return sorted(differing + sorted(present - generated.keys()))


def write(generated: dict[str, str], directory: Path = OUTPUT) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for path in directory.glob("*.py*"):
        if path.name.endswith(GENERATED_SUFFIXES) and path.name not in generated:
            path.unlink()
    for name, text in generated.items():
        (directory / name).write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="only report stale modules")
    args = parser.parse_args(argv)
    generated = generate()
    if args.check:
        out_of_date = stale(generated)
        for name in out_of_date:
            print(f"out of date: {OUTPUT / name}", file=sys.stderr)
        if out_of_date:
            print("run: python -m warmline.api.generate", file=sys.stderr)
        return 1 if out_of_date else 0
    write(generated)
    return 0


if __name__ == "__main__":
    sys.exit(main())
