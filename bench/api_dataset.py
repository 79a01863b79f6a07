"""The API benchmarks' warehouse: ``--esiids`` ESIIDs x one year of 15-minute intervals, filled
server-side in PostgreSQL (see api_latency.py, "How it works"), and reused while it is complete."""

from __future__ import annotations

import json
import time
from pathlib import Path

import psycopg
from psycopg import sql

SLOTS_PER_ESIID = 35040  # 365 days x 96 quarter hours
FIRST_SLOT = "2025-01-01 06:00:00+00"  # 2025-01-01 00:00 America/Chicago
ESIID_BASE = 10443720000000000  # + 1..n: 17-digit ESIIDs
YEAR = 2025

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
