"""What every inbox offers: a cheap listing of entries, and a stream of one entry's bytes."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

DEFAULT_PATTERNS = ("*.csv", "*.CSV", "*IntervalMeterUsage*.asc", "*DailyMeterUsage*.asc", "*.csv.*", "*.xml",
                    "*.XML")


@dataclass(frozen=True)
class RemoteEntry:
    """A file as listed: its path on the inbox's side, size and modification time (ns)."""

    path: str
    size_bytes: int
    mtime_ns: int

    @property
    def key(self) -> str:
        return f"{self.path}|{self.size_bytes}|{self.mtime_ns}"

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


class TransportError(RuntimeError):
    """The inbox could not be reached or a transfer broke off. Nothing was registered; retry later."""


def matches(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)
