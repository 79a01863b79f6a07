"""Dagster overhead and the ESIID x day partition set as it grows, with this project's own definitions.

Everything runs against the production setup: a Dagster instance on PostgreSQL storage
(deploy/dagster.yaml in a temporary DAGSTER_HOME) and a PostgreSQL warehouse, both in databases
created here (``intelliwatt_bench_dagster_*``) and dropped at the end.

Measured:
1. the inbox sensor: one tick over N new files (batching into runs of INTELLIWATT_INBOX_BATCH_FILES),
   and one tick over 10,000 already-known files plus a few new ones;
2. one real ingest run of a batch (execute_in_process), on an empty instance and at full scale;
3. the partition set for growing ESIID counts x ~2 years of days: adding dynamic partitions,
   enumerating the partition keys, the sensor tick, writing the materialization events straight to the
   event log, and how long the instance takes to report partition status (the raw query, the asset
   status cache the UI uses, cold/warm/incremental, and the UI's own PartitionHealthQuery over GraphQL).

    .venv/bin/python bench/dagster_scale.py [--tiny] [--output BENCHMARKS.md] [--keep] [--steps 100,300] [--no-ui]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench.common and the package, from any cwd

from bench.common import BENCHMARKS_MD, ROOT, code_label, code_version, machine_facts, markdown_table, write_section

SECTION = "dagster_scale"
ADMIN_URL = os.environ.get("INTELLIWATT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DB_PREFIX = "intelliwatt_bench_dagster"
GUIDANCE = 100_000  # Dagster's recommended maximum partitions per asset
UI_SLOW = 40_000  # where UI slowness is reported (dagster-io/dagster #15679)
SENSOR_TIMEOUT_S = 60
FILE_DAYS = 3  # days per generated SMT file (what one delivery typically covers)


@dataclass(frozen=True)
class Sizes:
    new_files: int  # files in the inbox for the batching tick
    known_files: int  # files already recorded in inbox_entry
    known_new: int  # new files among the known ones
    esiid_steps: tuple[int, ...]  # cumulative ESIID counts for the partition scale
    days: int  # length of the date dimension
    both_assets_up_to: int  # ESIIDs beyond this get usage_intervals events only (time budget)
    event_batch: int = 5000  # events per store_event_batch call
    ticks: int = 3
    run_at_scale: bool = True  # a second real ingest run after the largest step


FULL = Sizes(new_files=1000, known_files=10_000, known_new=5, esiid_steps=(100, 300, 1000), days=730,
             both_assets_up_to=100)
TINY = Sizes(new_files=70, known_files=200, known_new=3, esiid_steps=(3, 10), days=30, both_assets_up_to=10,
             event_batch=100, run_at_scale=False)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def esiid(i: int) -> str:
    """A synthetic 17-digit ESIID (no real premise)."""
    return f"1044372{i:010d}"


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def fmt_s(seconds: float) -> str:
    return f"{seconds:.3f}" if seconds < 1 else f"{seconds:.2f}" if seconds < 100 else f"{seconds:.0f}"


# --- databases and the Dagster instance --------------------------------------------------------

def admin_engine() -> sa.Engine:
    from intelliwatt_pipelines.cdm.warehouse import normalize_url

    return sa.create_engine(normalize_url(ADMIN_URL), isolation_level="AUTOCOMMIT")


def db_url(name: str) -> str:
    """A plain ``postgresql://`` URL: dagster-postgres wants its default driver (psycopg2), and the
    warehouse routes that form to psycopg 3 itself."""
    url = sa.engine.make_url(ADMIN_URL).set(drivername="postgresql", database=name)
    return url.render_as_string(hide_password=False)


@contextmanager
def databases(names: list[str], keep: bool):
    admin = admin_engine()
    created = []
    try:
        for name in names:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
            created.append(name)
        yield [db_url(n) for n in names]
    finally:
        if keep:
            log(f"kept databases {', '.join(created)}")
        else:
            for name in created:
                with admin.connect() as conn:
                    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def postgres_instance(home: Path, url: str):
    """The production instance config, pointed at our own database (same as the pg_instance fixture)."""
    import dagster as dg

    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    os.environ["DAGSTER_POSTGRES_URL"] = url
    with dg.DagsterInstance.get() as instance:
        yield instance


# --- settings, inbox files ---------------------------------------------------------------------

def chicago_today() -> dt.date:
    from intelliwatt_pipelines.config import CENTRAL_TZ

    return dt.datetime.now(ZoneInfo(CENTRAL_TZ)).date()


def make_settings(work: Path, warehouse_url: str, days: int):
    """Settings from the environment (so the GraphQL code server, a subprocess, builds the same defs)."""
    from intelliwatt_pipelines.config import Settings

    start = chicago_today() - dt.timedelta(days=days - 1)  # end_offset=1: today is the last partition
    os.environ.update({
        "INTELLIWATT_HOME": str(work), "INTELLIWATT_WAREHOUSE_URL": warehouse_url,
        "INTELLIWATT_RAW_STORE_URL": str(work / "raw"), "INTELLIWATT_INBOX_DIR": str(work / "inbox_few"),
        "INTELLIWATT_PARTITION_START": start.isoformat(), "INTELLIWATT_INBOX_BATCH_FILES": "50",
    })
    return Settings.from_env()


def with_inbox(settings, folder: Path):
    folder.mkdir(parents=True, exist_ok=True)
    return dataclasses.replace(settings, inbox_dir=folder)


def age(path: Path, seconds: float = 3600) -> None:
    """Older than InboxResource.min_age_seconds, so the sensor takes the file on its first listing."""
    when = time.time() - seconds
    os.utime(path, (when, when))


def write_smt_files(folder: Path, esiid_indices: range, days: list[dt.date]) -> list[Path]:
    from intelliwatt_pipelines.samples import smt_interval_csv

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in esiid_indices:
        path = folder / f"IntervalMeterUsage_{esiid(i)}_{i:05d}.csv"
        path.write_bytes(smt_interval_csv(esiid(i), days, seed=i))
        age(path)
        paths.append(path)
    return paths


def write_known_files(folder: Path, count: int, engine: sa.Engine) -> None:
    """``count`` files already taken: one generated CSV under many names, each recorded in inbox_entry
    (and a raw_file row for the foreign key) exactly as ``ingest.inbox._record`` would."""
    from intelliwatt_pipelines.cdm.tables import inbox_entry, raw_file
    from intelliwatt_pipelines.samples import smt_interval_csv
    from intelliwatt_pipelines.transport import LocalInbox

    folder.mkdir(parents=True, exist_ok=True)
    data = smt_interval_csv(esiid(0), [chicago_today() - dt.timedelta(days=3)])
    for i in range(count):
        path = folder / f"IntervalMeterUsage_known_{i:06d}.csv"
        path.write_bytes(data)
        age(path, 86400)
    entries = LocalInbox(folder).list_entries()  # the very keys the sensor will compute
    now = dt.datetime.now(dt.timezone.utc)
    with engine.begin() as conn:
        ids = conn.execute(raw_file.insert().returning(raw_file.c.id), [
            {"sha256": uuid.uuid4().hex * 2, "filename": e.name, "source": "inbox", "kind": "smt_interval",
             "size_bytes": e.size_bytes, "storage_uri": f"bench://{i}", "received_at": now, "status": "normalized"}
            for i, e in enumerate(entries)]).scalars().all()
        conn.execute(inbox_entry.insert(), [
            {"source": "inbox", "path": e.path, "size_bytes": e.size_bytes, "mtime_ns": e.mtime_ns,
             "raw_file_id": rid, "taken_at": now} for e, rid in zip(entries, ids)])


# --- the sensor --------------------------------------------------------------------------------

def sensor_tick(defs, instance, cursor=None):
    import dagster as dg

    sensor = defs.resolve_sensor_def("inbox_sensor")
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=defs.resources, definitions=defs)
    return sensor.evaluate_tick(context)


def files_per_request(result) -> list[int]:
    return [len(r.run_config["ops"]["raw_files"]["config"]["entries"]) for r in result.run_requests or []]


@dataclass
class TickStats:
    label: str
    listed: int
    known: int
    cursor: str
    times: list[float]
    requests: int
    per_request: list[int]
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
        return [self.label, f"{self.listed:,}", f"{self.known:,}", self.cursor, len(self.times),
                fmt_s(self.median), f"{fmt_s(min(self.times))} / {fmt_s(max(self.times))}", self.requests, self.shape]


def measure_ticks(label: str, defs, instance, n: int, listed: int, known: int, carried: bool = False,
                  cursor=None) -> TickStats:
    """``n`` ticks. Fresh: every tick from no cursor (a first tick, the worst case: nothing claimed yet).
    Carried: each tick gets the previous tick's cursor (steady state: the claims are outstanding)."""
    times, result = [], None
    for _ in range(n):
        seconds, result = timed(sensor_tick, defs, instance, cursor)
        times.append(seconds)
        if carried:
            cursor = result.cursor
    stats = TickStats(label, listed, known, "carried" if carried else "fresh", times,
                      len(result.run_requests or []), files_per_request(result), result)
    log(f"  {label} ({stats.cursor} cursor): median {stats.median:.3f} s, {stats.requests} request(s)")
    return stats


# --- one real ingest run -----------------------------------------------------------------------

@dataclass
class RunStats:
    label: str
    esiids_registered: int
    files: int
    wall: float
    step: float  # the raw_files step
    checks: float  # the asset check steps
    slowest_check: tuple[str, float]
    before: float  # from the call to the first step's start
    after: float  # from the last step's end to the return
    materializations: int
    success: bool

    def row(self) -> list:
        return [self.label, f"{self.esiids_registered:,}", self.files, fmt_s(self.wall), fmt_s(self.step),
                fmt_s(self.checks), f"`{self.slowest_check[0]}` {fmt_s(self.slowest_check[1])}", fmt_s(self.before),
                fmt_s(self.after), self.materializations, "yes" if self.success else "**no**"]


def run_ingest(label: str, defs, instance, request) -> RunStats:
    """A sensor's request executed in-process, tagged with its run key as the daemon would do.
    In-process, so this is the run's own overhead, not the daemon's launch (seconds more)."""
    from dagster import DagsterEventType

    from intelliwatt_pipelines.defs.definitions import INGEST_JOB

    registered = len(instance.get_dynamic_partitions("esiid"))
    # The console logger at WARNING keeps this output readable; every event still goes to the event log.
    run_config = {**request.run_config, "loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    called = time.time()
    wall, result = timed(defs.resolve_job_def(INGEST_JOB).execute_in_process, run_config=run_config,
                         instance=instance, raise_on_error=False,
                         tags={**request.tags, "dagster/run_key": request.run_key})
    steps = {s.step_key: (s.start_time, s.end_time) for s in instance.get_run_step_stats(result.run_id)
             if s.start_time and s.end_time}
    step = steps["raw_files"][1] - steps["raw_files"][0] if "raw_files" in steps else 0.0
    check_steps = {key: end - start for key, (start, end) in steps.items() if key != "raw_files"}
    checks = sum(check_steps.values())
    slowest = max(check_steps.items(), key=lambda kv: kv[1], default=("-", 0.0))
    first = min((start for start, _ in steps.values()), default=called)
    last = max((end for _, end in steps.values()), default=called + wall)
    # From the event log: events stored in batches by the step are not all in result.all_events.
    mats = len(instance.all_logs(result.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION))
    stats = RunStats(label, registered, len(request.run_config["ops"]["raw_files"]["config"]["entries"]), wall,
                     step, checks, slowest, first - called, called + wall - last, mats, result.success)
    log(f"  run {label}: {wall:.2f} s wall, raw_files step {step:.2f} s, checks {checks:.2f} s, before the first "
        f"step {stats.before:.2f} s, after the last {stats.after:.2f} s, {mats} materializations, "
        f"success={result.success}")
    return stats


# --- materialization events straight into the event log ----------------------------------------

def event_template(instance, asset_key):
    """A real materialization event of this asset (from the ingest run) to clone, so the stored payload
    is what the project writes; a minimal synthetic one when no run produced it."""
    import dagster as dg
    from dagster._core.events import DagsterEvent, DagsterEventType, StepMaterializationData
    from dagster._core.events.log import EventLogEntry

    from intelliwatt_pipelines.defs.definitions import INGEST_JOB

    records = instance.fetch_materializations(asset_key, limit=1).records
    if records:
        return records[0].event_log_entry
    mat = dg.AssetMaterialization(asset_key=asset_key, partition="x", metadata={"intervals": 96, "kwh": 10.0})
    return EventLogEntry(None, "debug", "", "template", time.time(), step_key="raw_files", job_name=INGEST_JOB,
                         dagster_event=DagsterEvent(DagsterEventType.ASSET_MATERIALIZATION.value, INGEST_JOB,
                                                    event_specific_data=StepMaterializationData(mat)))


def clone_event(template, partition, run_id: str):
    import dagster as dg
    from dagster._core.events import StepMaterializationData

    old = template.dagster_event.event_specific_data.materialization
    mat = dg.AssetMaterialization(asset_key=old.asset_key, partition=partition, metadata=old.metadata,
                                  tags=old.tags)
    event = template.dagster_event._replace(event_specific_data=StepMaterializationData(mat))
    return template._replace(run_id=run_id, timestamp=time.time(), dagster_event=event)


def partition_key(esiid_value: str, day: str):
    import dagster as dg

    return dg.MultiPartitionKey({"esiid": esiid_value, "date": day})


def write_events(instance, template, esiids: list[str], days: list[str], batch: int) -> int:
    """One event per (ESIID, day), one asset per batch (store_event_batch updates the asset record from
    the batch's last event only), a synthetic run id per 50 ESIIDs (one run's worth)."""
    pending, written = [], 0
    for start in range(0, len(esiids), 50):
        run_id = str(uuid.uuid4())
        for value in esiids[start:start + 50]:
            for day in days:
                pending.append(clone_event(template, partition_key(value, day), run_id))
                if len(pending) >= batch:
                    instance.event_log_storage.store_event_batch(pending)
                    written, pending = written + len(pending), []
    if pending:
        instance.event_log_storage.store_event_batch(pending)
        written += len(pending)
    return written


# --- partition status --------------------------------------------------------------------------

def status_cache(instance, asset_key, partitions_def):
    from dagster._core.storage.partition_status_cache import get_and_update_asset_status_cache_value

    return get_and_update_asset_status_cache_value(instance, asset_key, partitions_def)


def count_materialized(cache_value, partitions_def) -> int:
    return len(cache_value.deserialize_materialized_partition_subsets(partitions_def)) if cache_value else 0


PARTITION_HEALTH_QUERY = """
query PartitionHealthQuery($assetKey: AssetKeyInput!) {
  assetNodeOrError(assetKey: $assetKey) {
    ... on AssetNode {
      id
      partitionKeysByDimension { name type partitionKeys }
      assetPartitionStatuses {
        ... on TimePartitionStatuses { ranges { status startTime endTime startKey endKey } }
        ... on DefaultPartitionStatuses { materializedPartitions materializingPartitions failedPartitions }
        ... on MultiPartitionStatuses {
          primaryDimensionName
          ranges {
            primaryDimStartKey primaryDimEndKey primaryDimStartTime primaryDimEndTime
            secondaryDim {
              ... on TimePartitionStatuses { ranges { status startTime endTime startKey endKey } }
              ... on DefaultPartitionStatuses { materializedPartitions materializingPartitions failedPartitions }
            }
          }
        }
      }
      partitionStats { numMaterialized numPartitions numFailed numMaterializing }
    }
  }
}
"""


@contextmanager
def graphql_workspace(instance):
    """The webserver's view: the project's code location (``intelliwatt_pipelines.defs``, a code server
    subprocess reading the same INTELLIWATT_* environment) over this instance."""
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import ModuleTarget

    target = ModuleTarget(module_name="intelliwatt_pipelines.defs", attribute="defs", working_directory=str(ROOT),
                          location_name="intelliwatt_pipelines")
    with WorkspaceProcessContext(instance, target, version="") as process_context:
        errors = process_context.create_request_context().code_location_errors()
        if errors:
            raise RuntimeError(f"code location failed to load: {errors[0].message}")
        yield process_context


def partition_health(process_context, asset_key) -> dict:
    """The UI's PartitionHealthQuery (as the asset page sends it): time, response size, partitionStats,
    or the error (e.g. the webserver's statement timeout)."""
    from dagster_graphql.test.utils import execute_dagster_graphql

    context = process_context.create_request_context()
    start = time.perf_counter()
    try:
        result = execute_dagster_graphql(context, PARTITION_HEALTH_QUERY, {"assetKey": {"path": list(asset_key.path)}})
    except Exception as exc:  # a failing query is a result here, not a crash
        return {"s": time.perf_counter() - start, "error": f"{type(exc).__name__}: {str(exc)[:120]}"}
    seconds = time.perf_counter() - start
    node = result.data["assetNodeOrError"]
    return {"s": seconds, "bytes": len(json.dumps(result.data)), "stats": node.get("partitionStats") or {}}


def webserver_instance(stack: ExitStack):
    """A second instance on the same storage, tuned as ``dagster-webserver`` does at start (pooled
    connections, its default statement timeout), for the UI query."""
    import dagster as dg
    from dagster_webserver.cli import DEFAULT_DB_STATEMENT_TIMEOUT, DEFAULT_POOL_MAX_OVERFLOW, DEFAULT_POOL_RECYCLE

    instance = stack.enter_context(dg.DagsterInstance.get())
    instance.optimize_for_webserver(DEFAULT_DB_STATEMENT_TIMEOUT, DEFAULT_POOL_RECYCLE, DEFAULT_POOL_MAX_OVERFLOW)
    return instance, DEFAULT_DB_STATEMENT_TIMEOUT / 1000


# --- the partition scale -----------------------------------------------------------------------

@dataclass
class StepStats:
    esiids: int
    days: int
    add_one_call: float = 0.0
    add_batched: float = 0.0
    add_calls: int = 0
    added: int = 0
    partitions: int = 0
    enumerate_s: float = 0.0
    tick: float = 0.0
    events: list = field(default_factory=list)  # (asset, events, seconds)
    status: list = field(default_factory=list)  # dicts, one per asset


def add_partitions(instance, keys: list[str], stats: StepStats) -> None:
    """Both ways: one call (into a scratch definition, so the real one is filled once) and calls of 50,
    one per ingest run batch (how report_partitions adds them)."""
    stats.added = len(keys)
    stats.add_one_call, _ = timed(instance.add_dynamic_partitions, "bench_esiid_one_call", keys)
    start = time.perf_counter()
    for i in range(0, len(keys), 50):
        instance.add_dynamic_partitions("esiid", keys[i:i + 50])
        stats.add_calls += 1
    stats.add_batched = time.perf_counter() - start


def measure_status(instance, asset_key, partitions_def, process_context, days: list[str], esiids: list[str],
                   template) -> dict:
    """How long the instance takes to say which partitions are materialized."""
    row = {"asset": asset_key.to_user_string()}
    row["raw_s"], raw = timed(instance.get_materialized_partitions, asset_key)
    row["raw_count"] = len(raw)
    # Cold: the stored cache (if any) was built for another ESIID list, so it is rebuilt from the log.
    row["cold_s"], value = timed(status_cache, instance, asset_key, partitions_def)
    row["warm_s"], value = timed(status_cache, instance, asset_key, partitions_def)
    row["materialized"] = count_materialized(value, partitions_def)
    row["cache_kb"] = len(value.serialized_materialized_partition_subset or "") / 1024 if value else 0
    one_home = [str(partition_key(esiids[0], d)) for d in days]
    row["by_partition_s"], _ = timed(instance.get_status_by_partition, asset_key, one_home, partitions_def)
    if process_context is not None:
        partition_health(process_context, asset_key)  # the first request also loads the code location's snapshot
        row["ui"] = partition_health(process_context, asset_key)
    # Incremental: one more run's worth (50 homes x a few days) on top of a stored cache.
    recent = days[-FILE_DAYS:]
    write_events(instance, template, esiids[:50], recent, 5000)
    row["incr_events"] = min(50, len(esiids)) * len(recent)
    row["incr_s"], _ = timed(status_cache, instance, asset_key, partitions_def)
    return row


def stored_cache_id(instance, asset_key) -> str | None:
    record = next(iter(instance.get_asset_records(asset_keys=[asset_key])), None)
    cached = record.asset_entry.cached_status if record else None
    return cached.partitions_def_id if cached else None


def new_home(instance, assets, new_esiid: str, days: list[str], templates, read_status) -> dict:
    """A home appears: its ESIID is added and one run marks its days; then the first reader asks for the
    status (``read_status(asset_key)``). Returns the read time per asset and whether the stored cache's
    partitions definition id changed (the multi-partitions id hashes every ESIID, so the stored cache
    stops matching and is rebuilt from the whole log)."""
    instance.add_dynamic_partitions("esiid", [new_esiid])
    out = {}
    for key in assets:
        write_events(instance, templates[key], [new_esiid], days[-FILE_DAYS:], 5000)
        before = stored_cache_id(instance, key)
        seconds, result = timed(read_status, key)
        error = result.get("error") if isinstance(result, dict) else None
        out[key.to_user_string()] = {"s": seconds, "key_changed": before != stored_cache_id(instance, key),
                                     "error": error}
    return out


def scale_step(instance, defs, partitions_def, sizes: Sizes, count: int, previous: int, process_context,
               templates, inbox_files: int) -> StepStats:
    from intelliwatt_pipelines.defs.assets import DAILY_COMPLETENESS, USAGE_INTERVALS

    stats = StepStats(esiids=count, days=sizes.days)
    all_esiids = [esiid(i) for i in range(count)]
    add_partitions(instance, all_esiids[previous:], stats)
    log(f"  added {stats.added} ESIIDs: one call {stats.add_one_call:.3f} s, "
        f"{stats.add_calls} calls of 50 {stats.add_batched:.3f} s")
    stats.enumerate_s, keys = timed(partitions_def.get_partition_keys, dynamic_partitions_store=instance)
    stats.partitions = len(keys)
    del keys
    days = list(partitions_def.get_partitions_def_for_dimension("date").get_partition_keys())
    log(f"  {stats.partitions:,} partitions per asset, enumerated in {stats.enumerate_s:.2f} s")
    stats.tick = measure_ticks(f"{count} ESIIDs", defs, instance, sizes.ticks, inbox_files, 0).median
    # daily_completeness only for the ESIIDs up to both_assets_up_to (the time budget)
    ranges = {USAGE_INTERVALS: all_esiids[previous:],
              DAILY_COMPLETENESS: all_esiids[previous:min(count, sizes.both_assets_up_to)]}
    for key, esiids in ranges.items():
        if not esiids:
            continue
        seconds, written = timed(write_events, instance, templates[key], esiids, days, sizes.event_batch)
        stats.events.append((key.to_user_string(), written, seconds))
        log(f"  wrote {written:,} {key.to_user_string()} events in {seconds:.1f} s ({written / seconds:,.0f}/s)")
    for key in (USAGE_INTERVALS, DAILY_COMPLETENESS):
        row = measure_status(instance, key, partitions_def, process_context, days, all_esiids, templates[key])
        stats.status.append(row)
        log(f"  {row['asset']}: {row['materialized']:,} materialized; raw query {row['raw_s']:.2f} s, cache cold "
            f"{row['cold_s']:.2f} s, warm {row['warm_s']:.3f} s, after one run {row['incr_s']:.3f} s, "
            f"UI query {ui_cell(row.get('ui'))} s")
    return stats


def scale_partitions(instance, defs, sizes: Sizes, process_context, templates, inbox_files: int):
    from intelliwatt_pipelines.defs.assets import DAILY_COMPLETENESS, USAGE_INTERVALS

    partitions_def = defs.resolve_assets_def(USAGE_INTERVALS).partitions_def
    steps, previous = [], 0
    for count in sizes.esiid_steps:
        log(f"partition scale: {count} ESIIDs x {sizes.days} days")
        steps.append(scale_step(instance, defs, partitions_def, sizes, count, previous, process_context, templates,
                                inbox_files))
        previous = count
    # Two more homes after the largest step (they stay registered: measured last). The first is read
    # back by the status cache call, the second by the UI query (a user opening the asset page).
    days = list(partitions_def.get_partitions_def_for_dimension("date").get_partition_keys())
    assets = [USAGE_INTERVALS, DAILY_COMPLETENESS]
    rebuild = {"status cache": new_home(instance, assets, esiid(previous), days, templates,
                                        lambda key: status_cache(instance, key, partitions_def))}
    if process_context is not None:
        rebuild["UI PartitionHealthQuery"] = new_home(instance, assets, esiid(previous + 1), days, templates,
                                                      lambda key: partition_health(process_context, key))
    log(f"  new homes after {previous} ESIIDs: {rebuild}")
    return steps, rebuild


# --- the report --------------------------------------------------------------------------------

def ui_cell(ui: dict | None) -> str:
    if ui is None:
        return "n/a"
    return f"**failed after {fmt_s(ui['s'])}** ({ui['error']})" if ui.get("error") else fmt_s(ui["s"])


def sensor_table(ticks: list[TickStats]) -> str:
    return markdown_table(["scenario", "files listed", "already known", "cursor", "ticks", "median tick s",
                           "min / max s", "run requests", "requests x files"], [t.row() for t in ticks])


def run_table(runs: list[RunStats]) -> str:
    return markdown_table(["ingest run", "ESIIDs registered", "files", "wall s", "raw_files step s",
                           "asset check steps s", "slowest check step s", "before the first step s",
                           "after the last step s",
                           "materializations stored", "success"], [r.row() for r in runs])


def add_table(steps: list[StepStats]) -> str:
    rows = [[f"{s.esiids:,}", f"{s.added:,}", fmt_s(s.add_one_call), f"{s.add_calls} calls: {fmt_s(s.add_batched)}",
             f"{1000 * s.add_batched / max(1, s.add_calls):.1f}"] for s in steps]
    return markdown_table(["ESIIDs after", "added", "one call s", "calls of 50 s", "ms per call of 50"], rows)


def space_table(steps: list[StepStats]) -> str:
    rows = [[f"{s.esiids:,}", s.days, f"{s.partitions:,}", f"{s.partitions / GUIDANCE:.2f}x",
             fmt_s(s.enumerate_s), fmt_s(s.tick)] for s in steps]
    return markdown_table(["ESIIDs", "days", "partitions per asset", "of the 100k guidance", "enumerate keys s",
                           "sensor tick s (few files)"], rows)


def events_table(steps: list[StepStats]) -> str:
    rows = [[f"{s.esiids:,}", asset, f"{n:,}", fmt_s(sec), f"{n / sec:,.0f}"] for s in steps for asset, n, sec in s.events]
    return markdown_table(["ESIIDs after", "asset", "events written", "s", "events/s"], rows)


def status_table(steps: list[StepStats]) -> str:
    rows = []
    for s in steps:
        for r in s.status:
            ui = r.get("ui")
            rows.append([f"{s.esiids:,}", r["asset"], f"{r['materialized']:,}", f"{s.partitions:,}", fmt_s(r["raw_s"]),
                         fmt_s(r["cold_s"]), fmt_s(r["warm_s"]), fmt_s(r["by_partition_s"]),
                         f"+{r['incr_events']}: {fmt_s(r['incr_s'])}", f"{r['cache_kb']:,.0f}", ui_cell(ui),
                         f"{ui['bytes'] / 1024:,.0f}" if ui and "bytes" in ui else "n/a"])
    return markdown_table(["ESIIDs", "asset", "materialized", "of partitions", "get_materialized_partitions s",
                           "status cache cold s", "warm s", "get_status_by_partition (1 home) s",
                           "after one run s", "cache KiB", "UI PartitionHealthQuery s", "response KiB"], rows)


def new_home_table(rebuild: dict, after: int) -> str:
    rows = [[f"{after + i + 1:,}", reader, asset, fmt_s(r["s"]) + (f" **({r['error']})**" if r["error"] else ""),
             "yes" if r["key_changed"] else "no"]
            for i, (reader, by_asset) in enumerate(rebuild.items()) for asset, r in by_asset.items()]
    return markdown_table(["ESIIDs", "first reader", "asset", "s", "stored cache key changed"], rows)


def first_above(steps: list[StepStats], metric, limit: float):
    return next((s for s in steps if metric(s) > limit), None)


def sensor_meaning(ticks: dict[str, TickStats], steps: list[StepStats]) -> str:
    batch, known = ticks["batch"], ticks["known"]
    flat = max(s.tick for s in steps) < 3 * min(s.tick for s in steps) + 0.05
    return (f"The inbox sensor turned {batch.listed:,} new files into {batch.requests} run request(s) ({batch.shape} "
            f"files) in a median {fmt_s(batch.median)} s: a burst of files costs ceil(files/50) runs, not one per file. "
            f"With {known.listed:,} files listed, {known.known:,} of them already known, a tick took a median "
            f"{fmt_s(known.median)} s ({'under' if known.median < 10 else '**over**'} the 10 s target; the sensor "
            f"timeout is {SENSOR_TIMEOUT_S} s): the tick lists the folder and loads every known key from inbox_entry, "
            f"so its cost follows the inbox history. With a few files in the inbox the tick took "
            + ", ".join(f"{fmt_s(s.tick)} s at {s.esiids:,} ESIIDs" for s in steps)
            + (": it does not depend on the partition count (the sensor never reads partitions)." if flat
               else ": noisy, see the table."))


def status_meaning(steps: list[StepStats], rebuild: dict, ui_timeout: float) -> str:
    usage = {s.esiids: next(r for r in s.status if r["asset"] == "usage_intervals") for s in steps}
    text = ("Partition status of usage_intervals: " + "; ".join(
        f"{n:,} ESIIDs ({steps[i].partitions:,} partitions): raw query {fmt_s(r['raw_s'])} s, status cache cold "
        f"{fmt_s(r['cold_s'])} s, warm {fmt_s(r['warm_s'])} s, after one run {fmt_s(r['incr_s'])} s, UI query "
        f"{ui_cell(r.get('ui'))} s" for i, (n, r) in enumerate(usage.items())) + ".")
    big = usage[steps[-1].esiids]
    if big["materialized"]:
        text += (f" The stored cache is a plain list of partition keys: {big['cache_kb']:,.0f} KiB for "
                 f"{big['materialized']:,} materialized partitions (~{big['cache_kb'] * 1024 / big['materialized']:.0f} "
                 "bytes each), read back and rewritten whenever new events arrive.")
    changed = [r for by_asset in rebuild.values() for r in by_asset.values()]
    if changed:
        text += (f" After the last step, a new home {'changed' if all(r['key_changed'] for r in changed) else '**did not always change**'}"
                 " the stored cache key (the multi-partitions definition id hashes the whole ESIID list), so the "
                 "first reader paid a full rebuild: " + "; ".join(
                     f"{reader}: " + ", ".join(f"{a} {fmt_s(r['s'])} s" for a, r in by_asset.items())
                     for reader, by_asset in rebuild.items())
                 + ". Every new ESIID does this again"
                 + (f" (the webserver's {ui_timeout:.0f} s statement timeout applies to each SQL statement, not to "
                    "the request)." if ui_timeout else "."))
    return text


def meaning(sizes: Sizes, ticks: dict[str, TickStats], runs: list[RunStats], steps: list[StepStats],
            rebuild: dict, ui_timeout: float) -> str:
    big = steps[-1]
    rates = [n / sec for s in steps for _, n, sec in s.events]
    parts = [sensor_meaning(ticks, steps)]
    if runs:
        parts.append("One ingest run of a batch, in-process: " + "; ".join(
            f"{r.label}: {fmt_s(r.wall)} s wall, {fmt_s(r.step)} s in the raw_files step (files, warehouse, "
            f"{r.materializations} materializations), {fmt_s(r.checks)} s in the asset check steps, "
            f"{fmt_s(r.before)} s before the first step and {fmt_s(r.after)} s after the last"
            + ("" if r.success else " (**failed**)") for r in runs)
            + ". A daemon-launched run adds its launch on top (seconds, see the engineering notes).")
        if len(runs) > 1 and runs[-1].checks > 2 * runs[0].checks:
            parts.append(
                f"The asset check steps grew from {fmt_s(runs[0].checks)} s to {fmt_s(runs[-1].checks)} s for the same "
                "work. Found with cProfile while writing this benchmark (at 300 ESIIDs): a check on a partitioned "
                "asset, run in an unpartitioned run, looks up its target materialization through Dagster's input "
                "data-version lookup (`AssetCheckResult._get_unpartitioned_target_materialization_data` -> "
                "`data_version_cache._fetch_input_asset_version_info`), which builds every partition key of the "
                "asset (`MultiPartitionsDefinition.get_partition_keys`) only to find there are more than 100 of "
                "them. So every ingest run pays roughly the enumeration time above once per check on "
                "usage_intervals and daily_completeness.")
    crossing = math.ceil(GUIDANCE / sizes.days)
    parts.append(
        "Partitions per asset: " + ", ".join(f"{s.esiids:,} x {s.days} days = {s.partitions:,}" for s in steps)
        + f", against Dagster's <= {GUIDANCE:,} guidance (UI slowness reported above ~{UI_SLOW:,}); at {sizes.days} "
        f"days the guidance is crossed at {crossing:,} homes and every home adds 365 partitions a year. Enumerating all "
        f"keys took {fmt_s(big.enumerate_s)} s at {big.partitions:,}; adding 50 ESIIDs (one run batch) took "
        f"{1000 * big.add_batched / max(1, big.add_calls):.0f} ms. Writing events ran at "
        f"{min(rates):,.0f}-{max(rates):,.0f} events/s.")
    parts.append(status_meaning(steps, rebuild, ui_timeout))
    usage = {s.esiids: next(r for r in s.status if r["asset"] == "usage_intervals") for s in steps}
    verdict = []
    if slow := first_above(steps, lambda s: usage[s.esiids]["cold_s"], 5.0):
        verdict.append(f"the cold status rebuild passes 5 s at {slow.esiids:,} ESIIDs ({slow.partitions:,} partitions)")
    if ui_slow := first_above(steps, lambda s: (usage[s.esiids].get("ui") or {}).get("s", 0.0), 2.0):
        verdict.append(f"the UI query passes 2 s at {ui_slow.esiids:,} ESIIDs ({ui_slow.partitions:,} partitions)")
    if len(runs) > 1 and runs[-1].checks > 2 * runs[0].checks:
        verdict.append(f"every ingest run's check steps take {fmt_s(runs[-1].checks)} s at {big.esiids:,} ESIIDs "
                       f"instead of {fmt_s(runs[0].checks)} s")
    if failed := [s for s in steps if (usage[s.esiids].get("ui") or {}).get("error")]:
        verdict.append(f"the UI query fails at {failed[0].esiids:,} ESIIDs")
    parts.append("Where it degrades: " + ("; ".join(verdict) if verdict else
                                          "no status read passed 5 s (cold) or 2 s (UI) in these steps") + ".")
    return "\n\n".join(parts)


def report(args, sizes: Sizes, ticks: dict[str, TickStats], runs: list[RunStats], steps: list[StepStats],
           rebuild: dict, wall: float, ui_timeout: float, both_note: str) -> str:
    facts = machine_facts()
    command = " ".join([".venv/bin/python bench/dagster_scale.py"] + (["--tiny"] if args.tiny else [])
                       + ([f"--steps {','.join(map(str, sizes.esiid_steps))}"] if args.steps else [])
                       + (["--no-ui"] if args.no_ui else [])
                       + ([f"--output {args.output}"] if args.output.resolve() != BENCHMARKS_MD else []))
    return "\n\n".join([
        f"## Dagster overhead and ESIID x day partition scale{' (tiny)' if args.tiny else ''}",
        f"Reproduce: `{command}` (from the repository root, with the project's venv; PostgreSQL at "
        f"`{sa.engine.make_url(ADMIN_URL).render_as_string()}`). Whole run: {wall:.0f} s.",
        f"Code measured: {code_label(code_version())}.",
        f"Machine: {facts['nproc']} CPUs ({facts['cpu']}), {facts['ram_gib']} GiB RAM, Python {facts['python']}, "
        f"kernel {facts['kernel']}. Dagster instance from deploy/dagster.yaml on PostgreSQL and a PostgreSQL "
        "warehouse, both fresh databases on the same machine. Other CPU-heavy work may share the machine: "
        "figures are noisy.",
        "### Inbox sensor\n\nOne tick = `inbox_sensor.evaluate_tick` (listing, known keys from inbox_entry, run "
        f"requests); median of {sizes.ticks}. Fresh cursor: every tick starts from no cursor (a first tick, nothing "
        "claimed). Carried: each tick gets the previous tick's cursor (the steady state while the runs are pending: "
        "the new files are claimed, so no request, and the claims' run keys are looked up). Files are generated SMT "
        f"interval CSVs ({FILE_DAYS} days each) aged past the minimum age; the known files are one generated CSV "
        "under many names, recorded in inbox_entry (and raw_file) directly.\n\n" + sensor_table(list(ticks.values())),
        "### One ingest run (in-process)\n\nThe batching tick's first request on the empty instance and, when there "
        "is one, its second request at the largest partition scale, run with `execute_in_process` on the PostgreSQL "
        "instance (console logger at WARNING). The files' ESIIDs belong to the partition-scale set; the first run's "
        "ESIIDs are deleted again so the scale steps start from none.\n\n" + run_table(runs),
        "### Dynamic partitions: adding ESIIDs\n\n`instance.add_dynamic_partitions`: one call (into a scratch "
        "definition) and calls of 50 (into `esiid`, one per run batch).\n\n" + add_table(steps),
        "### Partition space\n\n`partitions_def.get_partition_keys(dynamic_partitions_store=instance)` of the "
        "project's MultiPartitionsDefinition (dynamic `esiid` x daily `date`, America/Chicago); sensor tick "
        "(fresh cursor) over an inbox of a few new files.\n\n" + space_table(steps),
        f"### Materialization events\n\nOne ASSET_MATERIALIZATION per (ESIID, day), cloned from a real event of "
        f"the ingest run, written with `event_log_storage.store_event_batch` in batches of {sizes.event_batch:,} "
        f"(one asset per batch). {both_note}\n\n" + events_table(steps),
        "### Partition status\n\n`instance.get_materialized_partitions` (the raw query); "
        "`get_and_update_asset_status_cache_value` (the asset status cache behind the UI and "
        "`get_status_by_partition`): cold = first call after the step's ESIIDs were added (rebuilt from the whole "
        "event log), warm = second call, after one run = after one more run's events (50 homes x 3 days) on top "
        "of the stored cache; `instance.get_status_by_partition` for one home's days (warm); the UI's own "
        "`PartitionHealthQuery` (asset partitions page) over GraphQL against the project's code location on an "
        "instance tuned like `dagster-webserver` (pooled, 15 s statement timeout), warm, server side only (the "
        "browser still has to render it). The daemon-side instance uses deploy/dagster.yaml as is (a new "
        "PostgreSQL connection per query, which is most of the ~0.1 s floor of the warm calls).\n\n"
        + status_table(steps),
        "New homes after the last step: each adds its ESIID and one run's events (3 days), then the first reader "
        "asks for the status.\n\n" + new_home_table(rebuild, steps[-1].esiids),
        "### What this means\n\n" + meaning(sizes, ticks, runs, steps, rebuild, ui_timeout),
    ])


# --- main --------------------------------------------------------------------------------------

def sensor_section(work: Path, settings, instance, engine, sizes: Sizes, ticks: dict, runs: list):
    from intelliwatt_pipelines.defs.definitions import build_defs

    today = chicago_today()
    file_days = [today - dt.timedelta(days=FILE_DAYS + 2 - i) for i in range(FILE_DAYS)]
    log(f"sensor: {sizes.new_files} new files")
    write_smt_files(work / "inbox_new", range(sizes.new_files), file_days)
    defs = build_defs(with_inbox(settings, work / "inbox_new"))
    ticks["batch"] = measure_ticks("new files", defs, instance, sizes.ticks, sizes.new_files, 0)
    ticks["batch_carried"] = measure_ticks("new files", defs, instance, sizes.ticks, sizes.new_files, 0,
                                           carried=True, cursor=ticks["batch"].last.cursor)
    requests = ticks["batch"].last.run_requests
    runs.append(run_ingest("empty instance", defs, instance, requests[0]))
    # Keep the scale set clean: the run registered its files' ESIIDs; the scale step adds them again.
    for key in instance.get_dynamic_partitions("esiid"):
        instance.delete_dynamic_partition("esiid", key)

    log(f"sensor: {sizes.known_files} known files + {sizes.known_new} new")
    write_known_files(work / "inbox_known", sizes.known_files, engine)
    write_smt_files(work / "inbox_known", range(sizes.known_new), file_days)
    defs = build_defs(with_inbox(settings, work / "inbox_known"))
    listed = sizes.known_files + sizes.known_new
    ticks["known"] = measure_ticks("known files", defs, instance, sizes.ticks, listed, sizes.known_files)
    ticks["known_carried"] = measure_ticks("known files", defs, instance, sizes.ticks, listed, sizes.known_files,
                                           carried=True, cursor=ticks["known"].last.cursor)
    return requests


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="small sizes, well under a minute")
    parser.add_argument("--output", type=Path, default=BENCHMARKS_MD, help="the markdown file to update")
    parser.add_argument("--keep", action="store_true", help="keep the databases and the work folder")
    parser.add_argument("--steps", help="cumulative ESIID counts instead of the default, e.g. 100,300")
    parser.add_argument("--no-ui", action="store_true", help="skip the GraphQL PartitionHealthQuery")
    args = parser.parse_args(argv)
    sizes = TINY if args.tiny else FULL
    if args.steps:
        sizes = dataclasses.replace(sizes, esiid_steps=tuple(int(n) for n in args.steps.split(",")))
    began = time.perf_counter()
    tag = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"
    work = Path(tempfile.mkdtemp(prefix="dagster_scale_"))
    try:
        with databases([f"{DB_PREFIX}_{tag}_wh", f"{DB_PREFIX}_{tag}_dg"], args.keep) as (wh_url, dg_url):
            body = run_all(args, sizes, work, wh_url, dg_url, began)
    finally:
        if args.keep:
            log(f"kept the work folder {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    write_section(SECTION, body, args.output)
    log(f"wrote section {SECTION} to {args.output} ({time.perf_counter() - began:.0f} s)")
    return 0


def start_ui(stack: ExitStack):
    """(process context, statement timeout s), or (None, 0) when the code location does not load."""
    try:
        log("starting the code location for GraphQL")
        ui_instance, timeout = webserver_instance(stack)
        return stack.enter_context(graphql_workspace(ui_instance)), timeout
    except Exception as exc:  # reported; the rest still runs
        log(f"GraphQL workspace unavailable: {type(exc).__name__}: {exc}")
        return None, 0.0


def both_assets_note(sizes: Sizes) -> str:
    if sizes.both_assets_up_to >= sizes.esiid_steps[-1]:
        return "Both assets get events for every ESIID."
    return (f"Both assets get events up to {sizes.both_assets_up_to:,} ESIIDs; beyond that only usage_intervals "
            f"(time budget: {sizes.esiid_steps[-1]:,} x {sizes.days} x 2 events take too long on this machine), so "
            f"daily_completeness stays at {sizes.both_assets_up_to:,} ESIIDs materialized while its partition space "
            "grows with the others.")


def run_all(args, sizes: Sizes, work: Path, wh_url: str, dg_url: str, began: float) -> str:
    from intelliwatt_pipelines.cdm.warehouse import create_engine, migrate
    from intelliwatt_pipelines.defs.assets import DAILY_COMPLETENESS, USAGE_INTERVALS
    from intelliwatt_pipelines.defs.definitions import build_defs

    settings = make_settings(work, wh_url, sizes.days)
    engine = create_engine(wh_url)
    migrate(engine)
    ticks, runs = {}, []
    with ExitStack() as stack:
        instance = stack.enter_context(postgres_instance(work / "dagster_home", dg_url))
        requests = sensor_section(work, settings, instance, engine, sizes, ticks, runs)
        templates = {key: event_template(instance, key) for key in (USAGE_INTERVALS, DAILY_COMPLETENESS)}
        write_smt_files(work / "inbox_few", range(3), [chicago_today() - dt.timedelta(days=3)])
        few_defs = build_defs(settings)  # INTELLIWATT_INBOX_DIR is the few-file inbox
        process_context, ui_timeout = (None, 0.0) if args.no_ui else start_ui(stack)
        steps, rebuild = scale_partitions(instance, few_defs, sizes, process_context, templates, 3)
        if sizes.run_at_scale and len(requests) > 1:
            log("ingest run at the largest partition scale")
            runs.append(run_ingest(f"{steps[-1].esiids:,} ESIIDs x {sizes.days} days", build_defs(
                with_inbox(settings, work / "inbox_new")), instance, requests[1]))
    engine.dispose()
    body = report(args, sizes, ticks, runs, steps, rebuild, time.perf_counter() - began, ui_timeout,
                  both_assets_note(sizes))
    if process_context is None:
        body += "\n\nThe UI query was not measured (--no-ui, or the code location did not load: see the output)."
    return body


if __name__ == "__main__":
    sys.exit(main())
