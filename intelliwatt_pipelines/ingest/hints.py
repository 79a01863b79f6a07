"""Which ESIID and meter a stored raw file's rows belong to when the file itself does not say."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

from intelliwatt_pipelines import kinds, markets
from intelliwatt_pipelines.cdm.meter_roles import meter_accounts
from intelliwatt_pipelines.cdm.tables import upload
from intelliwatt_pipelines.ingest.sidecar import SidecarHint, stored_hint
from intelliwatt_pipelines.sources.detect import meter_from_filename


@dataclass(frozen=True)
class Hints:
    """ESIID and meter for files that do not carry them (e.g. ``timestamp,kwh`` CSVs)."""

    esiid: str | None = None
    meter: str | None = None
    fallback_used: bool = False
    usage_points: dict = field(default_factory=dict)  # Green Button UsagePoint id (1Meter id) -> (esiid, meter)
    sidecar_error: str | None = None


def file_hints(conn: sa.Connection, row, fallback_esiid: str | None = None) -> Hints:
    """What the binding upload said (for the file or the package it came from), else its sidecar
    file, else the file name, else the development fallback. Only the upload that registered the bytes binds them (or
    one that re-bound a failed file): a later duplicate can never move rows already written. A
    child of a package is named ``<package>!<member>``, so the package's name counts too."""
    up = upload.c
    given = conn.execute(
        sa.select(up.esiid, up.meter).where(up.raw_file_id.in_([row.id, row.parent_id or row.id]),
                                            up.binds_hints.is_(True))
        .order_by(up.id.desc()).limit(1)).first()
    side = stored_hint(conn, [row.id, row.parent_id or row.id]) or SidecarHint()
    esiid = (given and given.esiid) or side.esiid or markets.active().id_in_text(row.filename)
    meter = (given and given.meter) or side.meter or meter_from_filename(row.filename)
    # 1Meter batches name only meters: the meter registry (meter_role) says whose they are
    points = meter_accounts(conn) if row.kind == kinds.ONEPWR_IOT_JSON else side.usage_points
    return Hints(esiid or fallback_esiid, meter, fallback_used=not esiid and bool(fallback_esiid),
                 usage_points=points, sidecar_error=side.error)
