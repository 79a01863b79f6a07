"""Where the ingest benchmark's time and memory go: peak RSS of one large CSV in a fresh process, and
milliseconds per step of one home-year."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, drop_db
from bench.ingest_loaders import DB_PREFIX, fresh_warehouse


def peak_memory(work: Path, megabytes: int) -> dict:
    """Peak RSS (VmHWM) of a fresh process ingesting one SMT CSV of ``megabytes``."""
    import datetime as dt

    from bench.generate import esiid_for, home_template
    from intelliwatt_pipelines.samples import date_range

    inbox = work / "memory_inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    template = home_template(0, date_range(dt.date(2025, 1, 1), dt.date(2025, 12, 31)))
    header, body = template.split(b"\r\n", 1)
    parts, size, i = [header + b"\r\n"], 0, 0
    while size < megabytes * 1_000_000:
        chunk = body.replace(esiid_for(0).encode(), esiid_for(50_000 + i).encode())
        parts.append(chunk)
        size += len(chunk)
        i += 1
    (inbox / "IntervalMeterUsage_big.csv").write_bytes(b"".join(parts))
    name = f"{DB_PREFIX}_memory"
    url = fresh_warehouse(name)
    try:
        code = ("import sys, json; from bench.ingest_profile import ingest_alone; "
                "print(json.dumps(ingest_alone(*sys.argv[1:])))")
        out = subprocess.run([sys.executable, "-c", code, url, str(inbox), str(work / "memory_raw")],
                             cwd=ROOT, capture_output=True, text=True, check=True)
        result = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        drop_db(name)
    return {"megabytes": round(size / 1e6, 1), "esiids": i, **result}


def ingest_alone(url: str, inbox: str, raw: str) -> dict:
    """Every file of ``inbox`` ingested in this process: seconds, outcomes and the peak RSS."""
    from intelliwatt_pipelines.cdm.warehouse import create_engine
    from intelliwatt_pipelines.ingest.inbox import take_entry
    from intelliwatt_pipelines.rawstore import LocalRawStore
    from intelliwatt_pipelines.transport import LocalInbox

    engine = create_engine(url)
    transport = LocalInbox(inbox)
    start = time.perf_counter()
    outcomes = [o for e in transport.list_entries() for o in take_entry(engine, LocalRawStore(raw), transport, e)]
    status = Path("/proc/self/status").read_text()
    peak_kib = int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1])
    return {"seconds": time.perf_counter() - start, "status": [o.status for o in outcomes],
            "rows_written": sum(o.rows_written for o in outcomes), "peak_rss_mib": round(peak_kib / 1024, 1)}


# --- where the time goes -----------------------------------------------------------------------

def stage_profile(url: str, path: Path) -> list[tuple[str, float]]:
    """Milliseconds per step for one home-year, the steps normalize_raw_file runs, on its own database."""
    from intelliwatt_pipelines.cdm import billing, completeness_store, coverage, intervals
    from intelliwatt_pipelines.cdm.normalize import add_placeholders, touched_days
    from intelliwatt_pipelines.cdm.warehouse import create_engine
    from intelliwatt_pipelines.ingest.capture import capture_bytes
    from intelliwatt_pipelines.rawstore import LocalRawStore
    from intelliwatt_pipelines.sources import parse_usage_file

    engine = create_engine(url)
    data = path.read_bytes()
    steps: list[tuple[str, float]] = []

    def step(name, fn, *args, **kwargs):
        start = time.perf_counter()
        value = fn(*args, **kwargs)
        steps.append((name, (time.perf_counter() - start) * 1000))
        return value

    with tempfile.TemporaryDirectory() as raw:
        captured = step("capture into the raw store", capture_bytes, engine, LocalRawStore(raw), data,
                        filename=path.name, source="bench")
        parsed = step("parse (SMT CSV -> typed frame)", parse_usage_file, data, path.name, esiid=None, meter=None,
                      usage_points={})
        frame = step("placeholders for missing slots", add_placeholders, parsed.frame)
        with engine.begin() as conn:
            previous = step("previous day spans", coverage.previous_spans, conn, frame)
            step("upsert intervals (binary COPY)", intervals.upsert_intervals, conn, frame, source="smt",
                 raw_file_id=captured.raw_file_id)
            step("raw file coverage", coverage.write_coverage, conn, captured.raw_file_id, frame)
            days = step("touched days", touched_days, frame)
            step("daily completeness", completeness_store.refresh_completeness, conn, days, previous)
            step("billing reconciliation", billing.reconcile_days, conn, days, billing.Tolerance())
    engine.dispose()
    return steps


def profile_one(path: Path) -> list[tuple[str, float]]:
    name = f"{DB_PREFIX}_profile"
    url = fresh_warehouse(name)
    try:
        return stage_profile(url, path)
    finally:
        drop_db(name)
