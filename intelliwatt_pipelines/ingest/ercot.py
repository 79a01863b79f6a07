"""ERCOT TDSP ESIID extracts into the warehouse (vendor-apis.md §2.6).

``take_local`` stores the ZIPs dropped in the ERCOT folder (doc id ``local:<sha256 prefix>``, publish date
from a ConstructedName's date and time, Central, else the file's mtime); ``take_mis`` lists ERCOT MIS and
downloads the DocIDs not yet known. Every ZIP is a raw file first (source ``ercot``, filename the replaced
system's logical key ``ercot/YYYY-MM-DD/<ConstructedName>``; the same bytes twice, one raw file).
``apply_pending`` then applies the stored files in ``apply_order``, each ZIP member streamed from the raw
store in chunks into ``service_point``, one transaction per file: a bad file fails alone (raw kept).
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import tempfile
import zoneinfo
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import sqlalchemy as sa

from intelliwatt_pipelines.bounds import CENTRAL_TZ
from intelliwatt_pipelines.cdm import service_points as sp
from intelliwatt_pipelines.cdm.raw_files import register
from intelliwatt_pipelines.cdm.tables import raw_file
from intelliwatt_pipelines.ingest.unpack import QuarantineError, UnpackLimits, unzip_csvs
from intelliwatt_pipelines.kinds import ZIP_PACKAGE
from intelliwatt_pipelines.pii import redact
from intelliwatt_pipelines.rawstore import RawStore, sha256_file
from intelliwatt_pipelines.sources import ercot_extract as ex
from intelliwatt_pipelines.vendors.ercot.client import ErcotError, ErcotMisClient

log = logging.getLogger("intelliwatt.ercot")
ERCOT_SOURCE = "ercot"
CHUNK_ROWS = 50_000  # rows per COPY batch: bounds memory (a chunk of tuples, not the file)
# A full Oncor file expands past a gigabyte: the bomb bound is far above any real extract instead.
LIMITS = UnpackLimits(max_unpacked_bytes=32 << 30, max_members=10)
ERRORS_SHOWN = 50
LOCAL_PREFIX = "local:"


@dataclass
class FileOutcome:
    doc_id: str
    tdsp: str
    kind: str
    status: str
    rows_read: int = 0
    rows_applied: int = 0
    rows_invalid: int = 0
    retired: int = 0
    error: str | None = None


@dataclass
class Taken:
    """What a take found: new documents per TDSP token, and files or documents it could not take."""

    new: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    def add(self, tdsp: str) -> None:
        self.new[tdsp] = self.new.get(tdsp, 0) + 1


def local_doc_id(sha: str) -> str:
    return LOCAL_PREFIX + sha  # "local:" and the SHA-256 of the ZIP: 70 characters of doc_id's 72


def logical_key(publish_date: dt.datetime, constructed_name: str) -> str:
    return f"ercot/{publish_date:%Y-%m-%d}/{constructed_name}"


def local_publish_date(path: Path) -> dt.datetime:
    """A ConstructedName's date and time (ERCOT names files in Central time), else the file's mtime."""
    stamp = ex.constructed_timestamp(path.name)
    if stamp:
        naive = dt.datetime.strptime("".join(stamp), "%Y%m%d%H%M%S")
        return naive.replace(tzinfo=zoneinfo.ZoneInfo(CENTRAL_TZ))
    return dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc)


def _store_zip(conn: sa.Connection, store: RawStore, path: Path, filename: str) -> int:
    sha, size, uri = store.put_file(path)
    return register(conn, sha=sha, size=size, uri=uri, filename=filename, source=ERCOT_SOURCE,
                    kind=ZIP_PACKAGE).raw_file_id


def take_local(engine: sa.Engine, store: RawStore, folder: Path, *, now: dt.datetime) -> Taken:
    """Store the ERCOT folder's ZIPs not yet known (by content) and list them as ``stored``."""
    taken = Taken()
    paths = sorted(p for p in Path(folder).glob("*") if p.is_file() and p.suffix.lower() == ".zip") \
        if Path(folder).is_dir() else []
    for path in paths:
        try:
            token, kind = ex.parse_friendly_name(path.name)
        except ValueError:
            taken.skipped.append(f"{redact(path.name)}: not an extract name (TDSP token, then FUL or DAILY)")
            continue
        doc_id = local_doc_id(sha256_file(path))
        with engine.begin() as conn:
            if sp.known_doc_ids(conn, [doc_id]):
                continue
            published = local_publish_date(path)
            raw_id = _store_zip(conn, store, path, logical_key(published, path.name))
            sp.register_doc(conn, doc_id=doc_id, constructed_name=path.name, friendly_name=ex.friendly_name(token, kind),
                            tdsp=token, kind=kind, publish_date=published, listed_at=now,
                            content_size=path.stat().st_size, raw_file_id=raw_id)
        taken.add(token)
    return taken


def _pending_mis(engine: sa.Engine, documents: list) -> list:
    """Listed documents that are new, or listed before but never stored (a download that died)."""
    with engine.connect() as conn:
        known = {d.doc_id: d.status for d in (sp.doc(conn, doc_id) for doc_id in
                                              sp.known_doc_ids(conn, [d.doc_id for d in documents]))}
    return [d for d in documents if known.get(d.doc_id, "listed") == "listed"]


def take_mis(engine: sa.Engine, store: RawStore, client: ErcotMisClient, *, now: dt.datetime) -> Taken:
    """List ERCOT MIS report 203 and download and store every document not yet stored."""
    taken = Taken()
    documents, _ = client.list_documents()
    for d in _pending_mis(engine, documents):
        try:
            token, kind = ex.parse_friendly_name(d.friendly_name)
        except ValueError:
            taken.skipped.append(f"DocID {d.doc_id}: unknown friendly name {d.friendly_name!r}")
            continue
        with engine.begin() as conn:
            sp.register_doc(conn, doc_id=d.doc_id, constructed_name=d.constructed_name, friendly_name=d.friendly_name,
                            tdsp=token, kind=kind, publish_date=d.publish_date, listed_at=now,
                            content_size=d.content_size)
        try:
            with tempfile.TemporaryDirectory(prefix="ercot-") as tmp:
                path = Path(tmp) / "download.zip"
                with path.open("w+b") as out:
                    client.download(d.doc_id, out)
                with engine.begin() as conn:
                    sp.set_stored(conn, d.doc_id, _store_zip(conn, store, path,
                                                             logical_key(d.publish_date, d.constructed_name)))
        except (ErcotError, OSError) as error:
            with engine.begin() as conn:
                sp.set_outcome(conn, d.doc_id, status="failed", error=f"download: {error}")
            taken.skipped.append(f"DocID {d.doc_id}: {error}")
            continue
        taken.add(token)
    return taken


@contextmanager
def _opened(store: RawStore, sha: str) -> Iterator[BinaryIO]:
    """The raw ZIP as a seekable file (a store whose stream cannot seek is spooled to a temporary file)."""
    with store.open(sha) as fh:
        if fh.seekable():
            yield fh
            return
        with tempfile.TemporaryFile() as spooled:
            shutil.copyfileobj(fh, spooled, 1 << 20)
            spooled.seek(0)
            yield spooled


def _describe(errors: list[ex.RowError], total: int) -> str | None:
    if not total:
        return None
    shown = "; ".join(f"line {e.line}: {e.reason}" for e in errors[:ERRORS_SHOWN])
    return f"{total} row(s) refused: {shown}" + (f"; … {total - ERRORS_SHOWN} more" if total > ERRORS_SHOWN else "")


def _apply_in(conn: sa.Connection, store: RawStore, doc, now: dt.datetime, chunk_rows: int) -> FileOutcome:
    outcome = FileOutcome(doc.doc_id, doc.tdsp, doc.kind, "applied")
    sha = conn.execute(sa.select(raw_file.c.sha256).where(raw_file.c.id == doc.raw_file_id)).scalar_one()
    errors: list[ex.RowError] = []
    with _opened(store, sha) as fh:
        for member in sorted(unzip_csvs(fh, LIMITS), key=lambda m: m.name):
            with member.open() as stream:
                for chunk in ex.read_chunks(stream, chunk_rows=chunk_rows, tdsp_code=ex.tdsp_code(doc.tdsp)):
                    outcome.rows_read += chunk.rows_read
                    outcome.rows_invalid += len(chunk.errors)
                    errors += chunk.errors[:max(0, ERRORS_SHOWN - len(errors))]
                    outcome.rows_applied += sp.apply_rows(conn, chunk.records, doc_id=doc.doc_id,
                                                          publish_date=doc.publish_date,
                                                          raw_file_id=doc.raw_file_id, now=now)
    if doc.kind == "FUL":
        outcome.retired = sp.retire_absent(conn, tdsp_code=ex.tdsp_code(doc.tdsp), full_doc_id=doc.doc_id,
                                           publish_date=doc.publish_date, now=now)
        outcome.rows_applied += outcome.retired
    outcome.error = _describe(errors, outcome.rows_invalid)
    sp.set_outcome(conn, doc.doc_id, status="applied", rows_read=outcome.rows_read, rows_applied=outcome.rows_applied,
                   rows_invalid=outcome.rows_invalid, error=outcome.error, applied_at=now)
    return outcome


def _settle_raw(engine: sa.Engine, raw_file_id: int, status: str, error: str | None) -> None:
    with engine.begin() as conn:
        conn.execute(sa.update(raw_file).where(raw_file.c.id == raw_file_id, raw_file.c.status == "received")
                     .values(status=status, error=error, normalized_at=dt.datetime.now(dt.timezone.utc)
                             if status == "normalized" else None))


def apply_document(engine: sa.Engine, store: RawStore, doc, *, now: dt.datetime,
                   chunk_rows: int = CHUNK_ROWS) -> FileOutcome:
    """Apply one stored (or already applied) document in one transaction; a failure is recorded on it."""
    try:
        with engine.begin() as conn:
            outcome = _apply_in(conn, store, doc, now, chunk_rows)
    except (ex.LayoutError, QuarantineError, ValueError, OSError, KeyError, sa.exc.SQLAlchemyError) as error:
        message = redact(f"{type(error).__name__}: {error}")[:2000]
        with engine.begin() as conn:
            sp.set_outcome(conn, doc.doc_id, status="failed", error=message)
        _settle_raw(engine, doc.raw_file_id, "failed", message)
        log.warning("ERCOT extract %s failed: %s", doc.doc_id, message)
        return FileOutcome(doc.doc_id, doc.tdsp, doc.kind, "failed", error=message)
    _settle_raw(engine, doc.raw_file_id, "normalized", None)
    log.info("ERCOT extract %s (%s %s): %d read, %d applied, %d refused", doc.doc_id, doc.tdsp, doc.kind,
             outcome.rows_read, outcome.rows_applied, outcome.rows_invalid)
    return outcome


def apply_pending(engine: sa.Engine, store: RawStore, *, now: dt.datetime,
                  chunk_rows: int = CHUNK_ROWS) -> list[FileOutcome]:
    """Every stored document, in ``apply_order`` (older ones marked superseded)."""
    with engine.begin() as conn:
        docs = sp.apply_order(conn)
    return [apply_document(engine, store, d, now=now, chunk_rows=chunk_rows) for d in docs]
