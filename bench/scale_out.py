"""Ingest throughput of the distributed deployment with 1, 2 and 4 Celery workers, beside the
single-process user path and PostgreSQL's binary COPY ceiling of the same rows, in one run.

- Celery: ``deploy/celery/start`` (workers, daemon, webserver) on this machine's RabbitMQ and Redis,
  PostgreSQL for Dagster and the warehouse. Timed from the files landing in the inbox (one rename) to
  the last of the inbox sensor's runs finished, every file normalized: sensor ticks (every 15 s), the
  run queue, Celery and the runs themselves included, as a user's delivery lives it.
- single process: ``intelliwatt ingest`` on deploy/dagster.yaml (PostgreSQL), the same files and batch.
- ceiling: the stored rows exported once and binary-COPYed into an empty table with the same key.
The files: bench/generate.py (``--homes`` homes x ``--months`` months of 2025, with week revisions).

    .venv/bin/python bench/scale_out.py                       # 96 homes x 6 months, ~10 minutes
    .venv/bin/python bench/scale_out.py --homes 8 --months 1 --workers 1 2 --output /tmp/S.md   # smoke
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    BENCHMARKS_MD,
    code_label,
    code_version,
    drop_db,
    fresh_db,
    machine_facts,
    markdown_table,
    write_section,
)
from bench.dagster_bench import DEPLOY_YAML, log
from bench.generate import generate
from bench.ingest_loaders import DB_PREFIX, ceiling, count_rows, export_rows, fresh_warehouse, through_cli
from intelliwatt_pipelines_tests.celery_deployment import CeleryDeployment, all_finished, runs

BATCH = 8  # files per run: enough runs for 4 workers


def staged(files: list[Path], work: Path) -> Path:
    """The files in a folder beside the inbox: renamed into it at once, so no tick sees half."""
    stage = work / "stage"
    stage.mkdir(parents=True)
    for path in files:
        shutil.copy(path, stage / path.name)
    return stage


def celery_env(work: Path, warehouse: str) -> dict:
    return {"INTELLIWATT_HOME": str(work), "INTELLIWATT_WAREHOUSE_URL": warehouse,
            "INTELLIWATT_RAW_STORE_URL": str(work / "raw"), "INTELLIWATT_INBOX_DIR": str(work / "inbox"),
            "INTELLIWATT_INBOX_MIN_AGE_SECONDS": "0", "INTELLIWATT_INBOX_BATCH_FILES": str(BATCH),
            "INTELLIWATT_PARTITION_START": "2024-01-01", "INTELLIWATT_MAX_CONCURRENT_RUNS": "8"}


def ready(deployment: CeleryDeployment, workers: int) -> bool:
    logs = list(deployment.logs.glob("worker*.log")) if deployment.logs.is_dir() else []
    up = sum("ready." in p.read_text(errors="replace") for p in logs)
    return up == workers and deployment.graphql("{ version }")["version"] is not None


def with_workers(workers: int, files: list[Path], work: Path) -> dict:
    """One deployment of ``workers`` workers, fresh databases; the files land once it is up."""
    work.mkdir(parents=True)
    stage = staged(files, work)
    wh, dg = f"{DB_PREFIX}_celery{workers}_wh", f"{DB_PREFIX}_celery{workers}_dg"
    url, dagster_db = fresh_warehouse(wh), fresh_db(dg)
    (work / "inbox").mkdir()
    deployment = CeleryDeployment(work, dagster_db, celery_env(work, url), workers=workers)
    try:
        deployment.wait_for(lambda: ready(deployment, workers), 180, f"{workers} workers and the webserver")
        start = time.perf_counter()
        stage.rename(work / "inbox" / "delivery")  # the inbox is listed recursively
        want = -(-len(files) // BATCH)
        found = deployment.wait_for(lambda: all_finished(runs(deployment), want), 3600, "every run")
        seconds = time.perf_counter() - start
        rows = count_rows(url)
        ok = sum(r["status"] == "SUCCESS" for r in found)
        used = len(set(deployment.workers_by_task().values()))
        log(f"{workers} worker(s): {rows:,} rows in {seconds:.1f} s, {ok}/{len(found)} runs ok, {used} workers used")
        return {"workers": workers, "seconds": seconds, "rows": rows, "runs": len(found), "runs_ok": ok,
                "workers_used": used, "url": url, "wh": wh}
    finally:
        deployment.stop()
        drop_db(dg)


def measure(args) -> dict:
    work = Path(tempfile.mkdtemp(prefix="iw-scale-out-"))
    data = generate(work / "files", args.homes, args.months)
    files = data.files + data.revisions
    results = {"machine": machine_facts(), "code": code_version(), "homes": args.homes, "months": args.months,
               "files": len(files), "batch": BATCH, "celery": []}
    try:
        for n in args.workers:
            results["celery"].append(with_workers(n, files, work / f"celery{n}"))
        first = results["celery"][0]
        dump = work / "rows.copy"
        export_rows(first["url"], dump)
        results["ceiling_seconds"] = ceiling(first["url"], dump)
        inbox = work / "single_inbox"
        shutil.copytree(staged(files, work / "single"), inbox)
        single = through_cli("deploy/dagster.yaml (PostgreSQL)", work / "single", inbox, DEPLOY_YAML, True, BATCH)
        results["single"] = {k: single[k] for k in ("seconds", "rows", "exit")}
    finally:
        for run in results["celery"]:
            drop_db(run.pop("wh"))
            run.pop("url")
        shutil.rmtree(work, ignore_errors=True)
    return results


def report(r: dict) -> str:
    rows = r["celery"][0]["rows"]
    ceiling_rps = rows / r["ceiling_seconds"]
    table = [["ceiling: binary COPY, empty table + primary key", "-", f"{rows:,}", f"{r['ceiling_seconds']:.1f}",
              f"{ceiling_rps:,.0f}", "1.00", ""],
             ["`intelliwatt ingest`, one process, deploy/dagster.yaml", "-", f"{r['single']['rows']:,}",
              f"{r['single']['seconds']:.1f}", f"{r['single']['rows'] / r['single']['seconds']:,.0f}",
              f"{r['single']['rows'] / r['single']['seconds'] / ceiling_rps:.2f}", ""]]
    base = r["celery"][0]["rows"] / r["celery"][0]["seconds"]
    for c in r["celery"]:
        rps = c["rows"] / c["seconds"]
        table.append([f"deploy/celery: inbox sensor -> run queue -> {c['workers']} Celery worker(s)",
                      f"{c['runs_ok']}/{c['runs']} ({c['workers_used']} workers took runs)", f"{c['rows']:,}",
                      f"{c['seconds']:.1f}", f"{rps:,.0f}", f"{rps / ceiling_rps:.2f}", f"{rps / base:.2f}"])
    m = r["machine"]
    return "\n".join([
        "## Scale-out: ingest with 1, 2 and 4 Celery workers (`bench/scale_out.py`)", "",
        "Reproduce: `.venv/bin/python bench/scale_out.py`", "",
        f"- Code measured: {code_label(r['code'])}.",
        f"- Machine: {m['nproc']} CPUs ({m['cpu']}), {m['ram_gib']} GiB RAM, Python {m['python']}; PostgreSQL, "
        "RabbitMQ (broker) and Redis (results) on the same machine: workers, daemon, webserver, code servers and "
        "PostgreSQL all share these cores.",
        f"- Data: `bench/generate.py`, {r['homes']} homes x {r['months']} months of 2025 plus week revisions: "
        f"{r['files']} files, {BATCH} per run.",
        "- Celery rows: timed from the files landing in the inbox to the last run finished (sensor ticks every "
        "15 s, queueing and run start-up included); each worker takes one run at a time (solo pool).", "",
        markdown_table(["path", "runs ok", "rows stored", "seconds", "rows/s", "x ceiling", "x 1 worker"], table), "",
        f"Per run, one worker: {r['celery'][0]['seconds'] / r['celery'][0]['runs']:.1f} s for {BATCH} files of "
        f"{r['months']} months ({rows / r['celery'][0]['runs']:,.0f} rows): at this batch size a run's fixed cost "
        "(start-up in the worker, one materialization event per asset per day touched, the checks reading back "
        "what it wrote) outweighs its rows, on one process as on Celery; `bench/ingest.py` runs 50 year-long "
        "files per run. The deployment adds what the sensor tick and the queue take over the one-process CLI.", "",
        "What 2 cores allow: one run already keeps about one core busy between Python (parse, normalize) "
        "and PostgreSQL (merge, completeness); a second worker can use the second core, a fourth only queues "
        "behind them. More workers pay off where they bring their own cores (hosts or pods): the run is the unit "
        "that spreads, and the warehouse's per-home locks keep overlapping deliveries correct.",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--homes", type=int, default=96)
    parser.add_argument("--months", type=int, default=6)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--output", type=Path, default=BENCHMARKS_MD)
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "scale_out.json")
    parser.add_argument("--report-only", action="store_true", help="rewrite the section from --json, measure nothing")
    args = parser.parse_args()
    if args.report_only:
        results = json.loads(args.json.read_text())
    else:
        results = measure(args)
        args.json.write_text(json.dumps(results, indent=2, default=str))
    write_section("scale_out", report(results), args.output)
    print(report(results))


if __name__ == "__main__":
    main()
