"""Per-day summaries of what a run wrote, as plain values: one row of facts per Central day, never
per home × day. ``defs.reporting`` turns them into Dagster materializations (the facts are computed
here, below the wiring; markdown tables are returned as text).

Summaries of disjoint sets of homes add up (``combined_by_day``), so a rebuild that goes group by
group of homes reports once per day.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from intelliwatt_pipelines.cdm.tables import RECONCILIATION_STATUSES
from intelliwatt_pipelines.pii import mask

WORST_HOMES = 5  # rows of the per-day "homes falling shortest" table
STATUS_RANK = {"complete": 0, "partial": 1, "gaps": 2}  # a home's day is as bad as its worst series


def gathered(frames: Iterable[pd.DataFrame], key: list[str]) -> pd.DataFrame:
    """The frames of several files as one, the last file's row winning per key."""
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True).drop_duplicates(key, keep="last") if frames else pd.DataFrame()


def home_days(completeness: pd.DataFrame) -> pd.DataFrame:
    """One row per (local_date, esiid): the home's worst status and completeness over its series."""
    frame = completeness.assign(
        intervals=completeness["actual_intervals"] + completeness["filled_intervals"],
        rank=completeness["status"].map(STATUS_RANK))
    return frame.groupby(["local_date", "esiid"], sort=True).agg(
        rank=("rank", "max"), completeness=("completeness", "min"), intervals=("intervals", "sum"),
        kwh=("kwh_real", "sum")).reset_index()


def worst_homes_table(homes: pd.DataFrame) -> str:
    """Markdown: the homes of one day falling shortest (masked ESIIDs), lowest completeness first."""
    worst = homes.sort_values(["completeness", "esiid"]).head(WORST_HOMES)
    status = {v: k for k, v in STATUS_RANK.items()}
    table = pd.DataFrame({"esiid": [mask(e) for e in worst["esiid"]],
                          "status": [status[r] for r in worst["rank"]],
                          "completeness": worst["completeness"].round(4), "intervals": worst["intervals"]})
    return table.to_markdown(index=False)


def usage_day_facts(completeness: pd.DataFrame, invalid_by_day: dict[str, int], valid_days: set[str],
                    extra: dict | None = None) -> list[tuple[str, dict, dict]]:
    """(day, usage_intervals facts, daily_completeness facts) per day of these completeness rows;
    ``homes_falling_shortest`` is a markdown table."""
    if completeness.empty:
        return []
    out = []
    for day, homes in home_days(completeness).groupby("local_date", sort=True):
        key = str(day)
        if key not in valid_days:
            continue
        counts = homes["rank"].value_counts()
        common = {"homes": len(homes), **(extra or {})}
        usage = {**common, "intervals": int(homes["intervals"].sum()), "kwh": round(float(homes["kwh"].sum()), 3),
                 "invalid_rows_in_files": invalid_by_day.get(key, 0)}
        complete = {**common, **{f"homes_{name}": int(counts.get(rank, 0)) for name, rank in
                                 (("complete", 0), ("partial", 1), ("with_gaps", 2))},
                    "lowest_completeness": round(float(homes["completeness"].min()), 4),
                    "homes_falling_shortest": worst_homes_table(homes)}
        out.append((key, usage, complete))
    return out


def billing_day_facts(reads: pd.DataFrame, valid_days: set[str], extra: dict | None = None) -> list[tuple[str, dict]]:
    """(day, billing_reads facts) per day the reads end on."""
    if reads.empty:
        return []
    return [(str(day), {"homes": int(group["esiid"].nunique()), "reads": len(group),
                        "kwh": round(float(group["kwh_total"].sum()), 3), **(extra or {})})
            for day, group in reads.groupby("local_date", sort=True) if str(day) in valid_days]


def reconciliation_by_day(rows: pd.DataFrame) -> pd.DataFrame:
    """Per Central day: homes, reads, reads per status, the largest difference. Summaries of
    disjoint sets of homes add up (``combined_by_day``)."""
    if rows.empty:
        return pd.DataFrame()
    frame = rows.assign(reads=1, diff=rows["difference_kwh"].abs().fillna(0),
                        **{s: (rows["status"] == s).astype(int) for s in RECONCILIATION_STATUSES})
    per_day = frame.groupby("local_date").agg(
        homes=("esiid", "nunique"), reads=("reads", "sum"), max_abs_difference_kwh=("diff", "max"),
        **{s: (s, "sum") for s in RECONCILIATION_STATUSES})
    return per_day.reset_index()


def combined_by_day(summaries: list[pd.DataFrame]) -> pd.DataFrame:
    summaries = [s for s in summaries if len(s)]
    if not summaries:
        return pd.DataFrame()
    return pd.concat(summaries).groupby("local_date").agg(
        {"homes": "sum", "reads": "sum", "max_abs_difference_kwh": "max",
         **{s: "sum" for s in RECONCILIATION_STATUSES}}).reset_index()


def reconciliation_day_facts(per_day: pd.DataFrame, valid_days: set[str],
                             extra: dict | None = None) -> list[tuple[str, dict]]:
    """(day, billing_reconciliation facts) from ``reconciliation_by_day`` rows."""
    if per_day.empty:
        return []
    return [(str(row.local_date), {
        "homes": int(row.homes), "reads": int(row.reads), **{s: int(getattr(row, s)) for s in RECONCILIATION_STATUSES},
        "max_abs_difference_kwh": round(float(row.max_abs_difference_kwh), 3), **(extra or {})})
        for row in per_day.itertuples(index=False) if str(row.local_date) in valid_days]


def read_day_facts(per_day: pd.DataFrame, valid_days: set[str], extra: dict) -> list[tuple[str, dict]]:
    """(day, billing_reads facts) of a homes rebuild, from its reconciliation per day (which counts
    every stored read of those days, one row per read)."""
    if per_day.empty:
        return []
    return [(str(row.local_date), {"homes": int(row.homes), "reads": int(row.reads), **extra})
            for row in per_day.itertuples(index=False) if str(row.local_date) in valid_days]


def reconciliation_totals(per_day: pd.DataFrame) -> dict[str, int]:
    """Reads per reconciliation status over all days."""
    return {s: int(per_day[s].sum()) if len(per_day) else 0 for s in RECONCILIATION_STATUSES}
