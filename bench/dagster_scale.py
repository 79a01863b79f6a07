"""Dagster overhead and the Central-day partitions as homes grow, with this project's own definitions.

Everything runs against the production setup: a Dagster instance on PostgreSQL storage
(deploy/dagster.yaml in a temporary DAGSTER_HOME) and a PostgreSQL warehouse, both in databases created
here (``intelliwatt_bench_dagster_*``) and dropped at the end.

Measured:
1. the inbox sensor: one tick over a day's new files of 100 to 100,000 homes (batching into runs of
   INTELLIWATT_INBOX_BATCH_FILES), and over 10,000 already-known files plus a few new ones;
2. a real ``inbox_ingest_job`` run of a batch on the empty instance and again with 10,000 homes' history:
   its materializations per asset against the days it touched, and its asset check steps;
3. the history of 100, 1,000 and 10,000 homes x 730 days, written straight into the event log as ingest
   runs of 50 homes would have written it (one event per asset per day per run): partition keys, the
   partitions definition id, the asset status cache (cold, warm, after one more run) and the UI's
   PartitionHealthQuery over GraphQL; at 100,000 homes only what does not read the history;
4. a new home after the largest step, and one home's 30 days rebuilt by ``rebuild_homes_job``.

    .venv/bin/python bench/dagster_scale.py [--tiny] [--output BENCHMARKS.md] [--keep] [--no-ui] [--homes 100,1000]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench.* and the package, from any cwd

from bench.common import (  # noqa: E402
    BENCHMARKS_MD,
    code_label,
    code_version,
    machine_facts,
    markdown_table,
    scratch_dbs,
    write_section,
)
from bench.dagster_bench import (  # noqa: E402
    DEPLOY_YAML,
    PARTITIONED,
    EventHistory,
    dagster_home,
    days_touched,
    fmt_s,
    latest_materialization,
    log,
    one_event_per_day,
    open_instance,
    partition_health,
    read_status,
    run_facts,
    stored_status_def_id,
    timed,
    ui_workspace,
    verdict,
)

SECTION = "dagster_scale"
DB_PREFIX = "intelliwatt_bench_dagster"
RUN_BATCH = 50  # homes (files) per ingest run
INGEST_JOB, REBUILD_HOMES_JOB = "inbox_ingest_job", "rebuild_homes_job"
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}  # every event still goes to the event log
FILE_DAYS = 3  # days one daily delivery covers (history and the "one more run" step)


@dataclass(frozen=True)
class Sizes:
    homes: tuple[int, ...]  # history sizes, cumulative: everything measured
    cheap_homes: int  # only what does not read the history (keys, definition id, sensor listing)
    days: int  # partitions per asset
    known_files: int  # files already recorded in inbox_entry
    known_new: int  # new files among them
    run_files: int  # files per real ingest run
    run_days: int  # days per file of a real ingest run (and of the one-home rebuild)
    ticks: int = 3


FULL = Sizes(homes=(100, 1_000, 10_000), cheap_homes=100_000, days=730, known_files=10_000, known_new=5,
             run_files=50, run_days=30)
TINY = Sizes(homes=(60, 120), cheap_homes=1_000, days=30, known_files=200, known_new=3, run_files=4, run_days=7)
NEW_HOME_DAYS = 365  # a home's first delivery: SMT hands over up to a year of history


def esiid(i: int) -> str:
    """A synthetic 17-digit ESIID (no real premise); never printed."""
    return f"1044372{i:010d}"


def chicago_today() -> dt.date:
    from intelliwatt_pipelines.config import CENTRAL_TZ

    return dt.datetime.now(ZoneInfo(CENTRAL_TZ)).date()


def recent_days(n: int, end_ago: int = 1) -> list[dt.date]:
    """``n`` consecutive Central days ending ``end_ago`` days before today."""
    last = chicago_today() - dt.timedelta(days=end_ago)
    return [last - dt.timedelta(days=n - 1 - i) for i in range(n)]


# --- settings and inbox files ------------------------------------------------------------------

def settings_env(work: Path, warehouse_url: str, days: int) -> dict[str, str]:
    """The environment the code location reads (set in os.environ: the GraphQL code server is a subprocess)."""
    start = chicago_today() - dt.timedelta(days=days - 1)  # end_offset=1: today is the last of `days`
    return {"INTELLIWATT_HOME": str(work), "INTELLIWATT_WAREHOUSE_URL": warehouse_url,
            "INTELLIWATT_RAW_STORE_URL": str(work / "raw"), "INTELLIWATT_INBOX_DIR": str(work / "inbox_empty"),
            "INTELLIWATT_PARTITION_START": start.isoformat(), "INTELLIWATT_INBOX_BATCH_FILES": str(RUN_BATCH)}


def defs_for(folder: Path | None = None):
    """The project's definitions from the environment, with the inbox at ``folder``."""
    from intelliwatt_pipelines.config import Settings
    from intelliwatt_pipelines.defs.definitions import build_defs

    settings = Settings.from_env()
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        settings = dataclasses.replace(settings, inbox_dir=folder)
    return build_defs(settings)


def age(path: Path, seconds: float = 3600) -> None:
    """Older than the inbox's minimum age, so the sensor takes the file on its first listing."""
    when = time.time() - seconds
    os.utime(path, (when, when))


def write_smt_files(folder: Path, homes: range, days: list[dt.date]) -> list[Path]:
    from intelliwatt_pipelines.samples import smt_interval_csv

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in homes:
        path = folder / f"IntervalMeterUsage_home_{i:06d}.csv"  # never a linked name (one inode for all)
        path.write_bytes(smt_interval_csv(esiid(i), days, seed=i))
        age(path)
        paths.append(path)
    return paths


LINKS_PER_INODE = 50_000  # ext4 allows 65,000 hard links to one file


def link_files(folder: Path, count: int, source: Path) -> None:
    """``count`` names for a few copies of one file: the sensor lists and stats files, it never reads them.
    Hard links, never written to (all names of a copy share its inode); not symlinks (the inbox resolves
    them to one path)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        if i % LINKS_PER_INODE == 0:
            copy = folder / f".source_{i}"  # hidden: the inbox skips it
            shutil.copy2(source, copy)
        os.link(copy, folder / f"IntervalMeterUsage_{i:06d}.csv")


def record_known(folder: Path, warehouse_url: str) -> None:
    """Every file in ``folder`` recorded as taken (inbox_entry, and a raw_file row for its foreign key),
    as ``ingest.inbox`` records it."""
    from intelliwatt_pipelines.cdm.tables import inbox_entry, raw_file
    from intelliwatt_pipelines.cdm.warehouse import create_engine
    from intelliwatt_pipelines.transport import LocalInbox

    entries = LocalInbox(folder).list_entries()  # the very keys the sensor computes
    now = dt.datetime.now(dt.timezone.utc)
    engine = create_engine(warehouse_url)
    with engine.begin() as conn:
        ids = conn.execute(raw_file.insert().returning(raw_file.c.id), [
            {"sha256": uuid.uuid4().hex * 2, "filename": e.name, "source": "inbox", "kind": "smt_interval",
             "size_bytes": e.size_bytes, "storage_uri": f"bench://{i}", "received_at": now, "status": "normalized"}
            for i, e in enumerate(entries)]).scalars().all()
        conn.execute(inbox_entry.insert(), [
            {"source": "inbox", "path": e.path, "size_bytes": e.size_bytes, "mtime_ns": e.mtime_ns,
             "raw_file_id": rid, "taken_at": now} for e, rid in zip(entries, ids)])
    engine.dispose()


# --- the sensor --------------------------------------------------------------------------------

def sensor_tick(defs, instance, cursor=None):
    import dagster as dg

    sensor = defs.resolve_sensor_def("inbox_sensor")
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=defs.resources, definitions=defs)
    return sensor.evaluate_tick(context)


@dataclass
class Ticks:
    label: str
    listed: int
    known: int
    cursor: str
    times: list[float]
    per_request: list[int]  # files per run request of the last tick
    last: object = field(default=None, repr=False)

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def shape(self) -> str:
        """Requests by size, largest first, e.g. ``20 x 50`` or ``1 x 50, 1 x 20``."""
        counts = Counter(self.per_request)
        return ", ".join(f"{counts[n]} x {n}" for n in sorted(counts, reverse=True)) or "-"

    def row(self) -> list:
        return [self.label, f"{self.listed:,}", f"{self.known:,}", self.cursor, len(self.times), fmt_s(self.median),
                f"{fmt_s(min(self.times))} / {fmt_s(max(self.times))}", f"{len(self.per_request):,}", self.shape]


def measure_ticks(label: str, defs, instance, n: int, listed: int, known: int, cursor=None,
                  carried: bool = False) -> Ticks:
    """``n`` ticks. Fresh: every tick from no cursor (a first tick: nothing claimed yet). Carried: each tick
    gets the previous tick's cursor (the steady state while the claimed files' runs are pending)."""
    times, result = [], None
    for _ in range(n):
        seconds, result = timed(sensor_tick, defs, instance, cursor)
        times.append(seconds)
        if carried:
            cursor = result.cursor
    per_request = [len(r.run_config["ops"]["raw_files"]["config"]["entries"]) for r in result.run_requests or []]
    ticks = Ticks(label, listed, known, "carried" if carried else "fresh", times, per_request, result)
    log(f"  {label}, {listed:,} listed ({ticks.cursor} cursor): median {ticks.median:.3f} s, "
        f"{len(per_request):,} request(s)")
    return ticks


def sensor_section(work: Path, instance, sizes: Sizes, warehouse_url: str) -> list[Ticks]:
    one = write_smt_files(work / "one_file", range(1), recent_days(FILE_DAYS))[0]
    ticks = []
    for homes in (*sizes.homes, sizes.cheap_homes):  # a day's delivery: one new file per home
        folder = work / f"inbox_new_{homes}"
        link_files(folder, homes, one)
        defs = defs_for(folder)
        ticks.append(measure_ticks("new files", defs, instance, sizes.ticks, homes, 0))
        if homes == sizes.homes[1]:
            ticks.append(measure_ticks("new files", defs, instance, sizes.ticks, homes, 0,
                                       cursor=ticks[-1].last.cursor, carried=True))
        shutil.rmtree(folder)
    folder = work / "inbox_known"
    link_files(folder, sizes.known_files, one)
    record_known(folder, warehouse_url)
    write_smt_files(folder, range(sizes.known_new), recent_days(FILE_DAYS))
    defs, listed = defs_for(folder), sizes.known_files + sizes.known_new
    ticks.append(measure_ticks("known files", defs, instance, sizes.ticks, listed, sizes.known_files))
    ticks.append(measure_ticks("known files", defs, instance, sizes.ticks, listed, sizes.known_files,
                               cursor=ticks[-1].last.cursor, carried=True))
    return ticks


# --- real runs -----------------------------------------------------------------------------------

@dataclass
class RealRun:
    label: str
    homes: int  # homes of history in the instance
    files: int
    wall: float
    facts: object
    days: dict

    def row(self, run_days: int) -> list:
        f = self.facts
        name, slowest = f.slowest_check
        return [self.label, f"{self.homes:,}", self.files, run_days, fmt_s(self.wall),
                fmt_s(f.steps.get("raw_files", 0)), fmt_s(f.check_seconds), f"`{name}` {fmt_s(slowest)}",
                "yes" if f.success else "**no**"]

    @property
    def events_ok(self) -> bool:
        return one_event_per_day(self.facts.materializations, self.facts.partitions, self.days)


def ingest_run(label: str, homes_in_history: int, folder: Path, instance, warehouse_url: str) -> RealRun:
    """The sensor's first request over ``folder``, executed in-process (as ``intelliwatt ingest`` does) with
    its run key as the daemon would tag it."""
    defs = defs_for(folder)
    request = sensor_tick(defs, instance).run_requests[0]
    wall, result = timed(defs.resolve_job_def(INGEST_JOB).execute_in_process,
                         run_config={**request.run_config, **QUIET}, instance=instance, raise_on_error=False,
                         tags={**request.tags, "dagster/run_key": request.run_key})
    run = RealRun(label, homes_in_history, len(request.run_config["ops"]["raw_files"]["config"]["entries"]), wall,
                  run_facts(instance, result.run_id), days_touched(warehouse_url, result.run_id))
    log(f"  run {label}: {wall:.2f} s, checks {run.facts.check_seconds:.2f} s, "
        f"events {dict(run.facts.materializations)}, days {run.days}, success={run.facts.success}")
    return run


OTHER_HOMES = """SELECT count(*), md5(string_agg(u::text, ',' ORDER BY esiid, meter, channel, ts_utc))
FROM usage_interval u WHERE esiid <> %s"""


def rebuild_one_home(instance, warehouse_url: str, home: str, days: list[dt.date]) -> dict:
    """``rebuild_homes_job`` for one home's days: runs launched, and every other home's rows before and
    after (count and checksum)."""
    def snapshot():
        with psycopg.connect(warehouse_url) as conn:
            others = conn.execute(OTHER_HOMES, (home,)).fetchone()
            own = conn.execute("SELECT count(*) FROM usage_interval WHERE esiid = %s", (home,)).fetchone()[0]
        return others, own, instance.get_runs_count()

    before = snapshot()
    config = {"ops": {"rebuilt_homes": {"config": {"esiids": [home], "start": str(days[0]), "end": str(days[-1])}}},
              **QUIET}
    wall, result = timed(defs_for().resolve_job_def(REBUILD_HOMES_JOB).execute_in_process, run_config=config,
                         instance=instance, raise_on_error=False)
    after = snapshot()
    facts = run_facts(instance, result.run_id)
    out = {"wall": wall, "success": facts.success, "runs": after[2] - before[2], "days": len(days),
           "others_rows": before[0][0], "others_unchanged": before[0] == after[0], "own_rows": (before[1], after[1]),
           "events": dict(facts.materializations)}
    log(f"  one-home rebuild: {out}")
    return out


# --- history and status --------------------------------------------------------------------------

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
    from intelliwatt_pipelines.defs.assets import USAGE_INTERVALS

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
    from intelliwatt_pipelines.defs.assets import DAILY_COMPLETENESS, USAGE_INTERVALS

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
    from intelliwatt_pipelines.defs.assets import DAILY_COMPLETENESS, USAGE_INTERVALS

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


# --- the report --------------------------------------------------------------------------------

def ui_cell(ui: dict | None) -> str:
    if ui is None:
        return "n/a"
    return f"**failed after {fmt_s(ui['s'])}** ({ui['error']})" if ui.get("error") else fmt_s(ui["s"])


def sensor_table(ticks: list[Ticks]) -> str:
    return markdown_table(["scenario", "files listed", "already known", "cursor", "ticks", "median tick s",
                           "min / max s", "run requests", "requests x files"], [t.row() for t in ticks])


def space_table(steps: list[Step], sizes: Sizes) -> str:
    rows = [[f"{s.homes:,}", f"{s.partitions:,}", fmt_s(s.enumerate_s), f"`{s.definition_id[:12]}`",
             f"{math.ceil(s.homes / RUN_BATCH):,}" if s.status else "-", f"{s.events:,}" if s.status else "not written",
             fmt_s(s.written_s) if s.status else "-"] for s in steps]
    return markdown_table(["homes", "partitions per asset", "enumerate keys s", "partitions definition id",
                           f"ingest runs of {RUN_BATCH} per day", f"materializations per asset ({sizes.days} days)",
                           "history written s"], rows)


def status_table(steps: list[Step]) -> str:
    rows = []
    for s in steps:
        for asset, r in s.status.items():
            ui = r.get("ui")
            reads = "/".join(str(r[k].full_log_reads) for k in ("cold", "warm", "after_run"))
            rows.append([f"{s.homes:,}", asset, f"{r['warm'].materialized:,}", fmt_s(r["cold"].seconds),
                         fmt_s(r["warm"].seconds), fmt_s(r["after_run"].seconds), reads, f"{r['warm'].cache_bytes:,}",
                         ui_cell(ui), f"{ui['bytes'] / 1024:,.0f}" if ui and "bytes" in ui else "n/a"])
    return markdown_table(["homes", "asset", "materialized partitions", "status cold s", "warm s", "after one run s",
                           "full-log reads (cold/warm/after run)", "stored subset bytes",
                           "UI PartitionHealthQuery s", "response KiB"], rows)


def new_home_table(home: dict) -> str:
    yes = lambda ok: "yes" if ok else "**no**"  # noqa: E731
    rows = [[asset, yes(home["definition_id_unchanged"]), yes(r["stored_id_unchanged"]), yes(r["subset_unchanged"]),
             r["full_log_reads"], fmt_s(r["s"]), ui_cell(r["ui"])] for asset, r in home["assets"].items()]
    return markdown_table(["asset", "definition id unchanged", "stored cache id unchanged",
                           "materialized subset unchanged", "full-log reads", "status read s",
                           "UI PartitionHealthQuery s"], rows)


def runs_table(runs: list[RealRun], sizes: Sizes) -> str:
    return markdown_table(["ingest run", "homes of history", "files", "days per file", "wall s", "raw_files step s",
                           "asset check steps s", "slowest check step s", "success"],
                          [r.row(sizes.run_days) for r in runs])


def events_table(runs: list[RealRun]) -> str:
    rows = [[r.label, a, r.facts.materializations.get(a, 0), r.facts.partitions.get(a, 0), r.days.get(a, "-"),
             ("yes" if r.facts.materializations.get(a, 0) == r.days[a] else "**no**") if a in r.days else "-"]
            for r in runs for a in PARTITIONED]
    return markdown_table(["ingest run", "asset", "ASSET_MATERIALIZATION events", "distinct days among them",
                           "days touched (warehouse)", "events = days"], rows)


def targets(sizes: Sizes, steps: list[Step], ticks: list[Ticks], runs: list[RealRun], home: dict,
            rebuild: dict) -> list[str]:
    big = next(s for s in steps if s.homes == sizes.homes[-1])
    usage = big.status["usage_intervals"]
    worst = lambda k: max(r[k].seconds for r in big.status.values())  # noqa: E731
    uis = [r["ui"] for r in big.status.values() if r.get("ui")]
    ui_s = max((u["s"] for u in uis), default=None)
    known = next(t for t in ticks if t.label == "known files" and t.cursor == "fresh")
    known_max = max(max(t.times) for t in ticks if t.label == "known files")
    keys_s = max(s.enumerate_s for s in steps)
    home_ok = home["definition_id_unchanged"] and all(r["stored_id_unchanged"] and r["subset_unchanged"]
                                                      and r["full_log_reads"] == 0 for r in home["assets"].values())
    empty, scaled = runs[0], runs[-1]
    checks_ok = scaled.facts.check_seconds <= 1.25 * empty.facts.check_seconds + 0.25
    n = f"{sizes.homes[-1]:,} homes"
    return [
        f"partitions per asset = days ({sizes.days}) at every size, enumerating keys < 0.05 s: "
        f"{verdict(all(s.partitions == sizes.days for s in steps) and keys_s < 0.05)} ("
        + ", ".join(f"{s.partitions:,} at {s.homes:,} homes" for s in steps) + f"; slowest {fmt_s(keys_s)} s).",
        f"at {n}, status warm < 0.3 s: {verdict(worst('warm') < 0.3)} ({fmt_s(worst('warm'))} s, slower asset); "
        f"after one run < 0.5 s: {verdict(worst('after_run') < 0.5)} ({fmt_s(worst('after_run'))} s); cold < 2 s: "
        f"{verdict(worst('cold') < 2)} ({fmt_s(worst('cold'))} s; usage_intervals {fmt_s(usage['cold'].seconds)} s).",
        f"at {n}, the UI's PartitionHealthQuery (server side) < 1 s: "
        + (f"{verdict(ui_s < 1 and len(uis) == len(big.status) and not any(u.get('error') for u in uis))} "
           f"({fmt_s(ui_s)} s, slower asset)." if uis else "**not met** (not measured: --no-ui or no code location)."),
        f"a new home changes nothing in Dagster's status (definition id and stored cache id unchanged, materialized "
        f"subset unchanged, no rebuild from the whole log): {verdict(home_ok)}.",
        f"events per ingest run = days touched per asset: {verdict(all(r.events_ok for r in runs))} ("
        + "; ".join(f"{r.label}: " + ", ".join(f"{a} {c}" for a, c in sorted(r.facts.materializations.items()))
                    for r in runs) + ").",
        f"the run's check steps no slower at {n} than on an empty instance (within 25% + 0.25 s, noise on a shared "
        f"machine): {verdict(checks_ok)} ({fmt_s(empty.facts.check_seconds)} s empty, "
        f"{fmt_s(scaled.facts.check_seconds)} s at {n}).",
        f"sensor ticks < 1 s with {known.known:,} known files: {verdict(known_max < 1)} (median "
        f"{fmt_s(known.median)} s, slowest {fmt_s(known_max)} s).",
        f"one-home rebuild (1 ESIID x {rebuild['days']} days) is one run and leaves other homes' rows untouched: "
        f"{verdict(rebuild['runs'] == 1 and rebuild['success'] and rebuild['others_unchanged'])} ({rebuild['runs']} "
        f"run, {fmt_s(rebuild['wall'])} s, {rebuild['others_rows']:,} other rows: checksum "
        f"{'unchanged' if rebuild['others_unchanged'] else '**changed**'}; the home's rows {rebuild['own_rows'][0]:,} "
        f"before, {rebuild['own_rows'][1]:,} after).",
    ]


def meaning(sizes: Sizes, steps: list[Step], ticks: list[Ticks], runs: list[RealRun]) -> str:
    measured = [s for s in steps if s.status]
    big = measured[-1]
    most = max(ticks, key=lambda t: t.listed)
    rates = [s.written / s.written_s for s in measured if s.written_s]
    cold = max(r["cold"].seconds for r in big.status.values())
    return (
        f"Partitions are Central days only: {sizes.days} per asset whatever the number of homes, and the "
        "partitions definition id hashes the definition's own parameters, the same at every size: a new home "
        "leaves the stored status cache valid (see above). The stored status is a list of day ranges "
        f"({big.status['usage_intervals']['warm'].cache_bytes} bytes), not a list of keys. What grows with homes "
        f"is the event log: {big.events:,} materializations per asset for {big.homes:,} homes x {sizes.days} days "
        f"(runs of {RUN_BATCH} homes, {FILE_DAYS} days each); only a cold status read (no stored cache) scans "
        f"them ({fmt_s(cold)} s at {big.homes:,} homes), every later read goes on from the stored cursor. The "
        "ingest run's asset checks find what the run wrote in the warehouse (raw_file.run_id and the coverage "
        f"tables), not in the partition list: {fmt_s(runs[0].facts.check_seconds)} s on the empty instance, "
        f"{fmt_s(runs[-1].facts.check_seconds)} s with {runs[-1].homes:,} homes' history. The sensor never reads "
        f"partitions; its cost follows the files it lists: {most.listed:,} new files took a median "
        f"{fmt_s(most.median)} s for {len(most.per_request):,} run requests (the evaluation timeout is 60 s). "
        f"History here was written with COPY at {min(rates, default=0):,.0f}-{max(rates, default=0):,.0f} "
        "events/s; an ingest run stores its own one by one through `context.log_event`.")


def report(args, sizes: Sizes, ticks, runs, steps, home, rebuild, wall: float, ui_timeout: float) -> str:
    facts = machine_facts()
    command = " ".join([".venv/bin/python bench/dagster_scale.py"] + (["--tiny"] if args.tiny else [])
                       + ([f"--homes {args.homes}"] if args.homes else []) + (["--no-ui"] if args.no_ui else [])
                       + ([f"--output {args.output}"] if args.output.resolve() != BENCHMARKS_MD else []))
    return "\n\n".join([
        f"## Dagster overhead and Central-day partition scale{' (tiny)' if args.tiny else ''}",
        f"Reproduce: `{command}` (from the repository root, with the project's venv; PostgreSQL on "
        f"127.0.0.1:5432). Whole run: {wall:.0f} s.",
        f"Code measured: {code_label(code_version())}.",
        f"Machine: {facts['nproc']} CPUs ({facts['cpu']}), {facts['ram_gib']} GiB RAM, Python {facts['python']}, "
        f"kernel {facts['kernel']}. Dagster instance from deploy/dagster.yaml on PostgreSQL and a PostgreSQL "
        "warehouse, both fresh databases on the same machine. Other CPU-heavy work may share the machine: "
        "figures are noisy.",
        "### Targets\n\n" + "\n".join(f"- {t}" for t in targets(sizes, steps, ticks, runs, home, rebuild)),
        "### Inbox sensor\n\nOne tick = `inbox_sensor.evaluate_tick` (listing, known keys from inbox_entry, run "
        f"requests); median of {sizes.ticks}. New files: a day's delivery of that many homes, one file each (names "
        "of one generated SMT CSV: the sensor lists and stats, it does not read). Fresh cursor: every tick starts "
        "from no cursor (nothing claimed). Carried: each tick gets the previous tick's cursor (the files are "
        "claimed while their runs are pending, so no request). Known files are recorded in inbox_entry (and "
        "raw_file) directly.\n\n" + sensor_table(ticks),
        "### Partition space\n\nThe project's definitions built at each size (`build_defs`); keys = "
        "`partitions_def.get_partition_keys()` of usage_intervals (all four day-partitioned assets share the "
        f"definition). History: for every day, one ingest run per {RUN_BATCH} homes, each writing one "
        f"ASSET_MATERIALIZATION per asset (usage_intervals and daily_completeness) for each of the {FILE_DAYS} days "
        "its delivery covers, cloned from the real run's events and copied into `event_logs` (then one run "
        "through `store_event_batch` so the asset records are Dagster's own). At "
        f"{sizes.cheap_homes:,} homes only what does not read the history is measured.\n\n" + space_table(steps, sizes),
        "### Partition status\n\n`get_and_update_asset_status_cache_value`, the asset status cache behind the UI "
        "and `get_status_by_partition`, stored as Dagster stores it: cold = the stored cache wiped (rebuilt from "
        f"the whole event log), warm = the next call, after one run = after one more run's events ({FILE_DAYS} "
        "days). Full-log reads = calls of `get_materialized_partitions` without a cursor. The UI's own "
        "`PartitionHealthQuery` (asset partitions page) over GraphQL against the project's code location, on an "
        "instance tuned like `dagster-webserver` (pooled"
        + (f", {ui_timeout:.0f} s statement timeout" if ui_timeout else "")
        + "), warm, server side only (the browser still renders it).\n\n"
        + status_table([s for s in steps if s.status]),
        f"### A new home\n\nAfter the {sizes.homes[-1]:,}-home step, one run delivers a new home's first "
        f"{NEW_HOME_DAYS} days (days other homes already materialized); the definitions are built again, as a "
        "reloaded code location would, and the status is read.\n\n" + new_home_table(home),
        "### Ingest runs\n\nA real `inbox_ingest_job` run of the sensor's first request over "
        f"{sizes.run_files} new homes' SMT files ({sizes.run_days} days each), in-process (as `intelliwatt ingest` "
        f"runs it), on the empty instance and again after the {sizes.homes[-1]:,}-home history (other homes, the "
        "same days). Events counted in the event log for the run; days touched from the warehouse "
        "(`raw_file.run_id` and the coverage tables).\n\n" + runs_table(runs, sizes) + "\n\n" + events_table(runs),
        f"### One-home rebuild\n\n`rebuild_homes_job` with one ESIID and its {rebuild['days']} days "
        f"({sizes.run_days}-day files of the first run), in-process: {rebuild['runs']} run, "
        f"{fmt_s(rebuild['wall'])} s, "
        f"{'success' if rebuild['success'] else '**failed**'}; materializations: "
        + ", ".join(f"{a} {n}" for a, n in sorted(rebuild["events"].items()))
        + f". Other homes' usage_interval rows ({rebuild['others_rows']:,}) by count and md5 of every row: "
        + ("unchanged." if rebuild["others_unchanged"] else "**changed**."),
        "### What this means\n\n" + meaning(sizes, steps, ticks, runs),
    ])


# --- main --------------------------------------------------------------------------------------

def measure(args, sizes: Sizes, work: Path, wh_url: str, dg_url: str, began: float) -> str:
    from intelliwatt_pipelines.cdm.warehouse import create_engine, migrate
    from intelliwatt_pipelines.defs.assets import DAILY_COMPLETENESS, USAGE_INTERVALS

    engine = create_engine(wh_url)
    migrate(engine)
    engine.dispose()
    os.environ.update(settings_env(work, wh_url, sizes.days))
    instance_env = dagster_home(work / "dagster_home", DEPLOY_YAML, dg_url)
    with ExitStack() as stack:
        instance = stack.enter_context(open_instance(instance_env))
        log("sensor")
        ticks = sensor_section(work, instance, sizes, wh_url)
        days = recent_days(sizes.run_days)
        write_smt_files(work / "run_empty", range(sizes.run_files), days)
        runs = [ingest_run("empty instance", 0, work / "run_empty", instance, wh_url)]
        templates = {key: latest_materialization(instance, key) for key in (USAGE_INTERVALS, DAILY_COMPLETENESS)}
        history = EventHistory(instance, dg_url, templates)
        ui, ui_timeout = (None, 0.0) if args.no_ui else open_ui(stack)
        steps, previous = [], 0
        for homes in sizes.homes:
            log(f"history: {homes:,} homes x {sizes.days} days")
            steps.append(scale_step(instance, dg_url, history, homes, previous, ui))
            previous = homes
        steps.append(partition_space(sizes.cheap_homes))
        home = new_home(instance, history, ui)
        write_smt_files(work / "run_scaled", range(sizes.run_files, 2 * sizes.run_files), days)
        runs.append(ingest_run(f"{sizes.homes[-1]:,} homes' history", sizes.homes[-1], work / "run_scaled",
                               instance, wh_url))
        rebuild = rebuild_one_home(instance, wh_url, esiid(0), days)
    return report(args, sizes, ticks, runs, steps, home, rebuild, time.perf_counter() - began, ui_timeout)


def open_ui(stack: ExitStack):
    """(the UI workspace, its statement timeout s), or (None, 0) when the code location does not load
    (reported; the rest still runs)."""
    log("starting the code location for GraphQL")
    try:
        return stack.enter_context(ui_workspace(dict(os.environ)))
    except Exception as exc:  # noqa: BLE001 - a missing UI is a finding, not a crash
        log(f"GraphQL workspace unavailable: {type(exc).__name__}: {exc}")
        return None, 0.0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="small sizes, about a minute")
    parser.add_argument("--output", type=Path, default=BENCHMARKS_MD, help="the markdown file to update")
    parser.add_argument("--keep", action="store_true", help="keep the databases and the work folder")
    parser.add_argument("--no-ui", action="store_true", help="skip the GraphQL PartitionHealthQuery")
    parser.add_argument("--homes", help="history sizes instead of the default, cumulative, e.g. 100,1000")
    args = parser.parse_args(argv)
    sizes = TINY if args.tiny else FULL
    if args.homes:
        sizes = dataclasses.replace(sizes, homes=tuple(int(n) for n in args.homes.split(",")))
    began = time.perf_counter()
    tag = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"
    work = Path(tempfile.mkdtemp(prefix="dagster_scale_"))
    try:
        with scratch_dbs(f"{DB_PREFIX}_{tag}_wh", f"{DB_PREFIX}_{tag}_dg", keep=args.keep) as (wh_url, dg_url):
            body = measure(args, sizes, work, wh_url, dg_url, began)
    finally:
        if args.keep:
            log(f"kept the work folder {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    write_section(SECTION, body, args.output)
    log(f"wrote section {SECTION} to {args.output} ({time.perf_counter() - began:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
