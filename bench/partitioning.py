"""Monthly partitioning (migration 0012) against the plain tables (0011), on the same 30M-interval warehouse.

What it measures, for each of two databases filled alike (``--esiids`` ESIIDs x one year of 15-minute
intervals of 2025; 860 -> 30.1M rows): ``<prefix>_unpart`` migrated to 0011 (plain tables) and
``<prefix>_part`` migrated to head (usage_interval and daily_completeness partitioned by month, the months
of the data created with ``cdm.partitions.ensure_month_partitions`` before the fill):

1. the server-side fill (bench/api_dataset.py: ``INSERT ... SELECT FROM generate_series``, keys dropped
   and rebuilt, VACUUM ANALYZE): time and inserted rows/s;
2. the project's interval write path, ``cdm.intervals.upsert_intervals``, one transaction per home:
   a new month (Chicago January 2026) for ``--homes`` homes into the full table (the COPY path a new
   month takes), then the same month again with a later revision and other kWh (the ON CONFLICT
   merge path); rows/s of each. The month is deleted afterwards, so a rerun finds the same table;
3. ``GET /api/v1/esiids/{esiid}/intervals`` for a random ESIID and a random Chicago month of 2025
   (bench/api_clients.py, concurrency 1, keep-alive, ``--warmup`` then ``--requests``), and the same
   from wrk for ``--wrk-seconds`` when wrk is installed. The unpartitioned database is served by this
   tree's API minus the migrations after 0011 (the API migrates at start; it would partition it);
4. table and index sizes (partitions summed), and EXPLAIN ANALYZE of the API's own page query for one
   month: the partitions the planner kept. A Chicago month starts at 05:00 or 06:00 UTC, so it touches
   two UTC-month partitions.

Databases that already hold the expected rows at the expected revision are reused (``--fresh`` refills).

Run (from the project root)::

    .venv/bin/python bench/partitioning.py            # reuses the databases when complete
    .venv/bin/python bench/partitioning.py --fresh    # drop and refill both (several minutes each)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench.* and the package, from any cwd

from bench.api_bench import api_env, command_line
from bench.api_clients import measure, month_queries, wrk_phase
from bench.api_dataset import (
    ESIID_BASE,
    SLOTS_PER_ESIID,
    database_exists,
    dataset_facts,
    db_url,
    ensure_coverage,
    fill,
    recreate_database,
    row_counts,
)
from bench.common import (
    BENCHMARKS_MD,
    ROOT,
    ApiServer,
    code_label,
    code_version,
    machine_facts,
    write_section,
)
from bench.partitioning_report import markdown_section, verdict

VARIANTS = {"unpartitioned": ("unpart", "0011"), "partitioned": ("part", None)}  # None: head
NEW_MONTH = pd.Timestamp("2026-01-01", tz="America/Chicago")  # the month after the data
CHICAGO = ZoneInfo("America/Chicago")


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    from intelliwatt_pipelines.cdm.warehouse import MIGRATIONS
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def migrate_to(url: str, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    from intelliwatt_pipelines.cdm.warehouse import MIGRATIONS, create_engine
    engine = create_engine(url)
    with engine.begin() as conn:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    engine.dispose()


def schema_revision(url: str) -> str | None:
    try:
        with psycopg.connect(url) as conn:
            return conn.execute("SELECT version_num FROM intelliwatt_schema_version").fetchone()[0]
    except (psycopg.errors.UndefinedTable, psycopg.OperationalError):
        return None


def create_data_months(url: str) -> list[str]:
    """The partitions of every month of the fill (2025-01 .. 2026-01 UTC) and on to this month."""
    from intelliwatt_pipelines.cdm.partitions import ensure_month_partitions
    from intelliwatt_pipelines.cdm.warehouse import create_engine
    engine = create_engine(url)
    created = ensure_month_partitions(engine, dt.date.today(), since=dt.date(2025, 1, 1))
    engine.dispose()
    return created


def prepare(args, variant: str) -> dict:
    """The variant's database, reused when complete at the right revision, else filled."""
    suffix, revision = VARIANTS[variant]
    db, revision = f"{args.db_prefix}_{suffix}", revision or head_revision()
    url = db_url(args.admin_url, db)
    expected = {"usage_interval": args.esiids * SLOTS_PER_ESIID, "daily_completeness": args.esiids * 365}
    exists = not args.fresh and database_exists(args.admin_url, db)
    if exists and schema_revision(url) == revision and row_counts(url) == expected:
        print(f"{variant}: reusing {db}", flush=True)
        ensure_coverage(url, args.esiids)
        return {"db": db, "url": url, "revision": revision, "reused": True, "fill": previous_fill(args.out, variant)}
    print(f"{variant}: filling {db} at revision {revision}: {args.esiids} ESIIDs x {SLOTS_PER_ESIID}", flush=True)
    recreate_database(args.admin_url, db)
    migrate_to(url, revision)
    months = create_data_months(url) if variant == "partitioned" else []
    load_before = os.getloadavg()[0]
    timings = fill(url, args.esiids)
    timings["loadavg_1m_before"], timings["loadavg_1m_after"] = round(load_before, 2), round(os.getloadavg()[0], 2)
    ensure_coverage(url, args.esiids)
    if row_counts(url) != expected:
        raise RuntimeError(f"{db}: fill produced {row_counts(url)}, expected {expected}")
    timings["insert_rows_per_s"] = round(expected["usage_interval"] / timings["insert_s"])
    return {"db": db, "url": url, "revision": revision, "reused": False, "fill": timings,
            "partitions_created_before_fill": len(months)}


def previous_fill(out: Path, variant: str) -> dict | None:
    try:
        return json.loads(out.read_text())["variants"][variant]["dataset"]["fill"]
    except (OSError, KeyError, ValueError, TypeError):
        return None


def month_frame(esiid: str, kwh: float, revised: pd.Timestamp | None) -> pd.DataFrame:
    from intelliwatt_pipelines.model import typed_frame
    ts = pd.date_range(NEW_MONTH, NEW_MONTH + pd.offsets.MonthBegin(1), freq="15min", inclusive="left").tz_convert("UTC")
    return typed_frame(pd.DataFrame({"esiid": esiid, "meter": "M1", "channel": "consumption", "ts_utc": ts,
                                     "interval_minutes": 15, "kwh": kwh, "quality": "actual",
                                     "revised_at": revised if revised is not None else pd.NaT}))


def timed_upserts(engine, frames: list[pd.DataFrame], raw_file_id: int) -> dict:
    from intelliwatt_pipelines.cdm.intervals import upsert_intervals
    written, started = 0, time.perf_counter()
    for frame in frames:  # one transaction per home, as one file of one home is written
        with engine.begin() as conn:
            written += upsert_intervals(conn, frame, source="smt", raw_file_id=raw_file_id)
    seconds = time.perf_counter() - started
    return {"rows": sum(len(f) for f in frames), "written": written, "s": round(seconds, 2),
            "rows_per_s": round(written / seconds)}


def write_path(url: str, homes: int) -> dict:
    """A new month for ``homes`` homes, then a revision of it, through upsert_intervals; then undone."""
    import sqlalchemy as sa

    from intelliwatt_pipelines.cdm.warehouse import create_engine
    engine = create_engine(url)
    esiids = [str(ESIID_BASE + i) for i in range(1, homes + 1)]
    start = NEW_MONTH.tz_convert("UTC").to_pydatetime()
    with engine.connect() as conn:
        raw_file_id = conn.execute(sa.text("SELECT min(id) FROM raw_file")).scalar()
    try:
        new = timed_upserts(engine, [month_frame(e, 0.4, None) for e in esiids], raw_file_id)
        revised = timed_upserts(engine, [month_frame(e, 0.5, pd.Timestamp("2026-02-03", tz="UTC")) for e in esiids],
                                raw_file_id)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM usage_interval WHERE esiid = ANY(:e) AND ts_utc >= :t"),
                         {"e": esiids, "t": start})
        engine.dispose()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) usage_interval")
    return {"homes": homes, "new_month": new, "revised_month": revised}


def sizes(url: str) -> dict:
    """Per table: partitions, table bytes and index bytes (leaf partitions summed)."""
    out = {}
    with psycopg.connect(url) as conn:
        for table in ("usage_interval", "daily_completeness"):
            kind = conn.execute("SELECT relkind::text FROM pg_class WHERE oid = %s::regclass", (table,)).fetchone()[0]
            leaves = ("SELECT relid FROM pg_partition_tree(%s) WHERE isleaf" if kind == "p"
                      else "SELECT %s::regclass AS relid")
            n, heap, index = conn.execute(f"SELECT count(*), sum(pg_relation_size(relid)), sum(pg_indexes_size(relid)) "
                                          f"FROM ({leaves}) AS leaf", (table,)).fetchone()
            out[table] = {"partitions": n if kind == "p" else 0, "table_mib": round(heap / 2**20),
                          "indexes_mib": round(index / 2**20)}
    return out


def _relations(node: dict) -> list[str]:
    own = [node["Relation Name"]] if "Relation Name" in node else []
    return own + [r for child in node.get("Plans", []) for r in _relations(child)]


def explain(url: str) -> dict:
    """EXPLAIN ANALYZE of the API's page query for one ESIID's Chicago March 2025."""
    from intelliwatt_pipelines.api.reads import _PG_PAGE
    from intelliwatt_pipelines.api.routing import PAGE_DEFAULT
    lo = dt.datetime(2025, 3, 1, tzinfo=CHICAGO).astimezone(dt.UTC)
    hi = dt.datetime(2025, 4, 1, tzinfo=CHICAGO).astimezone(dt.UTC)
    with psycopg.connect(url) as conn:
        (plan,) = conn.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + _PG_PAGE,
                               (str(ESIID_BASE + 1), "M1", "consumption", lo, hi, PAGE_DEFAULT)).fetchone()[0]
    scanned = _relations(plan["Plan"])
    return {"query": f"one ESIID, ts_utc in [{lo:%Y-%m-%d %H:%M}Z, {hi:%Y-%m-%d %H:%M}Z)",
            "relations_scanned": [r for r in scanned if r.startswith("usage_interval")],
            "planning_ms": round(plan["Planning Time"], 3), "execution_ms": round(plan["Execution Time"], 3)}


def api_tree(tmp: Path, revision: str) -> Path:
    """This tree's package without the migrations after ``revision``, so the API's migrate leaves it."""
    later = re.compile(r"^(\d{4})_")

    def ignore(_folder, names):
        return [n for n in names if n == "__pycache__" or ((m := later.match(n)) and int(m[1]) > int(revision))]
    shutil.copytree(ROOT / "intelliwatt_pipelines", tmp / "src" / "intelliwatt_pipelines", ignore=ignore)
    return tmp / "src"


def api_phases(args, url: str, revision: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="intelliwatt-bench-part-") as tmp:
        source = ROOT if revision == head_revision() else api_tree(Path(tmp), revision)
        with ApiServer(api_env(url, tmp), Path(tmp) / "api.log", source=source) as server:
            warm, offset = measure(server, month_queries(args.warmup, args.esiids, seed=1), 1, 0)
            phase, _ = measure(server, month_queries(args.requests, args.esiids, seed=100), 1, offset)
            print(f"  API c=1: p50 {phase['p50_ms']} p90 {phase['p90_ms']} p99 {phase['p99_ms']} ms, "
                  f"errors {phase['errors']}", flush=True)
            wrk = wrk_phase(server.base_url, args.esiids, 1, args.wrk_seconds, seed=201) if args.wrk_seconds else None
    return {"warmup_requests": warm["requests"], "warmup_errors": warm["errors"], "phase": phase, "wrk": wrk}


def measure_variant(args, variant: str) -> dict:
    dataset = prepare(args, variant)
    url = dataset.pop("url")
    dataset.update(esiids=args.esiids, usage_interval=args.esiids * SLOTS_PER_ESIID, **dataset_facts(url))
    print(f"{variant}: write path", flush=True)
    writes = write_path(url, args.homes)
    print(f"{variant}: API", flush=True)
    return {"dataset": dataset, "sizes": sizes(url), "writes": writes, "explain": explain(url),
            "api": api_phases(args, url, dataset["revision"])}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--db-prefix", default="intelliwatt_bench")
    parser.add_argument("--esiids", type=int, default=860, help="ESIIDs x 35,040 intervals (860 -> 30.1M rows)")
    parser.add_argument("--homes", type=int, default=50, help="homes the write path writes a month for")
    parser.add_argument("--requests", type=int, default=1000, help="measured requests (concurrency 1)")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--wrk-seconds", type=int, default=20, help="a wrk run per database (0: none)")
    parser.add_argument("--fresh", action="store_true", help="drop and refill both databases")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "partitioning.json")
    parser.add_argument("--markdown", type=Path, default=BENCHMARKS_MD, help="the file whose section is replaced")
    parser.add_argument("--no-markdown", action="store_true")
    args = parser.parse_args()
    args.source = ROOT
    return args


def main() -> None:
    args = parse_args()
    code = code_version(ROOT)
    variants = {v: measure_variant(args, v) for v in VARIANTS}
    result = {"command": command_line("partitioning", args), "args": {k: str(v) for k, v in vars(args).items()},
              "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "code": code, "machine": machine_facts(),
              "variants": variants}
    result["verdict"] = verdict(variants)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    section = markdown_section(result, code_label)
    print("\n" + section)
    if not args.no_markdown:
        write_section("partitioning", section, args.markdown)
    print(f"results: {args.out}")


if __name__ == "__main__":
    main()
