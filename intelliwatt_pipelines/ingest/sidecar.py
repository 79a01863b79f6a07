"""Sidecar files: ``<file name>.meta.json`` beside an inbox file that names no ESIID (Green Button).

``{"esiid": "...", "meter": "..."}``, optionally ``"usage_points": {"<UsagePoint id>": {"esiid", "meter"}}``
for a feed holding several homes. The sidecar is read when its file is taken and recorded, as
received, in ``raw_file_hint``; a sidecar that cannot be used is recorded with the reason, which
the file's own error then repeats.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

import sqlalchemy as sa

from intelliwatt_pipelines import markets
from intelliwatt_pipelines.bounds import METER_RE
from intelliwatt_pipelines.cdm.merge import dialect_insert
from intelliwatt_pipelines.cdm.tables import raw_file, raw_file_hint
from intelliwatt_pipelines.transport import RemoteEntry

SUFFIX = ".meta.json"
MAX_BYTES = 64 * 1024


@dataclass(frozen=True)
class SidecarHint:
    esiid: str | None = None
    meter: str | None = None
    usage_points: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    error: str | None = None


def _pair(obj: dict, where: str) -> tuple[str | None, str | None]:
    esiid, meter = obj.get("esiid"), obj.get("meter")
    market = markets.active()
    if esiid is not None and not (isinstance(esiid, str) and market.identity.match(esiid)):
        raise ValueError(f"{where}esiid must be a string of {market.identity_rule}")
    if meter is not None and not (isinstance(meter, str) and METER_RE.fullmatch(meter)):
        raise ValueError(f"{where}meter must be 1-40 letters, digits, '.', '_' or '-'")
    return esiid, meter


def parse_sidecar(data: bytes) -> SidecarHint:
    """The hint a sidecar gives, or one carrying the reason it cannot be used."""
    try:
        if len(data) > MAX_BYTES:
            raise ValueError(f"larger than {MAX_BYTES} bytes")
        doc = json.loads(data.decode("utf-8-sig"))
        if not isinstance(doc, dict):
            raise ValueError("not a JSON object")
        esiid, meter = _pair(doc, "")
        points = doc.get("usage_points") or {}
        if not isinstance(points, dict) or not all(isinstance(v, dict) for v in points.values()):
            raise ValueError('usage_points must map UsagePoint ids to {"esiid", "meter"} objects')
        mapped = {str(k): _pair(v, f"usage_points[{k}].") for k, v in points.items()}
        return SidecarHint(esiid, meter, mapped)
    except (ValueError, UnicodeDecodeError) as exc:
        return SidecarHint(error=f"sidecar not usable: {exc}")


def read_sidecar(inbox, entry: RemoteEntry) -> bytes | None:
    """The sidecar's bytes from the same inbox, or None when there is none."""
    reader = getattr(inbox, "read_sidecar", None)
    return reader(entry.path + SUFFIX, MAX_BYTES + 1) if reader else None


def _document(data: bytes) -> str:
    return data[:MAX_BYTES].decode("utf-8", errors="replace")


def sidecar_is_news(engine: sa.Engine, raw_file_id: int, data: bytes) -> bool:
    """A known file that failed, now beside a sidecar it did not have (or a changed one): worth
    processing again (touch the file after adding its sidecar, so the inbox offers it again)."""
    with engine.connect() as conn:
        status = conn.execute(sa.select(raw_file.c.status).where(raw_file.c.id == raw_file_id)).scalar()
        recorded = conn.execute(sa.select(raw_file_hint.c.document).where(
            raw_file_hint.c.raw_file_id == raw_file_id)).scalar()
    return status == "failed" and recorded != _document(data)


def record_sidecar(engine: sa.Engine, raw_file_id: int, origin: str, data: bytes) -> SidecarHint:
    hint = parse_sidecar(data)
    values = dict(esiid=hint.esiid, meter=hint.meter, error=hint.error,
                  usage_points=json.dumps({k: list(v) for k, v in hint.usage_points.items()}),
                  origin=origin, document=_document(data),
                  recorded_at=dt.datetime.now(dt.timezone.utc))
    with engine.begin() as conn:
        stmt = dialect_insert(conn, raw_file_hint).values(raw_file_id=raw_file_id, **values)
        conn.execute(stmt.on_conflict_do_update(index_elements=["raw_file_id"], set_=values))
    return hint


def stored_hint(conn: sa.Connection, raw_file_ids: list[int]) -> SidecarHint | None:
    """The sidecar recorded for the file (or the package it came from)."""
    h = raw_file_hint.c
    row = conn.execute(sa.select(raw_file_hint).where(h.raw_file_id.in_(raw_file_ids))
                       .order_by(h.raw_file_id.desc()).limit(1)).first()
    if row is None:
        return None
    points = {k: tuple(v) for k, v in json.loads(row.usage_points or "{}").items()}
    return SidecarHint(row.esiid, row.meter, points, row.error)
