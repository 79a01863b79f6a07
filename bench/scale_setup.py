"""What the Dagster scale benchmark (dagster_scale.py) runs on: its sizes, synthetic homes and their
SMT files, the inbox folders, the settings and the project's definitions built from them."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

RUN_BATCH = 50  # homes (files) per ingest run
INGEST_JOB, REBUILD_HOMES_JOB = "inbox_ingest_job", "rebuild_homes_job"
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}  # every event still goes to the event log
FILE_DAYS = 3  # days one daily delivery covers (history and the "one more run" step)


@dataclass(frozen=True)
class Sizes:
    homes: tuple[int, ...]  # history sizes, cumulative: everything measured
    cheap_homes: int  # only what does not read the history (keys, definition id, sensor listing)
    days: int  # partitions per asset
    known_files: int  # files already recorded in inbox_entry
    known_new: int  # new files among them
    run_files: int  # files per real ingest run
    run_days: int  # days per file of a real ingest run (and of the one-home rebuild)
    ticks: int = 3


FULL = Sizes(homes=(100, 1_000, 10_000), cheap_homes=100_000, days=730, known_files=10_000, known_new=5,
             run_files=50, run_days=30)
TINY = Sizes(homes=(60, 120), cheap_homes=1_000, days=30, known_files=200, known_new=3, run_files=4, run_days=7)
NEW_HOME_DAYS = 365  # a home's first delivery: SMT hands over up to a year of history


def esiid(i: int) -> str:
    """A synthetic 17-digit ESIID (no real premise); never printed."""
    return f"1044372{i:010d}"


def chicago_today() -> dt.date:
    from intelliwatt_pipelines.config import CENTRAL_TZ

    return dt.datetime.now(ZoneInfo(CENTRAL_TZ)).date()


def recent_days(n: int, end_ago: int = 1) -> list[dt.date]:
    """``n`` consecutive Central days ending ``end_ago`` days before today."""
    last = chicago_today() - dt.timedelta(days=end_ago)
    return [last - dt.timedelta(days=n - 1 - i) for i in range(n)]


# --- settings and inbox files ------------------------------------------------------------------

def settings_env(work: Path, warehouse_url: str, days: int) -> dict[str, str]:
    """The environment the code location reads (set in os.environ: the GraphQL code server is a subprocess)."""
    start = chicago_today() - dt.timedelta(days=days - 1)  # end_offset=1: today is the last of `days`
    return {"INTELLIWATT_HOME": str(work), "INTELLIWATT_WAREHOUSE_URL": warehouse_url,
            "INTELLIWATT_RAW_STORE_URL": str(work / "raw"), "INTELLIWATT_INBOX_DIR": str(work / "inbox_empty"),
            "INTELLIWATT_PARTITION_START": start.isoformat(), "INTELLIWATT_INBOX_BATCH_FILES": str(RUN_BATCH)}


def defs_for(folder: Path | None = None):
    """The project's definitions from the environment, with the inbox at ``folder``."""
    from intelliwatt_pipelines.config import Settings
    from intelliwatt_pipelines.defs.definitions import build_defs

    settings = Settings.from_env()
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        settings = dataclasses.replace(settings, inbox_dir=folder)
    return build_defs(settings)


def age(path: Path, seconds: float = 3600) -> None:
    """Older than the inbox's minimum age, so the sensor takes the file on its first listing."""
    when = time.time() - seconds
    os.utime(path, (when, when))


def write_smt_files(folder: Path, homes: range, days: list[dt.date]) -> list[Path]:
    from intelliwatt_pipelines.samples import smt_interval_csv

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in homes:
        path = folder / f"IntervalMeterUsage_home_{i:06d}.csv"  # never a linked name (one inode for all)
        path.write_bytes(smt_interval_csv(esiid(i), days, seed=i))
        age(path)
        paths.append(path)
    return paths


LINKS_PER_INODE = 50_000  # ext4 allows 65,000 hard links to one file


def link_files(folder: Path, count: int, source: Path) -> None:
    """``count`` names for a few copies of one file: the sensor lists and stats files, it never reads them.
    Hard links, never written to (all names of a copy share its inode); not symlinks (the inbox resolves
    them to one path)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        if i % LINKS_PER_INODE == 0:
            copy = folder / f".source_{i}"  # hidden: the inbox skips it
            shutil.copy2(source, copy)
        os.link(copy, folder / f"IntervalMeterUsage_{i:06d}.csv")


def record_known(folder: Path, warehouse_url: str) -> None:
    """Every file in ``folder`` recorded as taken (inbox_entry, and a raw_file row for its foreign key),
    as ``ingest.inbox`` records it."""
    from intelliwatt_pipelines.cdm.tables import inbox_entry, raw_file
    from intelliwatt_pipelines.cdm.warehouse import create_engine
    from intelliwatt_pipelines.transport import LocalInbox

    entries = LocalInbox(folder).list_entries()  # the very keys the sensor computes
    now = dt.datetime.now(dt.timezone.utc)
    engine = create_engine(warehouse_url)
    with engine.begin() as conn:
        ids = conn.execute(raw_file.insert().returning(raw_file.c.id), [
            {"sha256": uuid.uuid4().hex * 2, "filename": e.name, "source": "inbox", "kind": "smt_interval",
             "size_bytes": e.size_bytes, "storage_uri": f"bench://{i}", "received_at": now, "status": "normalized"}
            for i, e in enumerate(entries)]).scalars().all()
        conn.execute(inbox_entry.insert(), [
            {"source": "inbox", "path": e.path, "size_bytes": e.size_bytes, "mtime_ns": e.mtime_ns,
             "raw_file_id": rid, "taken_at": now} for e, rid in zip(entries, ids, strict=True)])
    engine.dispose()
