"""The loaders the ingest benchmark (ingest.py) compares, on scratch warehouses: the plain ingest path
without Dagster, binary COPY (the ceiling), the naive executemany loader, and ``intelliwatt ingest``
as a subprocess on one Dagster instance kind."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.common import ROOT, drop_db, fresh_db
from bench.dagster_bench import dagster_home, days_touched, job_runs, log, open_instance, run_facts

DB_PREFIX = "intelliwatt_bench_ingest"
NAIVE_BATCH = 5_000


def psycopg_conn(url: str):
    import psycopg

    return psycopg.connect(url)


def count_rows(url: str, table: str = "usage_interval") -> int:
    with psycopg_conn(url) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def write_counts(url: str) -> dict[str, int]:
    """Rows inserted, updated and deleted in usage_interval since the database was created."""
    with psycopg_conn(url) as conn:
        time.sleep(1.5)  # PostgreSQL publishes table statistics up to a second after commit
        ins, upd, dele = conn.execute("SELECT n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables "
                                      "WHERE relname = 'usage_interval'").fetchone()
    return {"inserted": ins, "updated": upd, "deleted": dele}


def migrate(url: str) -> None:
    from intelliwatt_pipelines.cdm.warehouse import create_engine
    from intelliwatt_pipelines.cdm.warehouse import migrate as run_migrations

    engine = create_engine(url)
    run_migrations(engine)
    engine.dispose()


def fresh_warehouse(name: str) -> str:
    url = fresh_db(name)
    migrate(url)
    return url


# --- plain: the ingest path without Dagster ------------------------------------------------------

def _ingest_batches(url: str, inbox: str, raw: str, batches: list[list[str]], queue) -> None:
    """One worker: the ingest path of the raw_files asset over its batches of inbox files."""
    from intelliwatt_pipelines.cdm.warehouse import create_engine
    from intelliwatt_pipelines.ingest.inbox import take_entry
    from intelliwatt_pipelines.rawstore import LocalRawStore
    from intelliwatt_pipelines.transport import LocalInbox

    engine = create_engine(url)
    store, transport = LocalRawStore(raw), LocalInbox(inbox)
    entries = {e.path: e for e in transport.list_entries()}
    written = failed = 0
    for batch in batches:
        for path in batch:
            for outcome in take_entry(engine, store, transport, entries[path], run_id="bench"):
                written += outcome.rows_written
                failed += outcome.status == "failed"
    engine.dispose()
    queue.put((written, failed))


def plain(url: str, inbox: Path, raw: Path, workers: int, batch: int) -> dict:
    """Ingest every file in ``inbox``; batches of ``batch`` files dealt to ``workers`` processes."""
    from intelliwatt_pipelines.transport import LocalInbox

    paths = sorted(e.path for e in LocalInbox(inbox).list_entries())
    batches = [paths[i:i + batch] for i in range(0, len(paths), batch)]
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_ingest_batches, args=(url, str(inbox), str(raw), batches[w::workers], queue))
             for w in range(workers)]
    start = time.perf_counter()
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    seconds = time.perf_counter() - start
    if any(p.exitcode for p in procs):
        raise RuntimeError("an ingest worker failed")
    return {"files": len(paths), "seconds": seconds, "rows_written": sum(r[0] for r in results),
            "files_failed": sum(r[1] for r in results)}


# --- ceiling and naive ------------------------------------------------------------------------

def export_rows(url: str, path: Path) -> int:
    """usage_interval as a binary COPY file (what the ceiling loads)."""
    with psycopg_conn(url) as conn, open(path, "wb") as out:
        # a query, not the table: COPY TO cannot read a partitioned table (PostgreSQL warehouses are)
        with conn.cursor().copy("COPY (SELECT * FROM usage_interval) TO STDOUT (FORMAT BINARY)") as copy:
            for block in copy:
                out.write(block)
    return count_rows(url)


def _empty_like(conn, table: str) -> None:
    conn.execute(f"DROP TABLE IF EXISTS {table}")
    conn.execute(f"CREATE TABLE {table} (LIKE usage_interval INCLUDING ALL)")  # same primary key and checks
    conn.commit()


def ceiling(url: str, dump: Path, table: str = "ceiling_interval") -> float:
    """Seconds to binary-COPY the exported rows into an empty table with the same primary key."""
    with psycopg_conn(url) as conn:
        _empty_like(conn, table)
        start = time.perf_counter()
        with conn.cursor().copy(f"COPY {table} FROM STDIN (FORMAT BINARY)") as copy, open(dump, "rb") as data:
            while block := data.read(8 << 20):
                copy.write(block)
        conn.commit()
        seconds = time.perf_counter() - start
        conn.execute(f"DROP TABLE {table}")
        conn.commit()
    return seconds


def naive(url: str, table: str = "naive_interval") -> float:
    """Seconds for the replaced loader: 5,000-row executemany INSERT ... ON CONFLICT DO NOTHING."""
    with psycopg_conn(url) as conn:
        rows = conn.execute("SELECT * FROM usage_interval").fetchall()  # already normalized, untimed
        _empty_like(conn, table)
        columns = "esiid, meter, channel, ts_utc, interval_minutes, kwh, quality, revised_at, source, raw_file_id"
        sql = (f"INSERT INTO {table} ({columns}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
               "ON CONFLICT (esiid, meter, channel, ts_utc) DO NOTHING")
        start = time.perf_counter()
        with conn.cursor() as cur:
            for i in range(0, len(rows), NAIVE_BATCH):
                cur.executemany(sql, rows[i:i + NAIVE_BATCH])
                conn.commit()
        seconds = time.perf_counter() - start
        conn.execute(f"DROP TABLE {table}")
        conn.commit()
    return seconds


# --- intelliwatt ingest, as users run it ---------------------------------------------------------

def cli_env(work: Path, warehouse_url: str, inbox: Path, instance_env: dict[str, str], batch: int) -> dict[str, str]:
    """The settings a user sets, nothing inherited from this shell's INTELLIWATT_*/DAGSTER_* variables."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("INTELLIWATT_", "DAGSTER_"))}
    return {**env, **instance_env, "INTELLIWATT_HOME": str(work), "INTELLIWATT_WAREHOUSE_URL": warehouse_url,
            "INTELLIWATT_RAW_STORE_URL": str(work / "raw"), "INTELLIWATT_INBOX_DIR": str(inbox),
            "INTELLIWATT_PARTITION_START": "2024-01-01", "INTELLIWATT_INBOX_BATCH_FILES": str(batch)}


def run_cli(env: dict[str, str], inbox: Path, log_path: Path) -> tuple[float, int]:
    """``intelliwatt ingest --inbox`` in a subprocess: (seconds, exit code); its output goes to a file."""
    exe = Path(sys.executable).with_name("intelliwatt")
    with open(log_path, "wb") as out:
        start = time.perf_counter()
        code = subprocess.run([str(exe), "ingest", "--inbox", str(inbox)], env=env, cwd=ROOT, stdout=out,
                              stderr=subprocess.STDOUT).returncode
    return time.perf_counter() - start, code


def through_cli(label: str, work: Path, inbox: Path, yaml: Path, own_db: bool, batch: int) -> dict:
    """Every inbox file through ``intelliwatt ingest`` on one instance kind, into a fresh warehouse; then
    what each run did, from the instance and the warehouse."""
    from intelliwatt_pipelines.defs.definitions import INGEST_JOB

    tag = "deploy" if own_db else "embedded"
    wh_name, dg_name = f"{DB_PREFIX}_{tag}_wh", f"{DB_PREFIX}_{tag}_dg"
    url = fresh_warehouse(wh_name)
    try:
        instance_env = dagster_home(work / tag / "dagster_home", yaml, fresh_db(dg_name) if own_db else None)
        seconds, code = run_cli(cli_env(work / tag, url, inbox, instance_env, batch), inbox, work / f"{tag}.log")
        log(f"intelliwatt ingest, {label}: {seconds:.1f} s, exit {code}")
        with open_instance(instance_env) as instance:
            runs = [run_facts(instance, run_id) for run_id in job_runs(instance, INGEST_JOB)]
        return {"label": label, "seconds": seconds, "exit": code, "rows": count_rows(url),
                "runs": [{**vars(r), "check_seconds": r.check_seconds, "days": days_touched(url, r.run_id)}
                         for r in runs]}
    finally:
        drop_db(wh_name)
        if own_db:
            drop_db(dg_name)
