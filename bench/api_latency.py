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
import calendar
import datetime as dt
import json
import os
import random
import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx
import orjson
import psycopg
from common import (
    ROOT,
    ApiServer,
    CpuSample,
    code_label,
    code_version,
    cpu_split,
    latency_summary,
    machine_facts,
    markdown_table,
    proc_status_kib,
    write_section,
)
from psycopg import sql

SLOTS_PER_ESIID = 35040  # 365 days x 96 quarter hours
FIRST_SLOT = "2025-01-01 06:00:00+00"  # 2025-01-01 00:00 America/Chicago
ESIID_BASE = 10443720000000000  # + 1..n: 17-digit ESIIDs
YEAR = 2025
API_KEY = "bench-key"
TARGET_P99_MS = 20.0
MIN_ROWS = 2500
ROUTE = "/api/v1/esiids/{esiid}/intervals"

# One statement per chunk of ESIIDs: the intervals, and their local days aggregated from RETURNING.
FILL_CHUNK = """
WITH ins AS (
    INSERT INTO usage_interval (esiid, meter, channel, ts_utc, interval_minutes, kwh, quality, revised_at,
                                source, raw_file_id)
    SELECT (%(base)s::bigint + e)::text, 'M1', 'consumption', t, 15,
           round((random() * 1.6)::numeric, 3)::float8,
           CASE WHEN random() < 0.01 THEN 'estimated' ELSE 'actual' END,
           date_trunc('day', t) + interval '31 hours', 'smt', %(raw_file_id)s
    FROM generate_series(%(lo)s::int, %(hi)s::int) AS e
    CROSS JOIN LATERAL (
        SELECT %(first)s::timestamptz + s * interval '15 minutes' + 0 * e * interval '1 second' AS t
        FROM generate_series(0, %(slots)s::int - 1) AS s) AS slot
    RETURNING esiid, meter, channel, ts_utc, kwh, quality
)
INSERT INTO daily_completeness (esiid, meter, channel, local_date, interval_minutes, expected_intervals,
                                actual_intervals, estimated_intervals, filled_intervals, kwh_real, kwh_filled,
                                completeness, status)
SELECT esiid, meter, channel, day, 15, expected, count(*), count(*) FILTER (WHERE quality = 'estimated'), 0,
       round(sum(kwh)::numeric, 3)::float8, 0, count(*)::float8 / expected,
       CASE WHEN count(*) = expected THEN 'complete' ELSE 'gaps' END
FROM (SELECT *, (ts_utc AT TIME ZONE 'America/Chicago')::date AS day FROM ins) AS r
CROSS JOIN LATERAL (
    SELECT (extract(epoch FROM ((day + 1)::timestamp AT TIME ZONE 'America/Chicago')
                              - (day::timestamp AT TIME ZONE 'America/Chicago')) / 900)::int AS expected) AS x
GROUP BY esiid, meter, channel, day, expected
"""


# --- the database ------------------------------------------------------------------------------

def db_url(admin_url: str, db: str) -> str:
    return admin_url.rsplit("/", 1)[0] + "/" + db


def database_exists(admin_url: str, db: str) -> bool:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,)).fetchone() is not None


def row_counts(url: str) -> dict[str, int] | None:
    """Exact row counts of the two tables, or None when the schema is not there."""
    try:
        with psycopg.connect(url) as conn:
            return {table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                    for table in ("usage_interval", "daily_completeness")}
    except psycopg.errors.UndefinedTable:
        return None


def recreate_database(admin_url: str, db: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db)))


def migrate_schema(url: str) -> None:
    from intelliwatt_pipelines.cdm.warehouse import create_engine, migrate

    engine = create_engine(url)
    migrate(engine)
    engine.dispose()


def key_constraints(conn: psycopg.Connection, table: str) -> list[tuple[str, str]]:
    """(name, definition) of the table's primary and foreign keys."""
    return conn.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype IN ('p', 'f') ORDER BY contype DESC", (table,)).fetchall()


def fill(url: str, esiids: int, chunk: int = 43) -> dict:
    """Fill usage_interval and daily_completeness server-side. Returns timings in seconds."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute("SET work_mem = '256MB'")
        conn.execute("SET synchronous_commit = off")
        raw_file_id = conn.execute(
            "INSERT INTO raw_file (sha256, filename, source, kind, size_bytes, storage_uri, received_at, status) "
            "VALUES (repeat('0', 64), 'bench-synthetic.csv', 'cli', 'smt_interval', 0, 'bench://synthetic', now(), "
            "'normalized') RETURNING id").fetchone()[0]
        keys = key_constraints(conn, "usage_interval")
        for name, _ in keys:
            conn.execute(sql.SQL("ALTER TABLE usage_interval DROP CONSTRAINT {}").format(sql.Identifier(name)))
        conn.commit()

        t = time.perf_counter()
        for lo in range(1, esiids + 1, chunk):
            hi = min(lo + chunk - 1, esiids)
            conn.execute(FILL_CHUNK, {"base": ESIID_BASE, "lo": lo, "hi": hi, "raw_file_id": raw_file_id,
                                      "first": FIRST_SLOT, "slots": SLOTS_PER_ESIID})
            conn.commit()
            elapsed = time.perf_counter() - t
            rows = hi * SLOTS_PER_ESIID
            print(f"  ESIIDs {hi:>5}/{esiids}: {rows:>12,} rows, {elapsed:7.1f} s ({rows / elapsed:,.0f} rows/s)",
                  flush=True)
        timings["insert_s"] = time.perf_counter() - t

        t = time.perf_counter()
        for name, definition in keys:  # primary key first (ORDER BY contype DESC puts 'p' before 'f')
            conn.execute(sql.SQL("ALTER TABLE usage_interval ADD CONSTRAINT {} " + definition)
                         .format(sql.Identifier(name)))
            conn.commit()
            print(f"  rebuilt {name} ({definition}): {time.perf_counter() - t:.1f} s", flush=True)
        timings["keys_s"] = time.perf_counter() - t

    t = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) usage_interval")
        conn.execute("VACUUM (ANALYZE) daily_completeness")
        conn.execute("VACUUM (ANALYZE) raw_file")
    timings["vacuum_analyze_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - started
    print(f"  VACUUM (ANALYZE): {timings['vacuum_analyze_s']:.1f} s", flush=True)
    return {k: round(v, 1) for k, v in timings.items()}


COVERAGE = """
INSERT INTO raw_file_coverage (raw_file_id, esiid, meter, channel, first_local_date, last_local_date, intervals)
SELECT (SELECT min(id) FROM raw_file), (%(base)s::bigint + e)::text, 'M1', 'consumption', date '2025-01-01',
       date '2025-12-31', %(slots)s
FROM generate_series(1, %(esiids)s::int) AS e
ON CONFLICT DO NOTHING
"""


def ensure_coverage(url: str, esiids: int) -> None:
    """raw_file_coverage: one row per ESIID (its one series, the whole year), as ingest records it.
    Idempotent, so a database filled before the API read it is brought up to date in a moment."""
    with psycopg.connect(url, autocommit=True) as conn:
        added = conn.execute(COVERAGE, {"base": ESIID_BASE, "esiids": esiids, "slots": SLOTS_PER_ESIID}).rowcount
        if added:
            conn.execute("ANALYZE raw_file_coverage")
            print(f"  raw_file_coverage: {added} rows added", flush=True)


def dataset_facts(url: str) -> dict:
    with psycopg.connect(url) as conn:
        def one(query: str):
            return conn.execute(query).fetchone()[0]

        return {
            "postgres": one("SHOW server_version"),
            "shared_buffers": one("SHOW shared_buffers"),
            "usage_interval_table": one("SELECT pg_size_pretty(pg_relation_size('usage_interval'))"),
            "usage_interval_pkey": one("SELECT pg_size_pretty(pg_relation_size('usage_interval_pkey'))"),
        }


def prepare_database(args) -> dict:
    """Reuse the bench database when complete, else (or with --fresh) refill it."""
    url = db_url(args.admin_url, args.db)
    expected = {"usage_interval": args.esiids * SLOTS_PER_ESIID, "daily_completeness": args.esiids * 365}
    counts = row_counts(url) if not args.fresh and database_exists(args.admin_url, args.db) else None
    if counts == expected:
        print(f"reusing database {args.db}: {counts['usage_interval']:,} intervals")
        ensure_coverage(url, args.esiids)
        return {"db": args.db, "reused": True, "fill": previous_fill(args.out, args.db, counts), **counts}
    print(f"filling database {args.db}: {args.esiids} ESIIDs x {SLOTS_PER_ESIID} intervals"
          + (f" (found {counts})" if counts else ""), flush=True)
    started = time.perf_counter()
    recreate_database(args.admin_url, args.db)
    migrate_schema(url)
    timings = fill(url, args.esiids)
    ensure_coverage(url, args.esiids)
    timings["total_s"] = round(time.perf_counter() - started, 1)  # including create + migrate
    counts = row_counts(url)
    if counts != expected:
        raise RuntimeError(f"fill produced {counts}, expected {expected}")
    print(f"filled in {timings['total_s']:.1f} s: {counts['usage_interval']:,} intervals, "
          f"{counts['daily_completeness']:,} days", flush=True)
    return {"db": args.db, "reused": False, "fill": timings, **counts}


def previous_fill(out: Path, db: str, counts: dict) -> dict | None:
    """The fill timings an earlier run recorded for this same database, if any."""
    try:
        earlier = json.loads(out.read_text())["dataset"]
    except (OSError, KeyError, ValueError):
        return None
    same = earlier.get("db") == db and earlier.get("usage_interval") == counts["usage_interval"]
    return earlier.get("fill") if same else None


# --- the load ----------------------------------------------------------------------------------

def month_queries(n: int, esiids: int, seed: int) -> list[tuple[str, dict]]:
    """n (path, params) pairs: a random ESIID and a random month of the year."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        month = rng.randint(1, 12)
        last = calendar.monthrange(YEAR, month)[1]
        esiid = str(ESIID_BASE + rng.randint(1, esiids))
        out.append((f"/api/v1/esiids/{esiid}/intervals",
                    {"start": f"{YEAR}-{month:02d}-01", "end": f"{YEAR}-{month:02d}-{last:02d}"}))
    return out


def worker(base_url: str, jobs: list, results: list, start: threading.Barrier) -> None:
    """One keep-alive connection; times each request to the last byte, checks it afterwards."""
    with httpx.Client(base_url=base_url, headers={"x-api-key": API_KEY}, timeout=60) as client:
        client.get("/api/v1/health")  # open the connection before the clock starts
        start.wait()
        for path, params in jobs:
            t0 = time.perf_counter()
            response = client.get(path, params=params)
            body = response.content
            elapsed_ms = (time.perf_counter() - t0) * 1000
            count, complete = None, False
            if response.status_code == 200:
                payload = orjson.loads(body)
                count, complete = payload["count"], payload["next_cursor"] is None
            results.append({"ms": elapsed_ms, "status": response.status_code, "count": count,
                            "complete": complete, "bytes": len(body)})


def run_load(base_url: str, jobs: list, concurrency: int) -> tuple[list[dict], float]:
    """Split the jobs over ``concurrency`` threads; returns the per-request results and the wall time."""
    results: list[dict] = []
    barrier = threading.Barrier(concurrency + 1)
    threads = [threading.Thread(target=worker, args=(base_url, jobs[i::concurrency], results, barrier))
               for i in range(concurrency)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return results, time.perf_counter() - started


def server_side_ms(log_path: Path, offset: int) -> tuple[list[float], int]:
    """The in-app ``ms`` the API logged for interval requests after ``offset`` in its log."""
    with open(log_path, "rb") as fh:
        fh.seek(offset)
        data = fh.read()
    out = []
    for line in data.splitlines():
        if line.startswith(b"{") and b'"event": "request"' in line:
            record = json.loads(line)
            if record.get("route") == ROUTE:
                out.append(record["ms"])
    return out, offset + len(data)


def measure(server: ApiServer, jobs: list, concurrency: int, log_offset: int) -> tuple[dict, int]:
    load_before = os.getloadavg()[0]
    before = CpuSample.take(server.proc.pid)
    results, wall = run_load(server.base_url, jobs, concurrency)
    after = CpuSample.take(server.proc.pid)
    in_app, log_offset = server_side_ms(server.log_path, log_offset)
    ok = [r for r in results if r["status"] == 200 and r["count"] and r["count"] > MIN_ROWS and r["complete"]]
    counts = [r["count"] for r in ok]
    phase = {
        "concurrency": concurrency, "requests": len(results), "ok": len(ok),
        "errors": len(results) - len(ok), "statuses": sorted({r["status"] for r in results}),
        "wall_s": round(wall, 2), "req_per_s": round(len(results) / wall, 1),
        **{k: round(v, 2) for k, v in latency_summary([r["ms"] for r in results]).items()},
        "rows_per_response": {"min": min(counts, default=0), "mean": round(sum(counts) / max(len(counts), 1), 1),
                              "max": max(counts, default=0)},
        "bytes_per_response_mean": round(sum(r["bytes"] for r in results) / len(results)),
        "in_app_ms": {k: round(v, 2) for k, v in latency_summary(in_app).items()} if in_app else None,
        "cpu_pct_of_one_core": cpu_split(before, after),
        "loadavg_1m_before": round(load_before, 2),
    }
    return phase, log_offset


WRK_SCRIPT = """
math.randomseed(%(seed)d)
local days = {31,28,31,30,31,30,31,31,30,31,30,31}
request = function()
  local m = math.random(1, 12)
  -- ESIIDs exceed 2^53: Lua numbers cannot add to them exactly, so build the digits as text.
  local e = "%(prefix)s" .. string.format("%%0%(width)dd", math.random(1, %(esiids)d))
  local path = string.format("/api/v1/esiids/%%s/intervals?start=%(year)d-%%02d-01&end=%(year)d-%%02d-%%02d", e, m, m, days[m])
  return wrk.format("GET", path, {["x-api-key"] = "%(key)s"})
end
"""


def wrk_phase(base_url: str, esiids: int, connections: int, seconds: int, seed: int) -> dict | None:
    """The same random one-month queries from wrk, a C load generator: the client's own cost (a
    Python client spends a few ms per 200 KiB response here) stays out of the latency."""
    wrk = shutil.which("wrk")
    if not wrk:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        prefix = str(ESIID_BASE)[:7]  # 1044372, then 10 digits of the ESIID number
        fh.write(WRK_SCRIPT % {"seed": seed, "prefix": prefix, "width": len(str(ESIID_BASE)) - len(prefix),
                               "esiids": esiids, "year": YEAR, "key": API_KEY})
    try:
        out = subprocess.run([wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", fh.name, base_url],
                             capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    finally:
        os.unlink(fh.name)
    pct = {m.group(1): _wrk_ms(m.group(2)) for m in re.finditer(r"^\s+(50|75|90|99)%\s+(\S+)$", out, re.M)}
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"connections": connections, "seconds": seconds,
            "requests": int(re.search(r"(\d+) requests in", out).group(1)),
            "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
            "req_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            **{f"p{k}_ms": v for k, v in pct.items()}}


def _wrk_ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return round(float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit], 2)


def benchmark(args, url: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="intelliwatt-bench-api-") as tmp:
        env = {"INTELLIWATT_WAREHOUSE_URL": url, "INTELLIWATT_RAW_STORE_URL": f"{tmp}/raw",
               "INTELLIWATT_API_KEYS": API_KEY, "INTELLIWATT_HOME": tmp}
        log_path = Path(tmp) / "api.log"
        with ApiServer(env, log_path, source=args.source) as server:
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


def command_line(args) -> str:
    """The command to reproduce this run (the options that change what is measured)."""
    return ".venv/bin/python bench/api_latency.py" + ("" if args.source == ROOT else f" --source {args.source}")


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
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "api_latency.json")
    parser.add_argument("--source", type=lambda p: Path(p).resolve(), default=ROOT,
                        help="run the API from this source tree, e.g. `git archive HEAD | tar -x -C DIR`")
    parser.add_argument("--no-markdown", action="store_true", help="do not touch BENCHMARKS.md")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    code = code_version(args.source)  # before the run: what the API subprocess imports
    dataset = prepare_database(args)
    url = db_url(args.admin_url, args.db)
    dataset.update(esiids=args.esiids, **dataset_facts(url))
    run = benchmark(args, url)
    result = {"command": command_line(args), "args": {k: str(v) for k, v in vars(args).items()},
              "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "code": code,
              "machine": machine_facts(),
              "dataset": dataset, **run}
    result["verdict"] = verdict(run["phases"], run.get("wrk"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    section = markdown_section(result)
    print("\n" + section)
    if not args.no_markdown:
        write_section("api_latency", section)
    print(f"results: {args.out}")


if __name__ == "__main__":
    main()
