"""Real runs in the Dagster scale benchmark: an ingest run of the sensor's first request, and the
one-home rebuild (other homes' rows checked before and after)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import psycopg

from bench.dagster_bench import days_touched, fmt_s, log, one_event_per_day, run_facts, timed
from bench.scale_sensor import sensor_tick
from bench.scale_setup import INGEST_JOB, QUIET, REBUILD_HOMES_JOB, defs_for


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
