"""ERCOT premises at Texas scale: loading a 5-million-row full extract as users do, beside binary COPY, and
the address search endpoint's latency over the loaded table.

What it measures
    1. Generate a CenterPoint full extract ZIP (``intelliwatt_pipelines.ercot_samples``, 22 columns,
       ``--rows`` premises) into a temporary ERCOT folder.
    2. The user's path: a real Dagster run of ``ercot_extract_job`` (raw ZIP into the raw store, streamed
       parse, COPY into staging, upsert into ``service_point``) in a fresh process, on each Dagster
       instance kind of ``--instances``: ``embedded`` (top-level dagster.yaml, SQLite under a temporary
       DAGSTER_HOME) and ``deploy`` (deploy/dagster.yaml, PostgreSQL, a fresh database). The warehouse is a
       fresh PostgreSQL database per instance kind. Recorded: wall time (process start included), rows/s,
       and the run process's peak RSS (VmHWM).
    3. The physical ceiling in the same script run: the loaded rows, exported, binary-COPYed into an empty
       copy of ``service_point`` with the same indexes (primary key, zip5, tdsp, trigram GIN, prefix).
    4. Search: ``python -m intelliwatt_pipelines.cli api`` on a free loopback port over the last loaded
       warehouse; ``--queries`` misspelled addresses (from premises sampled across the table; half with their
       ZIP) through ``GET /api/v1/service-points/search``, one at a time over keep-alive, after
       ``--warmup`` others. Target: p99 <= 50 ms.

Run (from the project root; PostgreSQL on 127.0.0.1:5432)::

    .venv/bin/python bench/service_points.py                      # ~15-25 minutes on 2 cores
    .venv/bin/python bench/service_points.py --rows 100000        # a quick look
    .venv/bin/python bench/service_points.py --search-only DB     # search latency over an existing warehouse

Writes ``--out`` (JSON) and prints a table; ``--markdown`` also replaces its BENCHMARKS.md section.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench.* and the package, from any cwd

from bench.api_bench import add_record_options, record_run  # noqa: E402
from bench.common import database_url, drop_db, fresh_db, markdown_table  # noqa: E402
from bench.dagster_bench import DEPLOY_YAML, EMBEDDED_YAML, dagster_home, log  # noqa: E402
from bench.service_points_load import ceiling, generate_zip, run_job, service_point_count  # noqa: E402
from bench.service_points_search import measure_search  # noqa: E402

TARGET_P99_MS = 50.0
WAREHOUSE_DB, DAGSTER_DB = "intelliwatt_bench_sp", "intelliwatt_bench_sp_dagster"


def load_once(kind: str, zip_path: Path, tmp: Path) -> dict:
    """One Dagster run over the ERCOT folder on instance ``kind`` into a fresh warehouse database."""
    from intelliwatt_pipelines.cdm.warehouse import create_engine, migrate

    url = fresh_db(WAREHOUSE_DB)
    engine = create_engine(url)
    migrate(engine)
    engine.dispose()
    home = tmp / f"home-{kind}"
    yaml, pg = (EMBEDDED_YAML, None) if kind == "embedded" else (DEPLOY_YAML, fresh_db(DAGSTER_DB))
    env = {**dagster_home(home / "dagster", yaml, pg), "INTELLIWATT_WAREHOUSE_URL": url,
           "INTELLIWATT_RAW_STORE_URL": str(home / "raw"), "INTELLIWATT_HOME": str(home),
           "INTELLIWATT_ERCOT_INBOX_DIR": str(zip_path.parent)}
    log(f"{kind}: {zip_path.name} through ercot_extract_job")
    run = run_job(env)
    rows = service_point_count(url)
    run.update(instance=kind, rows=rows, rows_per_s=round(rows / run["wall_s"]))
    log(f"{kind}: {rows:,} rows in {run['wall_s']} s ({run['rows_per_s']:,} rows/s), peak RSS "
        f"{run['peak_rss_mib']} MiB, success {run['success']}")
    if pg:
        drop_db(DAGSTER_DB)
    return run


def measured(args) -> dict:
    if args.search_only:
        url = database_url(args.search_only)
        return {"rows": service_point_count(url), "loads": [], "ceiling": None, "generate_s": None,
                "search": measure_search(url, args.queries, args.warmup)}
    with tempfile.TemporaryDirectory(prefix="intelliwatt-bench-sp-") as name:
        tmp = Path(name)
        zip_path, generate_s = generate_zip(tmp / "ercot", args.rows)
        log(f"generated {args.rows:,} rows in {generate_s:.0f} s ({zip_path.stat().st_size / 2**20:.0f} MiB)")
        loads = [load_once(kind, zip_path, tmp) for kind in args.instances]
        url = database_url(WAREHOUSE_DB)
        limit = ceiling(url)
        log(f"ceiling: {limit['rows']:,} rows in {limit['seconds']} s ({limit['rows_per_s']:,} rows/s)")
        search = measure_search(url, args.queries, args.warmup)
        log(f"search p50 {search['all']['p50_ms']:.1f} p99 {search['all']['p99_ms']:.1f} ms")
    return {"rows": args.rows, "zip_mib": round(zip_path.stat().st_size / 2**20, 1) if zip_path.exists() else None,
            "generate_s": round(generate_s, 1), "loads": loads, "ceiling": limit, "search": search}


def verdict(run: dict) -> dict:
    p99 = run["search"]["all"]["p99_ms"]
    return {"target": f"search p99 <= {TARGET_P99_MS:g} ms over {run['rows']:,} premises", "p99_ms": round(p99, 2),
            "met": p99 <= TARGET_P99_MS and run["search"]["errors"] == 0}


def render(result: dict) -> str:
    s, v = result["search"], result["verdict"]
    limit = result["ceiling"]
    rows = [[f"Dagster run of ercot_extract_job, {r['instance']} instance", f"{r['rows']:,}", r["wall_s"],
             f"{r['rows_per_s']:,}", f"{r['rows_per_s'] / limit['rows_per_s']:.2f}" if limit else "-",
             r["peak_rss_mib"]] for r in result["loads"]]
    if limit:
        rows.append(["ceiling: binary COPY into an empty copy (same indexes)", f"{limit['rows']:,}",
                     limit["seconds"], f"{limit['rows_per_s']:,}", "1.00", "-"])
    load = markdown_table(["load", "rows", "seconds", "rows/s", "x ceiling", "peak RSS MiB"], rows)
    search = markdown_table(["queries", "count", "p50 ms", "p90 ms", "p99 ms", "max ms"], [
        [name, s[key]["n"], *(f"{s[key][p]:.1f}" for p in ("p50_ms", "p90_ms", "p99_ms", "max_ms"))]
        for name, key in (("all", "all"), ("with zip", "with_zip"), ("without zip", "without_zip"))])
    return f"""## ERCOT service points: load 5M premises, address search latency

Reproduce: `{result['command']}`

{load}

Search over {result['rows']:,} premises (`GET /api/v1/service-points/search`, misspelled, one at a time, keep-alive;
{s['warmup']} warm-up queries first; errors {s['errors']}; the premise ranked first in {s['premise_first_pct']}%,
among the results in {s['premise_in_results_pct']}%; API peak RSS {s['api_peak_rss_mib']} MiB):

{search}

Target: {v['target']}: {'**met**' if v['met'] else '**not met**'} (p99 = {v['p99_ms']} ms).
"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--instances", default="embedded", type=lambda s: s.split(","),
                        help="comma-separated: embedded, deploy")
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--search-only", metavar="DB", help="only the search, over this existing database")
    add_record_options(parser, "service_points")
    parser.add_argument("--markdown", action="store_true", help="replace the section in BENCHMARKS.md")
    args = parser.parse_args()
    args.no_markdown = not args.markdown
    return args


def main() -> None:
    record_run("service_points", parse_args(), measured, verdict, render)


if __name__ == "__main__":
    main()
