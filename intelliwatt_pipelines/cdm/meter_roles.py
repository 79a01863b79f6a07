"""Meter roles (1PWR markets, vendor-apis.md §3): an account's primary meter, and check or backup meters
beside it. Each is its own meter in ``usage_interval`` (precedence merges only within one meter), and the
daily check-vs-primary reconciliation compares their kWh per local day with the billing tolerance."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa

from intelliwatt_pipelines.cdm.billing import Tolerance
from intelliwatt_pipelines.cdm.merge import dialect_insert
from intelliwatt_pipelines.cdm.tables import daily_completeness, meter_role
from intelliwatt_pipelines.pii import mask

DEFAULT_TOLERANCE = Tolerance()
COMPARISON_COLUMNS = ["esiid", "local_date", "primary_meter", "check_meter", "primary_kwh", "check_kwh",
                      "difference_kwh", "allowed_kwh", "status"]


def store_meter_roles(conn: sa.Connection, frame: pd.DataFrame, *, raw_file_id: int, now: dt.datetime) -> int:
    """Upsert (esiid, meter, role) rows. A meter serves one account: listed under another, it moves there (its
    readings bind to the new account from then on). Promoting a meter to primary demotes the account's other
    primary to ``check`` (one primary per account; the registry need not list the old one again)."""
    rows = frame[["esiid", "meter", "role"]].drop_duplicates(["esiid", "meter"], keep="last")
    m = meter_role.c
    for esiid, meter, role in rows.itertuples(index=False):
        conn.execute(meter_role.delete().where(m.meter == meter, m.esiid != esiid))
        if role == "primary":
            conn.execute(meter_role.update().where(m.esiid == esiid, m.meter != meter, m.role == "primary")
                         .values(role="check", updated_at=now))
        stmt = dialect_insert(conn, meter_role).values(esiid=esiid, meter=meter, role=role, raw_file_id=raw_file_id,
                                                       updated_at=now)
        conn.execute(stmt.on_conflict_do_update(
            index_elements=["esiid", "meter"],
            set_={"role": stmt.excluded.role, "raw_file_id": stmt.excluded.raw_file_id, "updated_at": now},
            where=m.role.is_distinct_from(stmt.excluded.role)))
    return len(rows)


def meter_accounts(conn: sa.Connection) -> dict[str, tuple[str, str]]:
    """Registered meter -> (account, meter): how a file that names only meters (1Meter IoT batches) finds
    its accounts."""
    m = meter_role.c
    return {meter: (esiid, meter) for esiid, meter in conn.execute(sa.select(m.esiid, m.meter))}


def roles_of(conn: sa.Connection, esiid: str) -> list[dict]:
    """An account's registered meters and their roles, primary first."""
    m = meter_role.c
    rows = conn.execute(sa.select(m.meter, m.role).where(m.esiid == esiid)).all()
    return sorted(({"meter": meter, "role": role} for meter, role in rows),
                  key=lambda r: (r["role"] != "primary", r["role"], r["meter"]))


def excluded_meters(conn: sa.Connection, esiid: str) -> set[str]:
    """An account's check and backup meters: stored, but not part of what the customer used."""
    return {r["meter"] for r in roles_of(conn, esiid) if r["role"] != "primary"}


def check_vs_primary(conn: sa.Connection, first: dt.date, last: dt.date, tolerance: Tolerance = DEFAULT_TOLERANCE,
                     esiid: str | None = None) -> pd.DataFrame:
    """Per account, check meter and local day in [first, last] where both it and the primary are complete
    (a day cut by the data's edge, or one a lagging source has not filled yet, is not compared): their kWh (daily_completeness.kwh_real) and whether they agree within ``tolerance`` of the
    primary's kWh (``match`` or ``mismatch``). ``esiid``: only that account."""
    primary, check = meter_role.alias("p"), meter_role.alias("c")
    pd_, cd = daily_completeness.alias("pd"), daily_completeness.alias("cd")
    query = (
        sa.select(primary.c.esiid, pd_.c.local_date, primary.c.meter, check.c.meter, pd_.c.kwh_real, cd.c.kwh_real)
        .select_from(primary.join(check, sa.and_(check.c.esiid == primary.c.esiid, check.c.role == "check"))
                     .join(pd_, sa.and_(pd_.c.esiid == primary.c.esiid, pd_.c.meter == primary.c.meter))
                     .join(cd, sa.and_(cd.c.esiid == check.c.esiid, cd.c.meter == check.c.meter,
                                       cd.c.channel == pd_.c.channel, cd.c.local_date == pd_.c.local_date)))
        .where(primary.c.role == "primary", pd_.c.channel == "consumption", pd_.c.local_date.between(first, last),
               pd_.c.status == "complete", cd.c.status == "complete",  # a part day would always disagree
               *([primary.c.esiid == esiid] if esiid else []))
        .order_by(primary.c.esiid, pd_.c.local_date, check.c.meter))
    rows = conn.execute(query).all()
    out = pd.DataFrame([tuple(r) for r in rows], columns=COMPARISON_COLUMNS[:6])
    out["difference_kwh"] = (out["check_kwh"] - out["primary_kwh"]).round(6)
    out["allowed_kwh"] = [tolerance.allowed(k) for k in out["primary_kwh"]]
    out["status"] = ["match" if abs(x) <= a else "mismatch" for x, a in zip(out["difference_kwh"],
                                                                              out["allowed_kwh"], strict=True)]
    return out[COMPARISON_COLUMNS]


def check_meter_disagreements(engine: sa.Engine, windows: dict[str, tuple[dt.date, dt.date]],
                              tolerance: Tolerance = DEFAULT_TOLERANCE) -> tuple[int, pd.DataFrame]:
    """(days compared, the ``mismatch`` rows) over ``windows`` (account -> first, last local day). Accounts
    without a check meter cost nothing: only those with one are read."""
    with engine.connect() as conn:
        m = meter_role.c
        checked = set(conn.execute(sa.select(m.esiid).where(m.role == "check").distinct()).scalars())
        found = [check_vs_primary(conn, first, last, tolerance, esiid=esiid)
                 for esiid, (first, last) in windows.items() if esiid in checked]
    days = pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=COMPARISON_COLUMNS)
    return len(days), days[days["status"] == "mismatch"]


def disagreement_table(bad: pd.DataFrame, limit: int = 50) -> str:
    """Markdown of the first ``limit`` disagreeing days, accounts masked (they identify customers)."""
    shown = bad.head(limit).assign(esiid=lambda f: f["esiid"].map(mask), local_date=lambda f: f["local_date"].map(str))
    return shown.drop(columns=["allowed_kwh", "status"]).to_markdown(index=False)
