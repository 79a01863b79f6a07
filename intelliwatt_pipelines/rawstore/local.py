"""A local folder as the raw store: ``<root>/sha256/ab/cd/<sha256>``, written once, never changed."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class LocalRawStore:
    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()

    def _path(self, sha256: str) -> Path:
        return self.root / "sha256" / sha256[:2] / sha256[2:4] / sha256

    def uri(self, sha256: str) -> str:
        return self._path(sha256).as_uri()

    def exists(self, sha256: str) -> bool:
        return self._path(sha256).exists()

    def put_file(self, source: Path) -> tuple[str, int, str]:
        """Copy a file in, hashing while copying. Returns (sha256, size, uri). Same bytes: no-op."""
        self.root.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
                while chunk := src.read(CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            sha = digest.hexdigest()
            final = self._path(sha)
            if final.exists():
                os.unlink(tmp)
            else:
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, final)  # atomic: a reader never sees a half-written object
                os.chmod(final, 0o444)
            return sha, size, self.uri(sha)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def get(self, sha256: str) -> bytes:
        return self._path(sha256).read_bytes()


def open_raw_store(url: str) -> LocalRawStore:
    """A raw store from its URL: a folder path or ``file://`` URL (S3 comes with the SFTP work)."""
    if url.startswith("file://"):
        url = url[len("file://"):]
    if "://" in url:
        raise ValueError(f"unsupported raw store URL scheme: {url.split('://', 1)[0]}")
    return LocalRawStore(url)
