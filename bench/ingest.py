"""Ingest throughput as users run it: ``intelliwatt ingest`` (real Dagster runs of 50 files) on both
Dagster instance kinds, against PostgreSQL's binary COPY ceiling of the same rows, the plain ingest
path without Dagster and the naive loader it replaced, on the same generated SMT files, in one run.

- ceiling: the rows stored (placeholders included), exported once, then loaded with binary COPY into an
  empty table with the same primary key (the encoding is not timed);
- naive: the same rows as Python tuples, ``INSERT ... ON CONFLICT DO NOTHING`` by executemany in
  batches of 5,000 rows, one commit per batch (the replaced system's createMany chunks);
- plain: inbox files -> raw store -> parse -> normalize -> upsert -> completeness with the function the
  ``raw_files`` asset calls per file (``take_entry``), batches of 50 files, no Dagster;
- ``intelliwatt ingest`` as a subprocess, the CLI users run: every file through ``inbox_ingest_job`` in
  runs of INTELLIWATT_INBOX_BATCH_FILES, on (a) the embedded defaults (the top-level dagster.yaml, SQLite
  under a temporary DAGSTER_HOME) and (b) deploy/dagster.yaml on a fresh PostgreSQL database; the
  warehouse is PostgreSQL either way. Each run's materializations are counted in the event log.
Then the same files again as new bytes with identical rows (CRLF -> LF), the week revisions, a single
100 MB CSV for peak memory, and where a home-year's time goes.

    .venv/bin/python bench/ingest.py                  # 100 home-years (~3.9M rows), ~10 minutes on 2 cores
    .venv/bin/python bench/ingest.py --tiny --output /tmp/B.md
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BENCHMARKS_MD, drop_db, write_section
from bench.dagster_bench import DEPLOY_YAML, EMBEDDED_YAML, log
from bench.generate import generate
from bench.ingest_loaders import (
    DB_PREFIX,
    ceiling,
    count_rows,
    export_rows,
    fresh_warehouse,
    naive,
    plain,
    through_cli,
    write_counts,
)
from bench.ingest_profile import peak_memory, profile_one
from bench.ingest_report import report

RUN_BATCH = 50  # files per ingest run: INTELLIWATT_INBOX_BATCH_FILES's default
INSTANCE_KINDS = {  # label -> (instance yaml, whether it needs its own PostgreSQL database)
    "embedded defaults (SQLite)": (EMBEDDED_YAML, False),
    "deploy/dagster.yaml (PostgreSQL)": (DEPLOY_YAML, True),
}


def relinebreak(files: list[Path], out: Path) -> Path:
    """The same rows as new bytes: CRLF -> LF, as a spreadsheet tool or a re-download may write."""
    out.mkdir(parents=True, exist_ok=True)
    for path in files:
        (out / path.name).write_bytes(path.read_bytes().replace(b"\r\n", b"\n"))
    return out


def inbox_of(files: list[Path], out: Path) -> Path:
    """Hard links of ``files``, aged past INTELLIWATT_INBOX_MIN_AGE_SECONDS so the CLI takes them at once."""
    out.mkdir(parents=True, exist_ok=True)
    when = time.time() - 3600
    for path in files:
        os.link(path, out / path.name)
        os.utime(out / path.name, (when, when))
    return out


def _burn(n: int = 20_000_000) -> None:
    total = 0
    for i in range(n):
        total += i


def cpu_parallelism() -> float:
    """How much faster two CPU-bound processes finish than one (2.0 = two independent cores)."""
    start = time.perf_counter()
    _burn()
    one = time.perf_counter() - start
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_burn) for _ in range(2)]
    start = time.perf_counter()
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    return round(2 * one / (time.perf_counter() - start), 2)


def plain_section(work: Path, data, inbox: Path, workers: int, batch: int, results: dict) -> None:
    """Plain path, ceiling and naive on the same rows; then identical rows as new bytes, and revisions."""
    name = f"{DB_PREFIX}_plain"
    url = fresh_warehouse(name)
    try:
        results["plain"] = plain(url, inbox, work / "plain_raw", workers, batch)
        log(f"plain path: {results['plain']['seconds']:.1f} s")
        results["rows"] = export_rows(url, work / "rows.copy")
        results["first_writes"] = write_counts(url)
        results["ceiling_seconds"] = ceiling(url, work / "rows.copy")
        (work / "rows.copy").unlink()
        log(f"ceiling: {results['ceiling_seconds']:.1f} s for {results['rows']:,} rows")
        results["naive_seconds"] = naive(url)
        log(f"naive: {results['naive_seconds']:.1f} s")
        results["again"] = plain(url, relinebreak(data.files, work / "again_inbox"), work / "plain_raw", workers,
                                 batch)
        results["again_writes"] = write_counts(url)
        results["rows_after_again"] = count_rows(url)
        results["revisions"] = plain(url, inbox_of(data.revisions, work / "revision_inbox"), work / "plain_raw",
                                     workers, batch)
    finally:
        drop_db(name)


def measure(args) -> dict:
    work = Path(args.workdir)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    workers = 1  # an ingest run takes its files one after another
    results: dict = {"cpu_parallelism": cpu_parallelism(), "workers": workers}
    t0 = time.perf_counter()
    data = generate(work / "files", args.esiid_years, 12)
    results["generate_seconds"] = time.perf_counter() - t0
    results["revision_files"] = len(data.revisions)
    inbox = inbox_of(data.files, work / "inbox")
    plain_section(work, data, inbox, workers, args.batch_files, results)
    results["cli"] = [through_cli(label, work, inbox, yaml, own_db, args.batch_files)
                      for label, (yaml, own_db) in INSTANCE_KINDS.items()]
    results["stages"] = profile_one(data.files[0])
    results["memory"] = peak_memory(work, args.memory_mb)
    shutil.rmtree(work, ignore_errors=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--esiid-years", type=int, default=100, help="home-years of SMT files (>= 100 for the target)")
    parser.add_argument("--batch-files", type=int, default=RUN_BATCH, help="files per ingest run")
    parser.add_argument("--memory-mb", type=int, default=100)
    parser.add_argument("--tiny", action="store_true", help="a few files, for the test suite")
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "intelliwatt_bench_ingest"))
    parser.add_argument("--output", type=Path, default=BENCHMARKS_MD)
    args = parser.parse_args()
    if args.tiny:
        args.esiid_years, args.batch_files, args.memory_mb = 6, 4, 3  # two runs per instance kind (4 + 2 files)
    results = measure(args)
    (Path(args.workdir).parent / "intelliwatt_bench_ingest.json").write_text(json.dumps(results, indent=1, default=str))
    write_section("ingest", report(results, args), args.output)
    print(report(results, args))


if __name__ == "__main__":
    main()
