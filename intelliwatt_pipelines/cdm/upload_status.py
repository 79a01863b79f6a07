"""What an uploader may see of its upload: the raw file's status, rows and errors, its own names only."""

from __future__ import annotations

import sqlalchemy as sa

from intelliwatt_pipelines.cdm.raw_files import PACKAGE_MEMBER_SEPARATOR
from intelliwatt_pipelines.cdm.tables import raw_file, upload
from intelliwatt_pipelines.pii import mask, redact

_ROWS = (raw_file.c.rows_read, raw_file.c.rows_valid, raw_file.c.rows_invalid, raw_file.c.rows_skipped)


def upload_status(conn: sa.Connection, upload_id: int, key: str | None) -> dict | None:
    """What the caller may see of one upload; None when it made no such upload with its API key (``key``
    None: the admin token, which sees every upload). The status is the raw file's, ``processing``
    while a package's members are being taken. Names are the caller's own (its file name, the
    members of its package); errors show no ESIID it did not give: the raw file is shared by every
    upload of its bytes, and its error may name one another upload bound it to."""
    u, r = upload.c, raw_file.c
    query = (sa.select(u.id, u.raw_file_id, u.filename, u.esiid, u.meter, u.size_bytes, u.received_at,
                       r.filename.label("raw_filename"), r.sha256, r.status, r.error, r.normalized_at,
                       *_ROWS)
             .join(raw_file, r.id == u.raw_file_id).where(u.id == upload_id))
    if key is not None:
        query = query.where(u.key_hash == key)
    row = conn.execute(query).first()
    if row is None:
        return None
    members = conn.execute(sa.select(r.filename, r.status, r.error, *_ROWS)  # first seen in this package
                           .where(r.parent_id == row.raw_file_id).order_by(r.id)).all()
    prefix = row.raw_filename + PACKAGE_MEMBER_SEPARATOR
    return {"upload_id": row.id, "raw_file_id": row.raw_file_id,
            "status": "processing" if row.status == "received" and members else row.status,
            "filename": row.filename, "esiid": row.esiid, "meter": row.meter, "size_bytes": row.size_bytes,
            "sha256": row.sha256, "received_at": row.received_at, "normalized_at": row.normalized_at,
            "rows": _rows(row), "error": _readable(row.error, row.esiid),
            "members": [{"filename": m.filename.removeprefix(prefix), "status": m.status, "rows": _rows(m),
                         "error": _readable(m.error, row.esiid)} for m in members]}


def _rows(row) -> dict | None:
    if row.rows_read is None:
        return None  # not processed yet
    return {"read": row.rows_read, "valid": row.rows_valid, "invalid": row.rows_invalid, "skipped": row.rows_skipped}


def _readable(text: str | None, given: str | None) -> str | None:
    """An error as the uploader may read it: ESIIDs masked, but the one it gave itself."""
    if not text:
        return None
    shown = redact(text)
    return shown.replace(mask(given), given) if given else shown
