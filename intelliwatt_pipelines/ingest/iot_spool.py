"""Sealing the IoT spool: closed meter-hours of pushed 1PWR readings become raw files.

``POST /api/v1/readings`` (``api.readings_routes``) appends each reading as one JSON line to
``<spool>/<meter_id>/<YYYYMMDDHH>.jsonl``. Once an hour has ended (plus a grace for late posts),
its file is sealed into one JSON array of the objects as posted, in file order, captured as the raw
file ``iot_<meter>_<YYYYMMDDHH>.json`` (source ``onepwr_iot``), and only then removed. A crash between
capture and removal leaves the spool file; sealing it again yields the same bytes, and raw files are
content-addressed (``cdm.raw_files.register`` returns the existing row), so nothing is doubled.

Locking follows the API's writer: the sealer holds ``flock(LOCK_EX)`` from its read to its unlink,
and a writer that waited on the lock finds the file unlinked and starts a new one, which a later
tick seals as another raw file of the same hour (a reading that came late).

Readings carry meter-local time: an hour's end is read in the market's time zone (Africa/Maseru for
Lesotho) before it is compared with ``now``.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from intelliwatt_pipelines import markets
from intelliwatt_pipelines.cdm.raw_files import Captured
from intelliwatt_pipelines.cdm.tables import raw_file
from intelliwatt_pipelines.ingest.capture import capture_bytes
from intelliwatt_pipelines.rawstore import RawStore

SOURCE = "onepwr_iot"
SEAL_GRACE = dt.timedelta(minutes=10)
_HOUR_FILE = re.compile(r"^([0-9]{10})\.jsonl$")


@dataclass(frozen=True)
class SpoolHour:
    path: Path
    meter: str
    hour: str  # YYYYMMDDHH, as in the file name

    @property
    def filename(self) -> str:
        """The raw file's name."""
        return f"iot_{self.meter}_{self.hour}.json"


def hour_end(hour: str) -> dt.datetime:
    """The end of a meter-local hour named ``YYYYMMDDHH``, as an aware UTC instant."""
    local = dt.datetime.strptime(hour, "%Y%m%d%H").replace(tzinfo=ZoneInfo(markets.local_tz()))
    return local.astimezone(dt.timezone.utc) + dt.timedelta(hours=1)


def closed_hours(spool: Path, now: dt.datetime, grace: dt.timedelta = SEAL_GRACE) -> list[SpoolHour]:
    """The spool files whose hour ended more than ``grace`` before ``now`` (aware), by meter and hour."""
    if not spool.is_dir():
        return []
    found = []
    for meter_dir in sorted(p for p in spool.iterdir() if p.is_dir()):
        for path in sorted(meter_dir.iterdir()):
            match = _HOUR_FILE.match(path.name)
            try:
                ended = match and now - hour_end(match.group(1)) > grace
            except ValueError:  # ten digits that are no hour (not written by the API)
                ended = False
            if ended:
                found.append(SpoolHour(path, meter_dir.name, match.group(1)))
    return found


def sealed_bytes(lines: bytes) -> bytes | None:
    """The spool file's objects as one JSON array, each object's text as written (so every value is as
    posted), in file order; None when it holds none. A line that is no JSON object can only be a write
    torn by a crash (the API writes whole lines): it is left out."""
    objects = []
    for line in lines.split(b"\n"):
        if not line.strip():
            continue
        try:
            if isinstance(json.loads(line), dict):
                objects.append(line)
        except ValueError:
            continue
    return b"[\n" + b",\n".join(objects) + b"\n]\n" if objects else None


def seal_closed_hours(spool: Path, now: dt.datetime, grace: dt.timedelta = SEAL_GRACE) -> list[tuple[str, bytes]]:
    """(raw file name, bytes) of every closed hour, reading only: what ``capture_closed_hours`` captures."""
    sealed = [(hour.filename, sealed_bytes(hour.path.read_bytes())) for hour in closed_hours(spool, now, grace)]
    return [(name, data) for name, data in sealed if data is not None]


def capture_closed_hours(engine: sa.Engine, store: RawStore, spool: Path, now: dt.datetime,
                         grace: dt.timedelta = SEAL_GRACE) -> list[Captured]:
    """Seal and capture every closed hour, removing each spool file once its raw file is committed."""
    captured = []
    for hour in closed_hours(spool, now, grace):
        if (one := _capture_hour(engine, store, hour)) is not None:
            captured.append(one)
    return captured


def _capture_hour(engine: sa.Engine, store: RawStore, hour: SpoolHour) -> Captured | None:
    try:
        fd = os.open(hour.path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:  # sealed by another sealer since the listing
        return None
    with os.fdopen(fd, "rb") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)  # waits for a writer's line; writers wait for this unlink
        if os.fstat(fh.fileno()).st_nlink == 0:
            return None
        data = sealed_bytes(fh.read())
        captured = None
        if data is not None:
            captured = capture_bytes(engine, store, data, filename=hour.filename, source=SOURCE)
        hour.path.unlink()  # only now: the raw file's row is committed
    return captured


def pending_iot_files(engine: sa.Engine, limit: int = 10_000) -> list[tuple[int, int]]:
    """(raw_file id, size) of sealed IoT files no run has processed yet (status ``received``), oldest
    first: a file sealed in a tick that died before its run request is still picked up."""
    r = raw_file.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(r.id, r.size_bytes).where(
            r.source == SOURCE, r.status == "received", r.parent_id.is_(None)).order_by(r.id).limit(limit)).all()
    return [(row.id, row.size_bytes) for row in rows]
