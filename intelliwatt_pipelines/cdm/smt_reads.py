"""Read queries over the SMT API bookkeeping (vendor-apis.md §2.2–2.3) for the admin routes.

Lists are newest first (id descending) and page by keyset: ``after_id`` is the last id of the
previous page, so a page continues with the ids below it. Rows are plain dicts, ready to render:
a customer's encrypted e-mail is never read out (only whether one is stored), comma-separated raw
file ids become lists and stored JSON text becomes objects.
"""

from __future__ import annotations

import orjson
import sqlalchemy as sa

from intelliwatt_pipelines.cdm.tables import smt_api_call, smt_authorization, smt_backfill_request, smt_meter_info

# Every smt_authorization column but the ciphertext, which never leaves the warehouse by this route;
# nor does the consent IP's hash: nothing an admin view needs.
_HIDDEN = ("contact_email_enc", "consent_ip_hash")
_AUTHORIZATION = [c for c in smt_authorization.c if c.name not in _HIDDEN]


def _page(conn: sa.Connection, query: sa.Select, id_column, where: list, after_id: int | None,
          limit: int) -> tuple[list[dict], int | None]:
    """Up to ``limit`` rows below ``after_id``, newest first, and the id to continue after (None on
    the last page)."""
    if after_id is not None:
        where = [*where, id_column < after_id]
    rows = conn.execute(query.where(*where).order_by(id_column.desc()).limit(limit + 1)).all()
    more = len(rows) > limit  # one row more than asked: there is a next page
    out = [{str(k): v for k, v in r._mapping.items()} for r in rows[:limit]]
    return out, (out[-1]["id"] if more else None)


def list_authorizations(conn: sa.Connection, *, esiid: str | None = None, status: str | None = None,
                        after_id: int | None = None, limit: int) -> tuple[list[dict], int | None]:
    """Agreements (smt_authorization rows), optionally of one ESIID and ``smt_status``, with
    ``has_contact_email`` instead of the encrypted e-mail; and the id the next page continues after."""
    a = smt_authorization.c
    where = ([a.esiid == esiid] if esiid else []) + ([a.smt_status == status] if status else [])
    has_email = a.contact_email_enc.is_not(None).label("has_contact_email")
    rows, nxt = _page(conn, sa.select(*_AUTHORIZATION, has_email), a.id, where, after_id, limit)
    for row in rows:
        row["has_contact_email"] = bool(row["has_contact_email"])  # SQLite answers 0 or 1
    return rows, nxt


def list_backfills(conn: sa.Connection, *, esiid: str | None = None, status: str | None = None,
                   after_id: int | None = None, limit: int) -> tuple[list[dict], int | None]:
    """Backfill requests (smt_backfill_request rows), optionally of one ESIID and status."""
    b = smt_backfill_request.c
    where = ([b.esiid == esiid] if esiid else []) + ([b.status == status] if status else [])
    rows, nxt = _page(conn, sa.select(smt_backfill_request), b.id, where, after_id, limit)
    for row in rows:
        row["delivered_raw_file_ids"] = raw_file_ids(row["delivered_raw_file_ids"])
        row["last_report_status"] = json_value(row.pop("last_report_status_json"))
    return rows, nxt


def meter_info_for(conn: sa.Connection, esiid: str) -> list[dict]:
    """The ESIID's smt_meter_info rows, by meter number (empty when SMT described none)."""
    m = smt_meter_info.c
    rows = conn.execute(sa.select(smt_meter_info).where(m.esiid == esiid).order_by(m.meter_number)).all()
    return [{str(k): v for k, v in r._mapping.items()} for r in rows]


def recent_calls(conn: sa.Connection, *, esiid: str | None = None, endpoint: str | None = None,
                 after_id: int | None = None, limit: int) -> tuple[list[dict], int | None]:
    """SMT API calls (smt_api_call audit rows), newest first, optionally of one ESIID and endpoint;
    ``request_redacted`` as the JSON object it holds."""
    c = smt_api_call.c
    where = ([c.esiid == esiid] if esiid else []) + ([c.endpoint == endpoint] if endpoint else [])
    rows, nxt = _page(conn, sa.select(smt_api_call), c.id, where, after_id, limit)
    for row in rows:
        parsed = json_value(row["request_redacted"])
        row["request_redacted"] = parsed if isinstance(parsed, dict) else None
    return rows, nxt


def raw_file_ids(text: str | None) -> list[int]:
    """``"12,15"`` → ``[12, 15]``; anything that is not an id is left out."""
    parts = (p.strip() for p in (text or "").split(","))
    return [int(p) for p in parts if p.isascii() and p.isdigit()]


def json_value(text: str | None):
    """Stored JSON text as its value; None for none, or for text that is not JSON."""
    if not text:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
