"""Rebuilding many homes' days from raw, a group of homes at a time, and what it came to in a few
counts and per-day summaries (never every row)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from intelliwatt_pipelines.cdm.day_summaries import reconciliation_by_day
from intelliwatt_pipelines.pii import mask

HOMES_PER_TRANSACTION = 100  # each covering raw file is parsed once per group of homes


@dataclass
class RebuildTotals:
    """What rebuilding many homes did, kept small: counts and per-day summaries, never every row."""

    homes: list[str]
    raw_file_ids: set[int] = field(default_factory=set)
    rows_deleted: int = 0
    rows_written: int = 0
    statuses: Counter = field(default_factory=Counter)
    home_days: list[pd.DataFrame] = field(default_factory=list)  # completeness rows, kept only when asked
    reconciliation: list[pd.DataFrame] = field(default_factory=list)  # reconciliation_by_day per group

    def add(self, result, keep_home_days: bool) -> None:
        self.raw_file_ids |= set(result.raw_file_ids)
        self.rows_deleted += result.rows_deleted
        self.rows_written += result.rows_written
        if len(result.completeness):
            self.statuses.update(result.completeness["status"])
            if keep_home_days:
                self.home_days.append(result.completeness)
        self.reconciliation.append(reconciliation_by_day(result.reconciliation))

    def metadata(self) -> dict:
        return {"homes": len(self.homes),
                **({"esiids": ", ".join(mask(e) for e in self.homes)} if 0 < len(self.homes) <= 20 else {}),
                "raw_files_replayed": len(self.raw_file_ids), "rows_deleted": self.rows_deleted,
                "rows_written": self.rows_written}

    def completeness(self) -> pd.DataFrame:
        """The kept completeness rows as one frame."""
        return pd.concat(self.home_days, ignore_index=True) if self.home_days else pd.DataFrame()

    def empty(self) -> bool:
        """No raw file covered these homes and days and no row was there."""
        return not self.raw_file_ids and not self.rows_deleted


def rebuild_in_groups(homes: list[str], rebuild: Callable, say: Callable[[str], None], *,
                      keep_home_days: bool = False) -> RebuildTotals:
    """Call ``rebuild(esiids)`` for groups of homes: a group's days in memory at a time, one
    transaction each, and a file holding many homes parsed once per group, not once per home."""
    totals = RebuildTotals(homes)
    for i in range(0, len(homes), HOMES_PER_TRANSACTION):
        group = homes[i:i + HOMES_PER_TRANSACTION]
        totals.add(rebuild(group), keep_home_days)
        say(f"rebuilt {i + len(group)}/{len(homes)} home(s) from {len(totals.raw_file_ids)} raw file(s)")
    return totals
