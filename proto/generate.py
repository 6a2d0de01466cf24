"""Regenerate the Python code of the edge-to-central contract.

    python proto/generate.py [--out DIR]

Writes ``*_pb2.py``, ``*_pb2.pyi`` (mypy-protobuf) and ``*_pb2_grpc.py`` next to
each ``.proto`` file under ``proto/retail_proto`` (or under ``--out`` for the
regeneration test). The generated files are committed; never edit them by hand.
The Python package is ``retail_proto``, not ``proto``: the ``proto-plus``
library already owns that import name.
"""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

PROTO_ROOT = Path(__file__).resolve().parent


def proto_files(root: Path = PROTO_ROOT) -> list[Path]:
    return sorted((root / "retail_proto").rglob("*.proto"))


def generate(out: Path) -> None:
    include = str(resources.files("grpc_tools") / "_proto")
    # mypy-protobuf's plugins live beside this interpreter, which may not be on PATH.
    bindir = Path(sys.executable).parent
    files = [str(p.relative_to(PROTO_ROOT)) for p in proto_files()]
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--plugin=protoc-gen-mypy={bindir / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={bindir / 'protoc-gen-mypy_grpc'}",
        f"--python_out={out}",
        f"--mypy_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_grpc_out={out}",
        *files,
    ]
    code = protoc.main(args)
    if code != 0:
        raise SystemExit(f"protoc failed with exit code {code} for {files}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=PROTO_ROOT, help="root folder of the generated package")
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    generate(out)
    print(f"generated {len(proto_files())} proto file(s) into {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
