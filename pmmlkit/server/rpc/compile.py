"""Compile ``protos/*.proto`` into ``protos/descriptors.binpb`` (``make protos``).

Needs ``grpcio-tools`` (the dev extra); the server itself reads only the compiled set.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

PROTOS = Path(__file__).parent / "protos"
SOURCES = ("tf_serving.proto", "inference.proto")


def compiled() -> bytes:
    """The descriptor set of the ``.proto`` files, with the imports (well-known types) in it
    and without source positions."""
    import grpc_tools
    from grpc_tools import protoc

    include = Path(grpc_tools.__file__).parent / "_proto"
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "set.binpb"
        status = protoc.main(["protoc", f"-I{PROTOS}", f"-I{include}",
                              f"--descriptor_set_out={out}", "--include_imports",
                              *(str(PROTOS / s) for s in SOURCES)])
        if status != 0:
            raise SystemExit(f"protoc failed ({status})")
        return out.read_bytes()


def main() -> int:
    target = PROTOS / "descriptors.binpb"
    target.write_bytes(compiled())
    print(f"wrote {target}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
