"""What a run tells Dagster: one materialization per asset per Central day it touched.

Events stay proportional to days, never to homes × days: a 50-file run over a year of history is
365 events per asset, a daily delivery for 100,000 homes is one or two. Each day's metadata says what
a data engineer wants to know about that day: homes written, how complete they are, intervals, kWh,
and the homes that fall shortest (masked ESIIDs).
"""

from collections.abc import Iterable

import dagster as dg
import pandas as pd

from intelliwatt_pipelines.defs.keys import BILLING_READS, DAILY_COMPLETENESS, RECONCILIATION, USAGE_INTERVALS
from intelliwatt_pipelines.defs.versions import with_provenance
from intelliwatt_pipelines.pii import mask

__all__ = ["BILLING_READS", "DAILY_COMPLETENESS", "RECONCILIATION", "USAGE_INTERVALS"]

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


def worst_homes_table(homes: pd.DataFrame) -> dg.MetadataValue:
    worst = homes.sort_values(["completeness", "esiid"]).head(WORST_HOMES)
    status = {v: k for k, v in STATUS_RANK.items()}
    table = pd.DataFrame({"esiid": [mask(e) for e in worst["esiid"]],
                          "status": [status[r] for r in worst["rank"]],
                          "completeness": worst["completeness"].round(4), "intervals": worst["intervals"]})
    return dg.MetadataValue.md(table.to_markdown(index=False))


def usage_day_events(completeness: pd.DataFrame, invalid_by_day: dict[str, int], valid_days: set[str],
                     extra: dict | None = None) -> list[dg.AssetMaterialization]:
    """usage_intervals and daily_completeness events, one per asset per day, from completeness rows."""
    if completeness.empty:
        return []
    events = []
    for day, homes in home_days(completeness).groupby("local_date", sort=True):
        key = str(day)
        if key not in valid_days:
            continue
        counts = homes["rank"].value_counts()
        common = {"homes": len(homes), **(extra or {})}
        events.append(dg.AssetMaterialization(USAGE_INTERVALS, partition=key, metadata={
            **common, "intervals": int(homes["intervals"].sum()), "kwh": round(float(homes["kwh"].sum()), 3),
            "invalid_rows_in_files": invalid_by_day.get(key, 0)}))
        events.append(dg.AssetMaterialization(DAILY_COMPLETENESS, partition=key, metadata={
            **common, **{f"homes_{name}": int(counts.get(rank, 0)) for name, rank in
                         (("complete", 0), ("partial", 1), ("with_gaps", 2))},
            "lowest_completeness": round(float(homes["completeness"].min()), 4),
            "homes_falling_shortest": worst_homes_table(homes)}))
    return events


def billing_day_events(reads: pd.DataFrame, valid_days: set[str], extra: dict | None = None) -> list:
    if reads.empty:
        return []
    return [dg.AssetMaterialization(BILLING_READS, partition=str(day), metadata={
        "homes": int(group["esiid"].nunique()), "reads": len(group),
        "kwh": round(float(group["kwh_total"].sum()), 3), **(extra or {})})
        for day, group in reads.groupby("local_date", sort=True) if str(day) in valid_days]


RECONCILIATION_STATUSES = ("match", "mismatch", "insufficient_intervals")


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


def reconciliation_day_events(per_day: pd.DataFrame, valid_days: set[str], extra: dict | None = None) -> list:
    """billing_reconciliation events from ``reconciliation_by_day`` rows."""
    if per_day.empty:
        return []
    return [dg.AssetMaterialization(RECONCILIATION, partition=str(row.local_date), metadata={
        "homes": int(row.homes), "reads": int(row.reads), **{s: int(getattr(row, s)) for s in RECONCILIATION_STATUSES},
        "max_abs_difference_kwh": round(float(row.max_abs_difference_kwh), 3), **(extra or {})})
        for row in per_day.itertuples(index=False) if str(row.local_date) in valid_days]


def log_events(context, events: list[dg.AssetMaterialization]) -> None:
    """Log the day events with their provenance (code, data and input versions), as Dagster
    records it for a MaterializeResult: without it every day looks stale after the next delivery."""
    for event in events:
        context.log_event(with_provenance(event, context.run_id))
