"""Crash-consistency harness: ingest an inbox in a subprocess, kill it at a random moment (SIGKILL,
or terminate its database connections), ingest again, and compare the warehouse with a reference
ingest of the same files.

Used by ``test_reliability.py`` (20+ kill points) and ``bench/crash_consistency.py`` (hundreds).
Run as a module, it is the worker: ``python -m intelliwatt_pipelines_tests.reliability URL INBOX RAW``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
ESIIDS = ("10443720000000101", "10443720000000102")


# --- the files ---------------------------------------------------------------------------------

def make_corpus(inbox: Path, first_day: dt.date = dt.date(2025, 9, 1)) -> list[Path]:
    """A mixed delivery: one home from ``first_day`` to the end of 2025, a revision overlapping it
    across the fall-back day, a second home in a ZIP, its daily meter reads, a Green Button feed
    with its sidecar, and one broken file."""
    from intelliwatt_pipelines.samples import daily_usage_csv, date_range, smt_interval_csv

    inbox.mkdir(parents=True, exist_ok=True)
    year = smt_interval_csv(ESIIDS[0], date_range(first_day, dt.date(2025, 12, 31)), seed=11)
    revision = smt_interval_csv(ESIIDS[0], date_range(dt.date(2025, 10, 25), dt.date(2025, 11, 10)), seed=12,
                                revision_lag=dt.timedelta(days=9))
    second = smt_interval_csv(ESIIDS[1], date_range(dt.date(2025, 3, 1), dt.date(2025, 3, 31)), seed=13,
                              channels=("Consumption", "Surplus Generation"))
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("IntervalMeterUsage_second.csv", second)
    files = {
        "01_IntervalMeterUsage_year.csv": year,
        "02_IntervalMeterUsage_revision.csv": revision,
        "03_delivery.zip": package.getvalue(),
        "04_DailyMeterUsage_second.csv": daily_usage_csv(second),
        "05_greenbutton.xml": green_button_feed(dt.date(2025, 6, 1), days=20),
        "06_broken.csv": b"ESIID,USAGE_DATE,REVISION_DATE\n\x00\x01",
    }
    paths = []
    for i, (name, data) in enumerate(files.items()):
        path = inbox / name
        path.write_bytes(data)
        os.utime(path, ns=(1_700_000_000_000_000_000 + i, 1_700_000_000_000_000_000 + i))  # a fixed order
        paths.append(path)
    (inbox / "05_greenbutton.xml.meta.json").write_text(json.dumps({"esiid": ESIIDS[1]}))
    return paths


def green_button_feed(first: dt.date, days: int) -> bytes:
    base = "https://example.invalid/espi/1_1/resource/RetailCustomer/1/UsagePoint/1"
    start = int(dt.datetime.combine(first, dt.time(6), dt.timezone.utc).timestamp())
    rng = random.Random(5)
    readings = "".join(f"<IntervalReading><timePeriod><duration>3600</duration><start>{start + 3600 * h}</start>"
                       f"</timePeriod><value>{rng.randrange(200, 3000)}</value></IntervalReading>"
                       for h in range(24 * days))
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
<entry><link rel="self" href="{base}"/><content><UsagePoint xmlns="http://naesb.org/espi"/></content></entry>
<entry><link rel="self" href="{base}/MeterReading/1"/><link rel="up" href="{base}/MeterReading"/>
<link rel="related" href="https://example.invalid/espi/1_1/resource/ReadingType/1"/>
<content><MeterReading xmlns="http://naesb.org/espi"/></content></entry>
<entry><link rel="self" href="https://example.invalid/espi/1_1/resource/ReadingType/1"/>
<content><ReadingType xmlns="http://naesb.org/espi"><accumulationBehaviour>4</accumulationBehaviour>
<flowDirection>1</flowDirection><intervalLength>3600</intervalLength><powerOfTenMultiplier>0</powerOfTenMultiplier>
<uom>72</uom></ReadingType></content></entry>
<entry><link rel="self" href="{base}/MeterReading/1/IntervalBlock/1"/><link rel="up" href="{base}/MeterReading/1/IntervalBlock"/>
<content><IntervalBlock xmlns="http://naesb.org/espi">{readings}</IntervalBlock></content></entry>
</feed>""".encode()


# --- the worker -------------------------------------------------------------------------------

def ingest_inbox(url: str, inbox: Path, raw: Path, *, announce: bool = False,
                 max_unpacked_bytes: int | None = None) -> list:
    """Take every new inbox file, as a sensor run does (no Dagster: the layer above is thin)."""
    from intelliwatt_pipelines.cdm.warehouse import create_engine, migrate
    from intelliwatt_pipelines.ingest.inbox import IngestOptions, new_entries, take_entry
    from intelliwatt_pipelines.ingest.unpack import UnpackLimits
    from intelliwatt_pipelines.rawstore import LocalRawStore
    from intelliwatt_pipelines.transport import LocalInbox

    engine = create_engine(url)
    migrate(engine)
    store, transport = LocalRawStore(raw), LocalInbox(inbox)
    options = IngestOptions(limits=UnpackLimits(max_unpacked_bytes=max_unpacked_bytes)) if max_unpacked_bytes \
        else IngestOptions()
    if announce:
        print("ready", flush=True)
    outcomes = []
    for entry in new_entries(engine, transport.source, transport.list_entries()):
        outcomes += take_entry(engine, store, transport, entry, options=options)
    engine.dispose()
    return outcomes


# --- the comparison ---------------------------------------------------------------------------

def snapshot(url: str, raw: Path) -> dict:
    """The warehouse's content with surrogate ids replaced by raw-file hashes, and the raw store's
    coverage: equal snapshots mean the same rows, the same kWh, the same statuses."""
    from intelliwatt_pipelines.cdm import tables as t
    from intelliwatt_pipelines.cdm.warehouse import create_engine
    from intelliwatt_pipelines.rawstore import LocalRawStore

    engine = create_engine(url)
    store = LocalRawStore(raw)
    out = {}
    with engine.connect() as conn:
        files = conn.execute(sa.select(t.raw_file)).all()
        sha = {f.id: f.sha256 for f in files}
        out["raw_file"] = sorted((f.sha256, f.filename, f.kind, f.status, f.error, f.rows_read, f.rows_valid,
                                  f.rows_invalid, f.rows_skipped, sha.get(f.parent_id)) for f in files)
        out["raw_bytes_kept"] = all(hashlib.sha256(store.get(f.sha256)).hexdigest() == f.sha256 for f in files)
        for table, skip in ((t.usage_interval, ()), (t.daily_completeness, ()), (t.billing_read, ()),
                            (t.billing_reconciliation, ("checked_at",)), (t.raw_file_coverage, ()),
                            (t.billing_read_coverage, ()), (t.raw_file_hint, ("recorded_at",))):
            cols = [c for c in table.columns if c.name not in skip]
            rows = conn.execute(sa.select(*cols)).all()
            names = [c.name for c in cols]
            out[table.name] = sorted(
                tuple(sha.get(v) if n == "raw_file_id" else v for n, v in zip(names, r, strict=True)) for r in rows)
        out["inbox_entry"] = sorted(conn.execute(sa.select(t.inbox_entry.c.path)).scalars())
    engine.dispose()
    return out


def differences(a: dict, b: dict) -> list[str]:
    return [f"{key}: {len(a.get(key) or [])} vs {len(b.get(key) or [])} rows"
            + (f"; first difference {sorted(set(a[key]) ^ set(b[key]))[:1]}" if isinstance(a.get(key), list) else "")
            for key in sorted(set(a) | set(b)) if a.get(key) != b.get(key)]


def half_done(reference: dict, interim: dict) -> list[str]:
    """Files the interrupted run marked normalized whose coverage is not what the reference has."""
    def coverage(snap, sha):
        return sorted(r for r in snap["raw_file_coverage"] + snap["billing_read_coverage"] if r[0] == sha)

    return [f"{row[1]}: coverage {coverage(interim, row[0])} != {coverage(reference, row[0])}"
            for row in interim["raw_file"] if row[3] == "normalized" and coverage(interim, row[0]) != coverage(reference, row[0])]


# --- kill points ------------------------------------------------------------------------------

@dataclass
class KillResult:
    delay: float
    killed: bool  # False when the worker had already finished
    differences: list[str]  # after resuming, against the reference
    partial: list[str]  # right after the interruption: files marked normalized without all their rows


def worker(url: str, inbox: Path, raw: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "intelliwatt_pipelines_tests.reliability", url, str(inbox), str(raw)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_to_end(url: str, inbox: Path, raw: Path) -> float:
    """Run the worker to completion; returns the seconds it worked after announcing readiness."""
    proc = worker(url, inbox, raw)
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read()[-2000:]
    began = time.monotonic()
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    return time.monotonic() - began


def interrupt(url: str, inbox: Path, raw: Path, delay: float, how: str = "kill") -> bool:
    """Start the worker and, ``delay`` s after it is ready, SIGKILL it (``kill``) or terminate its
    database connections (``terminate``). Returns whether it was still working then."""
    proc = worker(url, inbox, raw)
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read()[-2000:]
    time.sleep(delay)
    alive = proc.poll() is None
    if how == "kill":
        proc.send_signal(signal.SIGKILL)
    else:
        terminate_backends(url)
    proc.communicate(timeout=600)
    return alive


def terminate_backends(url: str) -> int:
    from intelliwatt_pipelines.cdm.warehouse import normalize_url

    target = sa.engine.make_url(normalize_url(url))
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        n = conn.execute(sa.text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                 "WHERE datname = :db AND pid <> pg_backend_pid()"), {"db": target.database}).scalar()
    admin.dispose()
    return int(n or 0)


class Databases:
    """Fresh PostgreSQL databases on one server, dropped at the end."""

    def __init__(self, admin_url: str):
        from intelliwatt_pipelines.cdm.warehouse import normalize_url

        self.base = sa.engine.make_url(normalize_url(admin_url))
        self.admin = sa.create_engine(self.base, isolation_level="AUTOCOMMIT")
        self.names: list[str] = []

    def new(self) -> str:
        name = f"iw_crash_{uuid.uuid4().hex[:10]}"
        with self.admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        self.names.append(name)
        return self.base.set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        with self.admin.connect() as conn:
            for name in self.names:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.admin.dispose()


def kill_points(admin_url: str, work: Path, count: int, *, seed: int, how: str = "kill", report=None,
                first_day: dt.date = dt.date(2025, 9, 1)) -> tuple[dict, float, list[KillResult]]:
    """The reference snapshot, the reference work time, and ``count`` interrupted-then-resumed runs."""
    rng = random.Random(seed)
    inbox = work / "inbox"
    make_corpus(inbox, first_day)
    dbs = Databases(admin_url)
    try:
        ref_url = dbs.new()
        seconds = run_to_end(ref_url, inbox, work / "raw_ref")
        reference = snapshot(ref_url, work / "raw_ref")
        results = []
        for i in range(count):
            url, raw = dbs.new(), work / f"raw_{i}"
            delay = rng.uniform(0.0, seconds * 1.05)
            killed = interrupt(url, inbox, raw, delay, how)
            partial = half_done(reference, snapshot(url, raw))
            run_to_end(url, inbox, raw)
            results.append(KillResult(delay, killed, differences(reference, snapshot(url, raw)), partial))
            if report:
                report(i, results[-1])
            with dbs.admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{dbs.names.pop()}" WITH (FORCE)'))
        return reference, seconds, results
    finally:
        dbs.drop_all()


if __name__ == "__main__":
    url, inbox, raw = sys.argv[1:4]
    if len(sys.argv) > 4:  # --report MAX_UNPACKED_BYTES: print the outcomes and the peak memory
        done = ingest_inbox(url, Path(inbox), Path(raw), max_unpacked_bytes=int(sys.argv[5]))
        # VmHWM, not ru_maxrss: the latter also counts the parent's pages this process had between
        # fork and exec (a big test runner would show as this worker's peak)
        peak = next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines()
                    if line.startswith("VmHWM:"))
        print(json.dumps({"outcomes": [[o.filename, o.status, o.error] for o in done], "max_rss_kib": peak}))
    else:
        ingest_inbox(url, Path(inbox), Path(raw), announce=True)
