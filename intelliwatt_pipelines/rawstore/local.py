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


class Spool:
    """A temporary file that hashes what is written to it: bytes become safe (fsynced) before they
    are given a content address. Used to stream request bodies and transfers into a raw store."""

    def __init__(self, directory: Path | None):
        self.digest, self.size = hashlib.sha256(), 0
        fd, self.path = tempfile.mkstemp(dir=directory, prefix=".incoming-")
        self._out = os.fdopen(fd, "wb")

    def write(self, chunk: bytes) -> None:
        self.digest.update(chunk)
        self.size += len(chunk)
        self._out.write(chunk)

    def finish(self) -> tuple[str, str, int]:
        """(temp path, sha256, size), with the bytes on disk."""
        self._out.flush()
        os.fsync(self._out.fileno())
        self._out.close()
        return self.path, self.digest.hexdigest(), self.size

    def discard(self) -> None:
        self._out.close()
        if os.path.exists(self.path):
            os.unlink(self.path)


def spool(stream: BinaryIO, directory: Path | None, on_chunk: Callable[[int], None] | None = None) -> tuple[str, str, int]:
    """Copy a stream to a temporary file while hashing it. Returns (temp path, sha256, size).

    The temp file is removed if reading fails part-way (a dropped connection leaves nothing).
    """
    out = Spool(directory)
    try:
        while chunk := stream.read(CHUNK):
            out.write(chunk)
            if on_chunk:
                on_chunk(out.size)
        return out.finish()
    except BaseException:
        out.discard()
        raise


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalRawStore:
    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()

    def _path(self, sha256: str) -> Path:
        return self.root / "sha256" / sha256[:2] / sha256[2:4] / sha256

    def uri(self, sha256: str) -> str:
        return self._path(sha256).as_uri()

    def exists(self, sha256: str) -> bool:
        return self._path(sha256).exists()

    def spool(self) -> Spool:
        """A spool on the store's own file system, so keeping it is a rename."""
        self.root.mkdir(parents=True, exist_ok=True)
        return Spool(self.root)

    def put_stream(self, stream: BinaryIO, on_chunk: Callable[[int], None] | None = None) -> tuple[str, int, str]:
        """Store a stream's bytes. Returns (sha256, size, uri). Bytes already stored: no-op."""
        self.root.mkdir(parents=True, exist_ok=True)
        return self.put_spooled(*spool(stream, self.root, on_chunk))

    def put_spooled(self, tmp: str, sha: str, size: int) -> tuple[str, int, str]:
        """Keep a finished spool under its content address (the temp file is consumed)."""
        final = self._path(sha)
        if final.exists():
            os.unlink(tmp)
        else:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)  # atomic: a reader never sees a half-written object
            os.chmod(final, 0o444)
            _fsync_dir(final.parent)  # the rename itself survives a crash
        return sha, size, self.uri(sha)

    def put_file(self, source: Path) -> tuple[str, int, str]:
        with open(source, "rb") as fh:
            return self.put_stream(fh)

    def put_bytes(self, data: bytes) -> tuple[str, int, str]:
        import io

        return self.put_stream(io.BytesIO(data))

    def get(self, sha256: str) -> bytes:
        return self._path(sha256).read_bytes()

    def open(self, sha256: str) -> BinaryIO:
        """The stored bytes as a stream (large files are parsed without holding them in memory)."""
        return open(self._path(sha256), "rb")
