"""A local folder as the raw store: ``<root>/sha256/ab/cd/<sha256>``, written once, never changed."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def spool(stream: BinaryIO, directory: Path | None, on_chunk: Callable[[int], None] | None = None) -> tuple[str, str, int]:
    """Copy a stream to a temporary file while hashing it. Returns (temp path, sha256, size).

    The temp file is removed if reading fails part-way (a dropped connection leaves nothing).
    """
    digest, size = hashlib.sha256(), 0
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".incoming-")
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
                if on_chunk:
                    on_chunk(size)
            out.flush()
            os.fsync(out.fileno())
        return tmp, digest.hexdigest(), size
    except BaseException:
        os.unlink(tmp)
        raise


class LocalRawStore:
    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()

    def _path(self, sha256: str) -> Path:
        return self.root / "sha256" / sha256[:2] / sha256[2:4] / sha256

    def uri(self, sha256: str) -> str:
        return self._path(sha256).as_uri()

    def exists(self, sha256: str) -> bool:
        return self._path(sha256).exists()

    def put_stream(self, stream: BinaryIO, on_chunk: Callable[[int], None] | None = None) -> tuple[str, int, str]:
        """Store a stream's bytes. Returns (sha256, size, uri). Bytes already stored: no-op."""
        self.root.mkdir(parents=True, exist_ok=True)
        tmp, sha, size = spool(stream, self.root, on_chunk)
        final = self._path(sha)
        if final.exists():
            os.unlink(tmp)
        else:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)  # atomic: a reader never sees a half-written object
            os.chmod(final, 0o444)
        return sha, size, self.uri(sha)

    def put_file(self, source: Path) -> tuple[str, int, str]:
        with open(source, "rb") as fh:
            return self.put_stream(fh)

    def put_bytes(self, data: bytes) -> tuple[str, int, str]:
        import io

        return self.put_stream(io.BytesIO(data))

    def get(self, sha256: str) -> bytes:
        return self._path(sha256).read_bytes()
