"""The uploads waiting for an ingest run (the upload sensor starts one for them).

Upload acceptance (limits, the ESIID scan, registration) is ``cdm.uploads``: the API takes uploads
without loading ingest or the parsers.
"""

from __future__ import annotations

import sqlalchemy as sa

from intelliwatt_pipelines.cdm.tables import raw_file, upload


def pending_uploads(engine: sa.Engine, limit: int = 10_000) -> list[tuple[int, int]]:
    """(raw_file id, size) of uploaded files not yet processed (status ``received``), oldest first.
    Processing sets another status, so a file stays pending exactly until a run has handled it."""
    r = raw_file.c
    uploaded = sa.select(upload.c.raw_file_id)  # also inbox files re-bound by an upload
    with engine.connect() as conn:
        rows = conn.execute(sa.select(r.id, r.size_bytes).where(
            r.id.in_(uploaded), r.status == "received", r.parent_id.is_(None)).order_by(r.id).limit(limit)).all()
    return [(row.id, row.size_bytes) for row in rows]
