"""The local inbox folder (the embedded default, and where the upload relay drops files)."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

from intelliwatt_pipelines.transport.base import RemoteEntry, TransportError


class LocalInbox:
    source = "inbox"

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def list_entries(self) -> list[RemoteEntry]:
        """Every file under the folder (hidden files and ``*.meta.json`` sidecars skipped), oldest first."""
        entries = []
        if not self.root.is_dir():
            return entries
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                if name.startswith(".") or name.endswith(".meta.json"):
                    continue
                path = Path(dirpath) / name
                try:
                    st = path.stat()
                except FileNotFoundError:
                    continue
                entries.append(RemoteEntry(str(path.resolve()), st.st_size, st.st_mtime_ns))
        return sorted(entries, key=lambda e: (e.mtime_ns, e.path))

    @contextmanager
    def session(self):
        yield self

    def open(self, entry: RemoteEntry):
        try:
            return open(entry.path, "rb")
        except FileNotFoundError:
            raise TransportError(f"{Path(entry.path).name} disappeared from the inbox before it was taken") from None

    def read_sidecar(self, path: str, limit: int) -> bytes | None:
        try:
            with open(path, "rb") as fh:
                return fh.read(limit)
        except (FileNotFoundError, IsADirectoryError):
            return None

    def delete(self, entry: RemoteEntry) -> None:
        Path(entry.path).unlink(missing_ok=True)
