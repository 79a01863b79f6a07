"""API read latency: one month of one ESIID's intervals, out of a warehouse of 30M+ intervals.

What it measures
    ``GET /api/v1/esiids/{esiid}/intervals?start=2025-MM-01&end=2025-MM-<last day>`` (JSON, one page of
    ~2,700-3,000 rows) for a random ESIID and a random month of 2025, against PostgreSQL holding
    ``--esiids`` ESIIDs x one year of 15-minute intervals (860 -> 30.1M rows). Latency is taken in the
    client, from sending the request to the last byte of the body, over keep-alive connections (one
    httpx.Client per worker thread), at each ``--concurrency``. Also reported: requests/s, rows per
    response, the in-app time the API logs per request, and the CPU the API process and PostgreSQL used.

How it works
    1. Fill (server-side): create the database, migrate, insert one raw_file row, then per chunk of
       ESIIDs one ``INSERT ... SELECT FROM generate_series`` into usage_interval whose RETURNING rows
       are aggregated into daily_completeness in the same statement (so both tables agree). The
       primary and foreign keys of usage_interval are dropped for the load and rebuilt after it; then
       VACUUM (ANALYZE), and one raw_file_coverage row per ESIID (the API lists series from it). A
       database that already holds the expected row counts is reused (``--fresh`` refills it).
    2. Start ``python -m intelliwatt_pipelines.cli api`` on a free loopback port, wait for
       /api/v1/health, warm up, measure, stop it.
    3. Write ``--out`` (JSON), print a markdown table, and replace the ``api_latency`` section of
       BENCHMARKS.md.

Run (from the project root)::

    .venv/bin/python bench/api_latency.py            # reuses the database when it is complete
    .venv/bin/python bench/api_latency.py --fresh    # drop and refill (several minutes on 2 cores)
    .venv/bin/python bench/api_latency.py --source DIR   # the API from another tree, e.g. a commit:
                                                         # git archive HEAD intelliwatt_pipelines | tar -x -C DIR

The database is left in place so later runs skip the fill.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench.* and the package, from any cwd

from bench.api_bench import add_record_options, api_env, record_run
from bench.api_clients import measure, month_queries, wrk_phase
from bench.api_dataset import dataset_facts, db_url, prepare_database
from bench.common import ApiServer, code_label, markdown_table, proc_status_kib

TARGET_P99_MS = 20.0


def benchmark(args, url: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="intelliwatt-bench-api-") as tmp:
        with ApiServer(api_env(url, tmp), Path(tmp) / "api.log", source=args.source) as server:
            print(f"API up at {server.base_url} (pid {server.proc.pid})", flush=True)
            warm, offset = measure(server, month_queries(args.warmup, args.esiids, seed=1), 1, 0)
            print(f"warm-up: {warm['requests']} requests, p50 {warm['p50_ms']} ms, errors {warm['errors']}", flush=True)
            phases = []
            for i, concurrency in enumerate(args.concurrency):
                jobs = month_queries(args.requests, args.esiids, seed=100 + i)
                phase, offset = measure(server, jobs, concurrency, offset)
                phases.append(phase)
                print(f"concurrency {concurrency}: p50 {phase['p50_ms']} p90 {phase['p90_ms']} p99 {phase['p99_ms']} "
                      f"max {phase['max_ms']} ms, {phase['req_per_s']} req/s, errors {phase['errors']}", flush=True)
            wrk = [w for c in args.concurrency
                   if (w := wrk_phase(server.base_url, args.esiids, c, args.wrk_seconds, seed=200 + c))]
            for w in wrk:
                print(f"wrk, {w['connections']} connection(s): p50 {w['p50_ms']} p90 {w['p90_ms']} p99 {w['p99_ms']} ms, "
                      f"{w['req_per_s']} req/s, non-2xx {w['non_2xx']}", flush=True)
            rss_kib = proc_status_kib(server.proc.pid, "VmHWM")
    return {"warmup": warm, "phases": phases, "wrk": wrk, "api_peak_rss_mib": round(rss_kib / 1024, 1)}


# --- the report --------------------------------------------------------------------------------

def results_table(phases: list[dict]) -> str:
    rows = [[p["concurrency"], p["requests"], p["errors"], p["p50_ms"], p["p90_ms"], p["p99_ms"], p["max_ms"],
             p["req_per_s"], f"{p['rows_per_response']['min']}-{p['rows_per_response']['max']}",
             f"{p['in_app_ms']['p50_ms']} / {p['in_app_ms']['p99_ms']}" if p["in_app_ms"] else "-",
             "{api:.0f}% / {postgres:.0f}% / {client:.0f}% / {other:.0f}%".format(**p["cpu_pct_of_one_core"])]
            for p in phases]
    return markdown_table(["concurrency", "requests", "errors", "p50 ms", "p90 ms", "p99 ms", "max ms", "req/s",
                           "rows/response", "in-app p50 / p99 ms", "CPU API / PG / client / other"], rows)


def wrk_table(runs: list[dict]) -> str:
    rows = [[w["connections"], w["requests"], w["non_2xx"], w.get("p50_ms"), w.get("p75_ms"), w.get("p90_ms"),
             w.get("p99_ms"), w["req_per_s"]] for w in runs]
    return markdown_table(["connections", "requests", "non-2xx", "p50 ms", "p75 ms", "p90 ms", "p99 ms", "req/s"], rows)


def verdict(phases: list[dict], wrk: list[dict] | None = None) -> dict:
    """Judged on wrk's latency when it ran (the server's latency, not the Python client's), else httpx's."""
    w1 = next((w for w in wrk or [] if w["connections"] == 1), None)
    if w1 is not None:
        return {"target": f"p99 <= {TARGET_P99_MS:g} ms at concurrency 1 (wrk)", "p99_ms": w1["p99_ms"],
                "met": w1["p99_ms"] <= TARGET_P99_MS and w1["non_2xx"] == 0}
    c1 = next((p for p in phases if p["concurrency"] == 1), None)
    if c1 is None:
        return {"target": f"p99 <= {TARGET_P99_MS:g} ms at concurrency 1", "p99_ms": None, "met": None}
    return {"target": f"p99 <= {TARGET_P99_MS:g} ms at concurrency 1", "p99_ms": c1["p99_ms"],
            "met": c1["p99_ms"] <= TARGET_P99_MS and c1["errors"] == 0}


def busy_note(phases: list[dict], threshold: float = 25.0) -> str:
    """A warning line when other processes used the CPUs during a measured phase."""
    busy = [f"{p['cpu_pct_of_one_core']['other']:.0f}% at concurrency {p['concurrency']}" for p in phases
            if p["cpu_pct_of_one_core"]["other"] > threshold]
    if not busy:
        return ""
    return (f"Note: the machine was not idle: other processes used {', '.join(busy)} (% of one core), so these\n"
            "latencies are higher than on an idle machine.\n\n")


def markdown_section(result: dict) -> str:
    m, d, v = result["machine"], result["dataset"], result["verdict"]
    fill = d.get("fill")
    fill_text = (f"filled in {fill['total_s']:.0f} s (insert {fill['insert_s']:.0f} s, keys {fill['keys_s']:.0f} s, "
                 f"VACUUM ANALYZE {fill['vacuum_analyze_s']:.0f} s)" if fill else "fill time not recorded")
    met = "**met**" if v["met"] else "**not met**"
    return f"""## API latency: one month of one ESIID's intervals

Reproduce: `{result['command']}` (add `--fresh` to drop and refill the database)

- Code measured: {code_label(result['code'])}.
- Machine: {m['nproc']} CPUs ({m['cpu']}), {m['ram_gib']} GiB RAM, PostgreSQL {d['postgres']} (shared_buffers
  {d['shared_buffers']}), Python {m['python']}, Linux {m['kernel']}. Client, API (one uvicorn worker) and
  PostgreSQL share the machine.
- Dataset: database `{d['db']}`, **{d['usage_interval']:,} rows in usage_interval** ({d['esiids']} ESIIDs x 35,040
  15-minute intervals of 2025; table {d['usage_interval_table']}, primary key {d['usage_interval_pkey']}),
  {d['daily_completeness']:,} rows in daily_completeness; {fill_text}{' (earlier run)' if d['reused'] else ''}.
- Request: `GET /api/v1/esiids/{{random ESIID}}/intervals?start=2025-MM-01&end=2025-MM-<last>` for a random
  month, JSON, default page size (one page; ~{result['phases'][0]['bytes_per_response_mean'] // 1024} KiB).
  Keep-alive, one httpx client per worker thread; latency is measured in the client from sending the request
  to the last body byte. {result['warmup']['requests']} warm-up requests first (data in the OS page cache).
  "in-app" is the time the API's own request log gives. CPU is in % of one core over the phase, for the
  API process, all PostgreSQL processes, this client, and everything else on the machine.

{results_table(result['phases'])}

The same random one-month queries from `wrk` (C; one thread; {result['wrk'][0]['seconds'] if result.get('wrk') else '-'} s per row), which keeps the
client's own cost out of the latency:

{wrk_table(result.get('wrk') or [])}

{busy_note(result['phases'])}Target: p99 <= {TARGET_P99_MS:g} ms at concurrency 1 for a one-month query over 30M+ intervals: {met}
(p99 = {v['p99_ms']} ms).
"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--db", default="intelliwatt_bench_api")
    parser.add_argument("--esiids", type=int, default=860, help="ESIIDs x 35,040 intervals (860 -> 30.1M rows)")
    parser.add_argument("--fresh", action="store_true", help="drop and refill the database")
    parser.add_argument("--requests", type=int, default=2000, help="measured requests per concurrency")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--wrk-seconds", type=int, default=30, help="duration of each wrk run (skipped without wrk)")
    parser.add_argument("--concurrency", default="1,4", type=lambda s: [int(x) for x in s.split(",")])
    add_record_options(parser, "api_latency")
    return parser.parse_args()


def measured(args) -> dict:
    """The database (filled or reused) and the measured phases."""
    dataset = prepare_database(args)
    url = db_url(args.admin_url, args.db)
    dataset.update(esiids=args.esiids, **dataset_facts(url))
    return {"dataset": dataset, **benchmark(args, url)}


def main() -> None:
    record_run("api_latency", parse_args(), measured, lambda run: verdict(run["phases"], run.get("wrk")),
               markdown_section)


if __name__ == "__main__":
    main()
