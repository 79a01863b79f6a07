"""A customer's SMT agreement and subscription (vendor-apis.md §2.2): the ``smt_authorization`` rows.

Plain values in, plain rows out: the callers (Dagster jobs, the CLI) make the SMT calls and map SMT's
words to a status. ``contact_email_enc`` is ciphertext made elsewhere; nothing here sees a clear e-mail.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa

from intelliwatt_pipelines.cdm.fields.vendor import AGREEMENT_STATUSES, SUBSCRIPTION_STATUSES
from intelliwatt_pipelines.cdm.merge import dialect_insert
from intelliwatt_pipelines.cdm.tables import smt_authorization
from intelliwatt_pipelines.esiid import ESIID_RE

# SMT statuses after which an agreement no longer authorizes anything: its row is archived.
ARCHIVING = frozenset({"EXPIRED", "DECLINED"})
ACCOUNT_CLASSES = ("res", "com")
DEFAULT_MONTHS_BACK = 12  # residential (§2.2); an agreement first seen in /v2/myagreements/ gets this
_BATCH = 500  # agreement numbers per IN (...) lookup

t = smt_authorization.c


@dataclass(frozen=True)
class AgreementStatus:
    """One agreement as ``/v2/myagreements/`` reports it, status already mapped (§2.2)."""

    number: int
    esiid: str | None
    status: str  # PENDING | ACTIVE | DECLINED | EXPIRED | ERROR
    message: str


def _checked_status(status: str) -> str:
    if status not in AGREEMENT_STATUSES:
        raise ValueError(f"unknown SMT agreement status {status!r}; expected one of {sorted(AGREEMENT_STATUSES)}")
    return status


def _checked_esiid(esiid: str) -> str:
    # Kept whole: 17 or 22 digits, never padded or truncated (§2.2 defect 1).
    if not isinstance(esiid, str) or not ESIID_RE.match(esiid):
        raise ValueError("ESIID must be 17 or 22 digits")
    return esiid


def create_authorization(conn: sa.Connection, *, esiid: str, meter_number: str | None,
                         rep_puct_number: int | None, months_back: int, account_class: str,
                         contact_email_enc: str | None, now: dt.datetime, tdsp_code: str | None = None,
                         consent_text_version: str | None = None, consent_at: dt.datetime | None = None,
                         consent_ip_hash: str | None = None) -> int:
    """A new authorization, status PENDING (no agreement number until NewAgreement answers). Returns its id."""
    if account_class not in ACCOUNT_CLASSES:
        raise ValueError(f"account_class must be one of {ACCOUNT_CLASSES}")
    if not 1 <= months_back <= 24:
        raise ValueError("months_back must be 1..24")
    return conn.execute(sa.insert(smt_authorization).values(
        esiid=_checked_esiid(esiid), meter_number=meter_number, tdsp_code=tdsp_code,
        rep_puct_number=rep_puct_number, months_back=months_back, account_class=account_class,
        consent_text_version=consent_text_version, consent_at=consent_at, consent_ip_hash=consent_ip_hash,
        contact_email_enc=contact_email_enc, smt_status="PENDING", created_at=now, updated_at=now,
    ).returning(t.id)).scalar_one()


def _update_if_changed(conn: sa.Connection, authorization_id: int, values: dict, now: dt.datetime) -> bool:
    """Write ``values`` when any differs from the stored row (then also ``updated_at``). True if written."""
    row = conn.execute(sa.select(*[t[k] for k in values]).where(t.id == authorization_id)).first()
    if row is None:
        raise LookupError(f"no smt_authorization {authorization_id}")
    if all(getattr(row, k) == v for k, v in values.items()):
        return False
    conn.execute(smt_authorization.update().where(t.id == authorization_id).values(**values, updated_at=now))
    return True


def _archived_at(conn: sa.Connection, authorization_id: int, status: str, now: dt.datetime) -> dict:
    """``archived_at`` to write: now when the status archives and the row is not archived yet."""
    if status not in ARCHIVING:
        return {}
    current = conn.execute(sa.select(t.archived_at).where(t.id == authorization_id)).scalar_one_or_none()
    return {} if current is not None else {"archived_at": now}


def set_agreement(conn: sa.Connection, authorization_id: int, *, agreement_number: int | None, status: str,
                  message: str | None, now: dt.datetime, start: dt.date | None = None,
                  end: dt.date | None = None) -> None:
    """Record NewAgreement's answer: the agreement number, mapped status and SMT's words (a failed call:
    status ERROR, number None, the reason as message). ``start``/``end`` are written only when given."""
    values = {"smt_agreement_number": agreement_number, "smt_status": _checked_status(status),
              "smt_status_message": message}
    values |= {k: v for k, v in (("authorization_start", start), ("authorization_end", end)) if v is not None}
    values |= _archived_at(conn, authorization_id, status, now)
    _update_if_changed(conn, authorization_id, values, now)


def _known(conn: sa.Connection, numbers: list[int]) -> dict[int, dict]:
    known: dict[int, dict] = {}
    cols = (t.id, t.smt_agreement_number, t.smt_status, t.smt_status_message, t.archived_at, t.last_sync_at)
    for i in range(0, len(numbers), _BATCH):
        rows = conn.execute(sa.select(*cols).where(t.smt_agreement_number.in_(numbers[i:i + _BATCH]))).all()
        known |= {r.smt_agreement_number: r._asdict() for r in rows}
    return known


def _apply_known(conn: sa.Connection, row: dict, a: AgreementStatus, now: dt.datetime) -> bool:
    """Update one known agreement; True when its status, message or archival changed."""
    values = {"smt_status": a.status, "smt_status_message": a.message}
    if a.status in ARCHIVING and row["archived_at"] is None:
        values["archived_at"] = now
    changed = any(row[k] != v for k, v in values.items())
    if changed:
        values["updated_at"] = now
    if changed or row["last_sync_at"] != now:  # last_sync_at: when SMT last reported it, changed or not
        conn.execute(smt_authorization.update().where(t.id == row["id"]).values(**values, last_sync_at=now))
    row.update(values, last_sync_at=now)
    return changed


def _insert_unknown(conn: sa.Connection, a: AgreementStatus, now: dt.datetime) -> dict | None:
    """A row for an agreement made outside this warehouse (e.g. on SMT's portal); None if one raced in."""
    values = {"esiid": a.esiid, "months_back": DEFAULT_MONTHS_BACK, "account_class": "res",
              "smt_agreement_number": a.number, "smt_status": a.status, "smt_status_message": a.message,
              "last_sync_at": now, "archived_at": now if a.status in ARCHIVING else None,
              "created_at": now, "updated_at": now}
    new_id = conn.execute(dialect_insert(conn, smt_authorization).values(**values)
                          .on_conflict_do_nothing(index_elements=["smt_agreement_number"])
                          .returning(t.id)).scalar()
    return None if new_id is None else dict(values, id=new_id)


def apply_agreements(conn: sa.Connection, agreements: Iterable[AgreementStatus], now: dt.datetime) -> dict:
    """Upsert ``/v2/myagreements/`` by agreement number. Known rows get status, message and
    ``last_sync_at`` (``updated_at`` only when status, message or archival changed); unknown numbers
    get a row (12 months, residential) when an ESIID is given, else count as failed. EXPIRED and
    DECLINED archive the row. The same list twice (same ``now``) changes nothing.

    Returns counts ``{scanned, updated, inserted, unchanged, failed}``."""
    agreements = [AgreementStatus(int(a.number), a.esiid, _checked_status(a.status), a.message)
                  for a in agreements]
    known = _known(conn, sorted({a.number for a in agreements}))
    counts = dict.fromkeys(("scanned", "updated", "inserted", "unchanged", "failed"), 0)
    for a in agreements:
        counts["scanned"] += 1
        if a.number in known:
            counts["updated" if _apply_known(conn, known[a.number], a, now) else "unchanged"] += 1
        elif not (isinstance(a.esiid, str) and ESIID_RE.match(a.esiid)):
            counts["failed"] += 1
        elif (row := _insert_unknown(conn, a, now)) is not None:
            known[a.number] = row
            counts["inserted"] += 1
        else:  # inserted by a concurrent sync a moment ago: update it as a known row
            known |= _known(conn, [a.number])
            counts["updated" if _apply_known(conn, known[a.number], a, now) else "unchanged"] += 1
    return counts


def set_subscription(conn: sa.Connection, authorization_id: int, *, status: str, number: str | None,
                     message: str | None, now: dt.datetime) -> None:
    """Record a subscription outcome (created, already_active, failed, unsubscribed). A number is
    kept when the answer gives none; the message (e.g. why it failed) goes to ``smt_status_message``."""
    if status not in SUBSCRIPTION_STATUSES:
        raise ValueError(f"unknown subscription status {status!r}; expected one of {sorted(SUBSCRIPTION_STATUSES)}")
    values: dict = {"smt_subscription_status": status}
    if number is not None:
        values["smt_subscription_number"] = number
    if message is not None:
        values["smt_status_message"] = message
    _update_if_changed(conn, authorization_id, values, now)


def _active():
    return sa.and_(t.smt_status == "ACTIVE", t.archived_at.is_(None))


def active_esiids(conn: sa.Connection) -> list[str]:
    """Distinct ESIIDs with an ACTIVE, unarchived authorization (however many agreements each has)."""
    return list(conn.execute(sa.select(t.esiid).where(_active()).distinct().order_by(t.esiid)).scalars())


def active_for(conn: sa.Connection, esiid: str) -> list[sa.Row]:
    """The ACTIVE, unarchived authorizations of one ESIID (e.g. every agreement a cancel terminates)."""
    return list(conn.execute(sa.select(smt_authorization).where(_active(), t.esiid == esiid).order_by(t.id)))


def needing_subscription(conn: sa.Connection) -> list[sa.Row]:
    """ACTIVE, unarchived authorizations with no subscription outcome yet, or a failed one."""
    pending = sa.or_(t.smt_subscription_status.is_(None), t.smt_subscription_status == "failed")
    return list(conn.execute(sa.select(smt_authorization).where(_active(), pending).order_by(t.id)))


def archive(conn: sa.Connection, authorization_id: int, now: dt.datetime, message: str | None) -> None:
    """Archive an authorization (terminated or superseded); an archived row keeps its first archival time."""
    values: dict = {"smt_status_message": message} if message is not None else {}
    current = conn.execute(sa.select(t.archived_at).where(t.id == authorization_id)).scalar_one_or_none()
    if current is None:
        values["archived_at"] = now
    if values:
        _update_if_changed(conn, authorization_id, values, now)
