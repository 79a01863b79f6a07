"""History and partition status at scale: a step's history written into the event log, the status
cache cold, warm and after one more run, the UI's query, and a new home's effect on all of it."""

from __future__ import annotations

import datetime as dt
import math
import time
import uuid
from dataclasses import dataclass, field

import psycopg

from bench.dagster_bench import EventHistory, fmt_s, log, timed
from bench.dagster_status import partition_health, read_status, stored_status_def_id
from bench.scale_setup import FILE_DAYS, NEW_HOME_DAYS, RUN_BATCH, defs_for


def history_runs(keys: list[str], runs_per_day: int):
    """(run id, timestamp, partition keys) of ``runs_per_day`` daily ingest runs over the days ``keys``,
    each covering FILE_DAYS days up to its day, stamped the next day (or now, for the last days)."""
    for k, key in enumerate(keys):
        ts = min(time.time(), dt.datetime.fromisoformat(key).replace(tzinfo=dt.timezone.utc).timestamp() + 36 * 3600)
        touched = keys[max(0, k - FILE_DAYS + 1):k + 1]
        for _ in range(runs_per_day):
            yield str(uuid.uuid4()), ts, touched


@dataclass
class Step:
    homes: int
    partitions: int
    enumerate_s: float
    definition_id: str
    events: int = 0  # materializations per asset in the log
    written: int = 0  # events this step wrote (both assets)
    written_s: float = 0.0
    status: dict = field(default_factory=dict)  # asset -> measurements


def count_events(dagster_url: str, asset_key) -> int:
    with psycopg.connect(dagster_url) as conn:
        return conn.execute("SELECT count(*) FROM event_logs WHERE asset_key = %s AND dagster_event_type = "
                            "'ASSET_MATERIALIZATION'", (asset_key.to_string(),)).fetchone()[0]


def partition_space(homes: int) -> Step:
    """What the definitions say at this size: partitions per asset, the time to list them, the id."""
    from intelliwatt_pipelines.defs.keys import USAGE_INTERVALS

    partitions_def = defs_for().resolve_assets_def(USAGE_INTERVALS).partitions_def
    seconds, keys = timed(partitions_def.get_partition_keys)
    return Step(homes, len(keys), seconds, partitions_def.get_serializable_unique_identifier())


def status_row(instance, asset_key, partitions_def, history: EventHistory, ui) -> dict:
    """Status cache cold (the stored cache wiped: rebuilt from the whole log, what a changed definition id
    costs), warm, and after one more run's events; the UI query warm."""
    instance.wipe_asset_cached_status([asset_key])
    cold = read_status(instance, asset_key, partitions_def)
    warm = read_status(instance, asset_key, partitions_def)
    row = {"cold": cold, "warm": warm}
    if ui is not None:
        partition_health(ui, asset_key)  # the first request also loads the code location's snapshot
        row["ui"] = partition_health(ui, asset_key)
    history.store_run(partitions_def.get_partition_keys()[-FILE_DAYS:])
    row["after_run"] = read_status(instance, asset_key, partitions_def)
    return row


def scale_step(instance, dagster_url: str, history: EventHistory, homes: int, previous: int, ui) -> Step:
    from intelliwatt_pipelines.defs.keys import DAILY_COMPLETENESS, USAGE_INTERVALS

    step = partition_space(homes)
    partitions_def = defs_for().resolve_assets_def(USAGE_INTERVALS).partitions_def
    runs_per_day = math.ceil(homes / RUN_BATCH) - math.ceil(previous / RUN_BATCH)
    step.written_s, step.written = timed(history.write, history_runs(partitions_def.get_partition_keys(), runs_per_day))
    history.store_run(partitions_def.get_partition_keys()[-1:])  # asset records past the copied events
    step.events = count_events(dagster_url, USAGE_INTERVALS)
    log(f"  {homes:,} homes: {step.events:,} events per asset ({step.written_s:.1f} s to write)")
    for key in (USAGE_INTERVALS, DAILY_COMPLETENESS):
        step.status[key.to_user_string()] = row = status_row(instance, key, partitions_def, history, ui)
        log(f"  {key.to_user_string()}: cold {row['cold'].seconds:.3f} s, warm {row['warm'].seconds:.3f} s, after one "
            f"run {row['after_run'].seconds:.3f} s, UI {ui_cell(row.get('ui'))} s")
    return step


def new_home(instance, history: EventHistory, ui) -> dict:
    """A home's first delivery (a year of days, all already materialized by other homes) after the largest
    step: does anything in Dagster's status change?"""
    from intelliwatt_pipelines.defs.keys import DAILY_COMPLETENESS, USAGE_INTERVALS

    partitions_def = defs_for().resolve_assets_def(USAGE_INTERVALS).partitions_def
    id_before = partitions_def.get_serializable_unique_identifier()
    before = {key: read_status(instance, key, partitions_def) for key in (USAGE_INTERVALS, DAILY_COMPLETENESS)}
    history.store_run(partitions_def.get_partition_keys()[-NEW_HOME_DAYS:])
    rebuilt_def = defs_for().resolve_assets_def(USAGE_INTERVALS).partitions_def  # as a reloaded code location
    out = {"definition_id_unchanged": rebuilt_def.get_serializable_unique_identifier() == id_before, "assets": {}}
    for key, old in before.items():
        stored_id = stored_status_def_id(instance, key)
        read = read_status(instance, key, rebuilt_def)
        out["assets"][key.to_user_string()] = {
            "s": read.seconds, "full_log_reads": read.full_log_reads, "subset_unchanged": read.subset == old.subset,
            "stored_id_unchanged": stored_id == stored_status_def_id(instance, key) == id_before,
            "ui": partition_health(ui, key) if ui is not None else None}
    log(f"  new home: {out}")
    return out




def ui_cell(ui: dict | None) -> str:
    if ui is None:
        return "n/a"
    return f"**failed after {fmt_s(ui['s'])}** ({ui['error']})" if ui.get("error") else fmt_s(ui["s"])
