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
import os
import shutil
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench.* and the package, from any cwd

from bench.common import BENCHMARKS_MD, scratch_dbs, write_section
from bench.dagster_bench import DEPLOY_YAML, EventHistory, dagster_home, latest_materialization, log, open_instance
from bench.dagster_status import ui_workspace
from bench.scale_report import report
from bench.scale_runs import ingest_run, rebuild_one_home
from bench.scale_sensor import sensor_section
from bench.scale_setup import FULL, TINY, Sizes, esiid, recent_days, settings_env, write_smt_files
from bench.scale_status import new_home, partition_space, scale_step

SECTION = "dagster_scale"
DB_PREFIX = "intelliwatt_bench_dagster"


def measure(args, sizes: Sizes, work: Path, wh_url: str, dg_url: str, began: float) -> str:
    from intelliwatt_pipelines.cdm.warehouse import create_engine, migrate
    from intelliwatt_pipelines.defs.keys import DAILY_COMPLETENESS, USAGE_INTERVALS

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
