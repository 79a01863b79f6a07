"""Plan analysis as users run it: ``plan_analysis_job`` through ``dagster job execute`` on both instance kinds
(embedded: SQLite storage; deploy: PostgreSQL storage), into a PostgreSQL warehouse, beside the physical
ceilings measured in the same run.

What it measures, per instance kind
    Setup (not a figure): ``--homes`` generated home-years (bench/generate.py) through ``intelliwatt ingest``,
    their premises through the ERCOT extract path (Oncor, every fifth CenterPoint), ``--plans`` curated plans
    (fixed, tiers, TOU windows, credits; the same utility split) in INTELLIWATT_PLANS_DIR, the tariffs job.
    (1) The first ``plan_analysis_job`` run: every home's buckets and every (home, plan) estimate written;
        wall time, the three steps' times, homes/s and estimates/s.
    (2) The same job again with nothing changed: what a no-op costs (nothing may be written).
    Ceilings, same run, same warehouse: reading every home's real readings with one binary COPY, and the
    pure computation (local time, buckets, the engine for every home × plan) in memory, no database.
    Output: one JSON line (``plan_analysis {...}``), a table, and with ``--benchmarks-md`` its section.

Run (from the project root)::

    .venv/bin/python bench/plan_analysis.py                  # 200 homes x 50 plans, several minutes
    .venv/bin/python bench/plan_analysis.py --homes 4 --plans 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, drop_db, fresh_db, markdown_table, write_section  # noqa: E402
from bench.dagster_bench import DEPLOY_YAML, EMBEDDED_YAML, dagster_home, job_runs, log, open_instance, run_facts  # noqa: E402
from bench.generate import generate  # noqa: E402
from bench.ingest_loaders import cli_env, fresh_warehouse, psycopg_conn, run_cli  # noqa: E402

DB_PREFIX = "intelliwatt_bench_plans"
AS_OF = "2026-01-15"
MIN_COMPLETE = "0.9"  # generated homes miss a few intervals on some days (bench/generate.py)
READINGS_COPY = ("COPY (SELECT esiid, ts_utc, interval_minutes, kwh FROM usage_interval WHERE channel = 'consumption' "
                 "AND quality IN ('actual', 'estimated')) TO STDOUT (FORMAT BINARY)")
STEPS = ("rate_plans", "monthly_usage_buckets", "plan_estimates")


def curated_plan(i: int) -> dict:
    """Plan ``i``: fixed, tiered, a night/day TOU window pair or fixed with a credit."""
    rng = random.Random(i)
    tdsp = "centerpoint" if i % 5 == 4 else "oncor"  # as the homes: every fifth is CenterPoint's
    plan = {"key": f"bench:{tdsp}:{i:04d}", "supplierName": f"Bench Energy {i % 7}", "planName": f"Bench {i}",
            "termMonths": 12, "tdspSlug": tdsp, "rateType": "fixed",
            "baseMonthlyFeeCents": rng.choice([0, 495, 995])}
    kind = i % 4
    if kind == 0:
        plan["centsPerKwhJson"] = [{"minKwh": 0, "maxKwh": None, "centsPerKwh": round(rng.uniform(8, 16), 3)}]
    elif kind == 1:
        plan["centsPerKwhJson"] = [{"minKwh": 0, "maxKwh": 1000, "centsPerKwh": round(rng.uniform(8, 12), 3)},
                                   {"minKwh": 1000, "maxKwh": None, "centsPerKwh": round(rng.uniform(12, 18), 3)}]
    elif kind == 2:
        start, end = rng.choice([(21, 6), (20, 7), (22, 6), (0, 6)])
        plan["touWindowsJson"] = [{"label": "night", "startHour": start, "endHour": end, "centsPerKwh": 5.0},
                                  {"label": "day", "startHour": end, "endHour": start, "centsPerKwh": 17.5}]
    else:
        plan["centsPerKwhJson"] = [{"minKwh": 0, "maxKwh": None, "centsPerKwh": round(rng.uniform(12, 20), 3)}]
        plan["billCreditsJson"] = [{"thresholdKwh": 1000, "creditCents": 10000}]
    return plan


def write_premises(url: str, raw: Path, folder: Path, homes: int) -> None:
    """The homes' premises through the ERCOT extract path (one full file per utility), so each home's plans
    are its utility's (setup, not measured)."""
    from bench.generate import esiid_for
    from intelliwatt_pipelines.cdm.warehouse import create_engine
    from intelliwatt_pipelines.ercot_samples import constructed_name, extract_row, write_extract_zip
    from intelliwatt_pipelines.ingest import ercot
    from intelliwatt_pipelines.rawstore import LocalRawStore

    folder.mkdir(parents=True, exist_ok=True)
    by_tdsp: dict[str, list] = {}
    for i in range(homes):
        esiid = esiid_for(i)
        tdsp = "CENTERPOINT" if len(esiid) == 22 else "ONCOR"
        row = extract_row(i, random.Random(i), tdsp)
        by_tdsp.setdefault(tdsp, []).append([esiid, *row[1:9], "Active", *row[10:]])
    for tdsp, rows in by_tdsp.items():
        token = {"ONCOR": "ONCOR_ELEC"}.get(tdsp, tdsp)
        write_extract_zip(folder / constructed_name(token, "FUL", dt.datetime(2026, 1, 2, 6)), rows,
                          member_name=f"{token}_FUL_1.csv")
    engine, store, now = create_engine(url), LocalRawStore(raw), dt.datetime.now(dt.timezone.utc)
    ercot.take_local(engine, store, folder, now=now)
    ercot.apply_pending(engine, store, now=now)
    engine.dispose()


def write_plans(folder: Path, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (folder / f"bench-{i:04d}.json").write_text(json.dumps(curated_plan(i)))


def dagster_job(env: dict, job: str, config: dict | None, log_path: Path) -> float:
    """``dagster job execute`` as a user types it: seconds; a failed run stops the benchmark."""
    exe = Path(sys.executable).with_name("dagster")
    args = [str(exe), "job", "execute", "-m", "intelliwatt_pipelines.defs", "-j", job]
    if config:
        path = log_path.with_suffix(".yaml")
        path.write_text(json.dumps(config))
        args += ["-c", str(path)]
    with open(log_path, "ab") as out:
        start = time.perf_counter()
        code = subprocess.run(args, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT).returncode
    if code:
        raise SystemExit(f"{job} failed (exit {code}); see {log_path}")
    return time.perf_counter() - start


def warehouse_counts(url: str) -> dict:
    with psycopg_conn(url) as conn:
        one = lambda q: conn.execute(q).fetchone()[0]  # noqa: E731
        statuses = dict(conn.execute("SELECT status, count(*) FROM plan_estimate GROUP BY status").fetchall())
        return {"intervals": one("SELECT count(*) FROM usage_interval"), "buckets": one("SELECT count(*) FROM usage_bucket"),
                "estimates": one("SELECT count(*) FROM plan_estimate"), "by_status": statuses,
                "plans": one("SELECT count(*) FROM rate_plan WHERE valid_to IS NULL AND plan_calc_status = 'COMPUTABLE'")}


def copy_ceiling(url: str) -> dict:
    """Seconds to read every real consumption reading with one binary COPY (the read floor of the buckets)."""
    with psycopg_conn(url) as conn, conn.cursor() as cursor:
        start, size = time.perf_counter(), 0
        with cursor.copy(READINGS_COPY) as copy:
            for block in copy:
                size += len(block)
        return {"seconds": round(time.perf_counter() - start, 3), "bytes": size}


def compute_ceiling(url: str, as_of: str) -> dict:
    """The analysis with no database in the loop: readings already in memory → local time → buckets → the
    engine for every home × its utility's plans (the floor of steps 2 and 3 together)."""
    from intelliwatt_pipelines.cdm import plan_estimates, rate_plans, usage_buckets
    from intelliwatt_pipelines.cdm.warehouse import create_engine
    from intelliwatt_pipelines.ingest.plan_estimates import _Plans
    from intelliwatt_pipelines.pricing.buckets import boundaries, monthly_buckets
    from intelliwatt_pipelines.pricing.engine import EngineInputs, price_plan
    from intelliwatt_pipelines.pricing.keys import CORE_MONTHLY_BUCKETS
    from intelliwatt_pipelines.pricing.localtime import local_readings, step_for

    engine = create_engine(url)
    with engine.connect() as conn:
        homes = plan_estimates.homes_with_intervals(conn)
        keys = sorted(set(CORE_MONTHLY_BUCKETS) | set(rate_plans.required_keys(conn)))
        readings = {h: usage_buckets.real_readings(conn, h) for h in homes}
        utility = {h: plan_estimates.home_tdsp(conn, h) for h in homes}
        plans = _Plans(conn, dt.date.fromisoformat(as_of))
    step = step_for(boundaries(keys))
    start = time.perf_counter()
    priced = 0
    for home in homes:
        months = monthly_buckets(local_readings(*readings[home], step_minutes=step), keys)
        usage = dict(sorted(months.items())[-12:])
        for plan in plans.for_home(utility[home]):
            if plan.row.plan_calc_status == "COMPUTABLE":
                price_plan(EngineInputs(plan.structure, usage, plans.tdsps.get(utility[home]), 12))
                priced += 1
    engine.dispose()
    return {"seconds": round(time.perf_counter() - start, 3), "homes": len(homes), "estimates": priced}


def one_kind(tag: str, yaml: Path, work: Path, inbox: Path, plans: Path) -> dict:
    wh, dgdb = f"{DB_PREFIX}_{tag}_wh", f"{DB_PREFIX}_{tag}_dg"
    url = fresh_warehouse(wh)
    try:
        instance_env = dagster_home(work / tag / "dagster_home", yaml, fresh_db(dgdb) if tag == "deploy" else None)
        env = {**cli_env(work / tag, url, inbox, instance_env, 1000), "INTELLIWATT_PLANS_DIR": str(plans),
               "INTELLIWATT_PLAN_MONTH_MIN_COMPLETE": MIN_COMPLETE}
        seconds, code = run_cli(env, inbox, work / f"{tag}-ingest.log")
        log(f"{tag}: setup ingest {seconds:.1f} s, exit {code}")
        write_premises(url, work / tag / "raw", work / tag / "ercot", len(list(inbox.glob("*.csv"))))
        dagster_job(env, "tdsp_tariffs_job", None, work / f"{tag}-jobs.log")
        config = {"ops": {"plan_estimates": {"config": {"as_of": AS_OF}}}}
        first = dagster_job(env, "plan_analysis_job", config, work / f"{tag}-jobs.log")
        after_first = warehouse_counts(url)
        again = dagster_job(env, "plan_analysis_job", config, work / f"{tag}-jobs.log")
        after_again = warehouse_counts(url)
        with open_instance(instance_env) as instance:
            facts = [run_facts(instance, r) for r in job_runs(instance, "plan_analysis_job")]
        log(f"{tag}: first run {first:.1f} s, again {again:.1f} s")
        return {"kind": tag, "first_seconds": round(first, 2), "again_seconds": round(again, 2),
                "first_run_wall": round(facts[0].wall, 2), "again_run_wall": round(facts[1].wall, 2),
                "steps": {s: round(facts[0].steps.get(s, 0.0), 2) for s in STEPS},
                "again_steps": {s: round(facts[1].steps.get(s, 0.0), 2) for s in STEPS},
                "counts": after_first, "again_wrote_nothing": after_again == after_first,
                "copy_ceiling": copy_ceiling(url), "compute_ceiling": compute_ceiling(url, AS_OF)}
    finally:
        drop_db(wh)
        drop_db(dgdb)


def table(results: list[dict], homes: int) -> str:
    rows = []
    for r in results:
        c, steps = r["counts"], r["steps"]
        rows.append([r["kind"], f"{r['first_run_wall']} s", f"{steps['monthly_usage_buckets']} s",
                     f"{steps['plan_estimates']} s", f"{homes / max(r['first_run_wall'], 1e-9):.1f}",
                     f"{c['estimates'] / max(steps['plan_estimates'], 1e-9):.0f}", f"{r['again_run_wall']} s",
                     "yes" if r["again_wrote_nothing"] else "NO", f"{r['copy_ceiling']['seconds']} s",
                     f"{r['compute_ceiling']['seconds']} s"])
    return markdown_table(["instance", "run (wall)", "buckets step", "estimates step", "homes/s", "estimates/s",
                           "unchanged re-run", "re-run wrote nothing", "ceiling: COPY readings",
                           "ceiling: compute in memory"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--homes", type=int, default=200)
    parser.add_argument("--plans", type=int, default=50)
    parser.add_argument("--benchmarks-md", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="plan-bench-") as tmp:
        work = Path(tmp)
        generate(work / "inbox", args.homes, 12, revisions=False)
        write_plans(work / "plans", args.plans)
        results = [one_kind(tag, yaml, work, work / "inbox", work / "plans")
                   for tag, yaml in (("embedded", EMBEDDED_YAML), ("deploy", DEPLOY_YAML))]
    figures = {"homes": args.homes, "plans": args.plans, "results": results}
    print("plan_analysis " + json.dumps(figures, default=str), flush=True)
    body = table(results, args.homes)
    c = results[0]["counts"]
    body += (f"\n\n{args.homes} home-years ({c['intervals']:,} intervals), {c['plans']} computable plans "
             f"(+ the packaged ones), {c['estimates']:,} estimates by status {c['by_status']}.")
    print(body)
    if args.benchmarks_md:
        write_section("plan_analysis", "## Plan analysis through Dagster (`bench/plan_analysis.py`)\n\n" + body,
                      args.benchmarks_md)


if __name__ == "__main__":
    main()
