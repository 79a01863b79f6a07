"""Dagster-side helpers for the benchmarks: instances from the repository's two instance configs,
what a finished run did (step times, materializations per asset), and materialization history
written straight into the event log. Partition status and the UI's query are in dagster_status.

Bench code may use Dagster internals (``dagster._core``); the package itself does not.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from bench.common import ROOT

EMBEDDED_YAML = ROOT / "dagster.yaml"  # embedded defaults: SQLite storage under DAGSTER_HOME
DEPLOY_YAML = ROOT / "deploy" / "dagster.yaml"  # production: PostgreSQL via DAGSTER_POSTGRES_URL
PARTITIONED = ("usage_intervals", "daily_completeness", "billing_reads", "billing_reconciliation")
ASSET_STEPS = {"raw_files", "usage_from_raw", "billing_from_raw", "rebuilt_homes"}  # the rest are check steps


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def fmt_s(seconds: float) -> str:
    return f"{seconds:.3f}" if seconds < 1 else f"{seconds:.2f}" if seconds < 100 else f"{seconds:.0f}"


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


# --- instances ---------------------------------------------------------------------------------

def dagster_home(home: Path, yaml: Path, postgres_url: str | None = None) -> dict[str, str]:
    """A DAGSTER_HOME holding ``yaml``; the environment a process needs to open that instance."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(yaml, home / "dagster.yaml")
    return {"DAGSTER_HOME": str(home), **({"DAGSTER_POSTGRES_URL": postgres_url} if postgres_url else {})}


@contextmanager
def open_instance(env: dict[str, str]):
    """The instance that environment names, opened in this process (os.environ is set to it, so code
    servers started from here see the same one)."""
    import dagster as dg

    os.environ.update(env)
    with dg.DagsterInstance.get() as instance:
        yield instance


# --- what a run did ----------------------------------------------------------------------------

@dataclass
class RunFacts:
    run_id: str
    success: bool
    wall: float  # run start to end, from the run record
    steps: dict[str, float]  # step key -> seconds
    materializations: Counter  # asset key string -> ASSET_MATERIALIZATION events in the run
    partitions: Counter  # asset key string -> distinct partitions among them
    events_seconds: float  # first to last partitioned materialization: the step logs them back to back

    @property
    def check_seconds(self) -> float:
        """The asset check steps (every step but the asset's own)."""
        return sum(s for key, s in self.steps.items() if key not in ASSET_STEPS)

    @property
    def slowest_check(self) -> tuple[str, float]:
        checks = {k: s for k, s in self.steps.items() if k not in ASSET_STEPS}
        return max(checks.items(), key=lambda kv: kv[1], default=("-", 0.0))


def run_facts(instance, run_id: str) -> RunFacts:
    """Read back from the instance: the run's status and times, its steps, and its materialization
    events per asset, counted in the event log (what the UI and the status cache see)."""
    from dagster import DagsterEventType, DagsterRunStatus

    record = instance.get_run_record_by_id(run_id)
    run_stats = instance.get_run_stats(run_id)
    steps = {s.step_key: s.end_time - s.start_time for s in instance.get_run_step_stats(run_id)
             if s.start_time and s.end_time}
    events, partitions, stamps = Counter(), {}, []
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION):
        mat = entry.asset_materialization
        key = mat.asset_key.to_user_string()
        events[key] += 1
        partitions.setdefault(key, set()).add(mat.partition)
        if mat.partition:
            stamps.append(entry.timestamp)
    wall = (run_stats.end_time or 0) - (run_stats.start_time or 0)
    return RunFacts(run_id, record.dagster_run.status == DagsterRunStatus.SUCCESS, wall, steps, events,
                    Counter({k: len(v - {None}) for k, v in partitions.items()}),
                    max(stamps) - min(stamps) if stamps else 0.0)


DAYS_TOUCHED = """
SELECT count(DISTINCT d) FROM raw_file f JOIN {coverage} c ON c.raw_file_id = f.id,
       generate_series(c.first_local_date, c.last_local_date, interval '1 day') AS d
WHERE f.run_id = %s
"""


def days_touched(warehouse_url: str, run_id: str) -> dict[str, int]:
    """Central days a run wrote, per asset, from the warehouse (raw_file.run_id and the coverage tables);
    billing reconciliation has no coverage table of its own and is left out."""
    with psycopg.connect(warehouse_url) as conn:
        usage, reads = (conn.execute(DAYS_TOUCHED.format(coverage=table), (run_id,)).fetchone()[0]
                        for table in ("raw_file_coverage", "billing_read_coverage"))
    return {"usage_intervals": usage, "daily_completeness": usage, "billing_reads": reads}


def one_event_per_day(materializations, partitions, days) -> bool:
    """Exactly one materialization per asset per Central day the run touched (``days`` per asset)."""
    return (all(materializations.get(a, 0) == n for a, n in days.items())
            and all(partitions.get(a, 0) == n for a, n in materializations.items() if a in PARTITIONED))


def job_runs(instance, job_name: str) -> list[str]:
    """Run ids of a job, oldest first."""
    import dagster as dg

    return [r.run_id for r in reversed(instance.get_runs(filters=dg.RunsFilter(job_name=job_name)))]


# --- history straight into the event log -------------------------------------------------------

class EventHistory:
    """ASSET_MATERIALIZATION events as ingest runs would have stored them, written with one COPY per
    batch into a PostgreSQL instance's ``event_logs``.

    ``store_event_batch`` serializes every event (~0.5 ms each: a million events took minutes);
    here one real event per asset is serialized once, and each copy gets its own partition, run id and
    timestamp by string replacement. After the COPY one more event per asset goes through
    ``store_event_batch`` (``store_run``) so the asset's record (last materialization, the status
    cache's cursor) is what Dagster itself would have left.
    """

    COLUMNS = ("run_id", "event", "dagster_event_type", "timestamp", "step_key", "asset_key", "partition")
    _PARTITION, _RUN, _TS = "@@partition@@", "@@run-id@@", 987654321.125

    def __init__(self, instance, postgres_url: str, templates: dict):
        self.instance, self.url = instance, postgres_url
        self.templates = templates  # AssetKey -> EventLogEntry (a real materialization to clone)
        self._texts = {key: self._text(entry) for key, entry in templates.items()}

    def _text(self, entry) -> str:
        placeholder = clone_event(entry, self._PARTITION, self._RUN, self._TS)
        from dagster._serdes import serialize_value

        return serialize_value(placeholder)

    def write(self, runs) -> int:
        """``runs``: (run id, timestamp, [partition keys]) per run; one event per asset per key."""
        import datetime as dt

        from dagster import DagsterEventType

        written = 0
        with psycopg.connect(self.url) as conn, conn.cursor() as cur:
            with cur.copy(f"COPY event_logs ({', '.join(self.COLUMNS)}) FROM STDIN") as copy:
                for run_id, ts, keys in runs:
                    when = dt.datetime.fromtimestamp(ts, dt.timezone.utc).replace(tzinfo=None)
                    stamped = {k: t.replace(self._RUN, run_id).replace(repr(self._TS), repr(ts))
                               for k, t in self._texts.items()}
                    for asset_key, text in stamped.items():
                        step, asset = self.templates[asset_key].step_key, asset_key.to_string()
                        for key in keys:
                            copy.write_row((run_id, text.replace(self._PARTITION, key),
                                            DagsterEventType.ASSET_MATERIALIZATION.value, when, step, asset, key))
                            written += 1
        return written

    def store_run(self, keys: list[str]) -> None:
        """One run's events the way Dagster stores them (``store_event_batch``, one batch per asset): after
        a COPY this brings each asset's record past the copied events."""
        run_id = str(uuid.uuid4())
        for entry in self.templates.values():
            self.instance.event_log_storage.store_event_batch(
                [clone_event(entry, key, run_id, time.time()) for key in keys])


def clone_event(entry, partition: str, run_id: str, timestamp: float):
    """``entry`` (a materialization event) for another partition, run and time."""
    import dagster as dg
    from dagster._core.events import StepMaterializationData

    old = entry.dagster_event.event_specific_data.materialization
    mat = dg.AssetMaterialization(asset_key=old.asset_key, partition=partition, metadata=old.metadata, tags=old.tags)
    event = entry.dagster_event._replace(event_specific_data=StepMaterializationData(mat))
    return entry._replace(run_id=run_id, timestamp=timestamp, dagster_event=event)


def latest_materialization(instance, asset_key):
    records = instance.fetch_materializations(asset_key, limit=1).records
    return records[0].event_log_entry if records else None
