"""Regenerate the Python code of the iamd.v1 API from proto/ into client/.

Usage (from anywhere):
    python client/scripts/gen_protos.py           # rewrite the generated files
    python client/scripts/gen_protos.py --check   # exit 1 and list files that would change

Generated, never edited by hand:
- client/iamd/v1/: the protobuf and gRPC stubs (protoc, grpcio-tools and mypy-protobuf);
- client/iamd_client/_calls.py and _api.py: the SDK's request builders and method table,
  one per RPC of every service in proto/iamd/v1 (see sdkgen.py), written from the
  descriptors with their comments.

The proto package is iamd.v1 and the files live at proto/iamd/v1/, so protoc writes modules
whose import path is iamd.v1.xxx_pb2 directly; no import rewriting is needed. Output depends
only on the .proto files and the installed grpcio-tools / mypy-protobuf versions.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import sdkgen
from google.protobuf.descriptor_pb2 import FileDescriptorSet

ROOT = Path(__file__).resolve().parents[2]
PROTO_DIR = ROOT / "proto"
CLIENT_DIR = ROOT / "client"
PACKAGE = Path("iamd") / "v1"

MARKER = sdkgen.MARKER
SDK_CALLS = Path("iamd_client") / "_calls.py"
SDK_API = Path("iamd_client") / "_api.py"
EXTRA_FILES: dict[Path, str] = {
    Path("iamd") / "__init__.py": MARKER,
    PACKAGE / "__init__.py": MARKER,
    PACKAGE / "py.typed": "",
}
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")


def _plugin(name: str) -> str:
    """Find a protoc plugin next to the running interpreter first (the venv), then on PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} not found; install mypy-protobuf (pip install mypy-protobuf)")
    return found


def _protos() -> list[str]:
    files = sorted((PROTO_DIR / PACKAGE).glob("*.proto"))
    if not files:
        raise SystemExit(f"no .proto files under {PROTO_DIR / PACKAGE}")
    return [f.relative_to(PROTO_DIR).as_posix() for f in files]


def generate(out: Path) -> None:
    """Write the generated files (iamd/, iamd/v1/, the SDK modules) under `out`."""
    import grpc_tools  # type: ignore[import-untyped]

    well_known = Path(grpc_tools.__file__).parent / "_proto"
    (out / PACKAGE).mkdir(parents=True, exist_ok=True)
    protos = _protos()
    with tempfile.TemporaryDirectory() as tmp:
        descriptors = Path(tmp) / "api.binpb"
        cmd = [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"--proto_path={PROTO_DIR}",
            f"--proto_path={well_known}",
            f"--plugin=protoc-gen-mypy={_plugin('protoc-gen-mypy')}",
            f"--plugin=protoc-gen-mypy_grpc={_plugin('protoc-gen-mypy_grpc')}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            f"--mypy_out=quiet:{out}",
            f"--mypy_grpc_out=quiet:{out}",
            # The descriptors with their comments, for the SDK modules.
            f"--descriptor_set_out={descriptors}",
            "--include_imports",
            "--include_source_info",
            *protos,
        ]
        # Relative proto paths + cwd=PROTO_DIR keep absolute paths out of the output.
        subprocess.run(cmd, check=True, cwd=PROTO_DIR)
        api = FileDescriptorSet.FromString(descriptors.read_bytes())
    for rel, text in EXTRA_FILES.items():
        (out / rel).write_text(text, encoding="utf-8")
    rpcs, imports = sdkgen.read_api(api, protos)
    (out / SDK_CALLS).parent.mkdir(parents=True, exist_ok=True)
    (out / SDK_CALLS).write_text(sdkgen.calls_module(rpcs, imports), encoding="utf-8")
    (out / SDK_API).write_text(sdkgen.api_module(rpcs), encoding="utf-8")


def _tree(base: Path) -> set[Path]:
    """Files of the generated tree under `base` (only names this script produces)."""
    names: set[Path] = set()
    pkg = base / PACKAGE
    if pkg.is_dir():
        for f in pkg.iterdir():
            if f.is_file() and f.name.endswith(GENERATED_SUFFIXES):
                names.add(f.relative_to(base))
    names.update(rel for rel in (*EXTRA_FILES, SDK_CALLS, SDK_API) if (base / rel).exists())
    return names


def check() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp)
        generate(fresh)
        want, have = _tree(fresh), _tree(CLIENT_DIR)
        differ = sorted(
            rel
            for rel in want | have
            if rel not in want
            or rel not in have
            or not filecmp.cmp(fresh / rel, CLIENT_DIR / rel, shallow=False)
        )
    if differ:
        print("generated files are out of date; run: python client/scripts/gen_protos.py")
        for rel in differ:
            print(f"  client/{rel.as_posix()}")
        return 1
    print("generated files are up to date")
    return 0


def write() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp)
        generate(fresh)
        want = _tree(fresh)
        for stale in _tree(CLIENT_DIR) - want:
            (CLIENT_DIR / stale).unlink()
        for rel in sorted(want):
            dest = CLIENT_DIR / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(fresh / rel, dest)
            os.chmod(dest, 0o644)
    print(f"wrote {len(want)} files under client/")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="do not write; exit 1 if files would change"
    )
    args = parser.parse_args(argv)
    return check() if args.check else write()


if __name__ == "__main__":
    sys.exit(main())
