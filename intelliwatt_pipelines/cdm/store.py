"""Revision-aware writes to the canonical tables, and the reads that feed completeness.

Intervals are deduplicated in the batch and compared with the stored rows of their range: a batch
stored exactly as delivered writes nothing, a range with nothing stored is COPYed straight in, and
anything else is staged and merged with one ``INSERT … SELECT … ON CONFLICT DO UPDATE … WHERE``
whose WHERE admits only a row that wins by the rules and really differs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import numpy as np
import pandas as pd
import psycopg
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from intelliwatt_pipelines.cdm.completeness import COLUMNS as COMPLETENESS_COLUMNS
from intelliwatt_pipelines.cdm.completeness import AGGREGATES, day_aggregates
from intelliwatt_pipelines.cdm.completeness import daily_completeness as compute_completeness
from intelliwatt_pipelines.cdm.pgcopy import PG_EPOCH_US, binary_payload, read_fixed, unix_us
from intelliwatt_pipelines.model import CENTRAL_TZ
from intelliwatt_pipelines.cdm.normalize import (
    QUALITY_RANK, SERIES, day_bounds_utc, local_dates, newest_per_key, touched_days,
)
from intelliwatt_pipelines.cdm.precedence import DEFAULT_PRECEDENCE, Precedence
from intelliwatt_pipelines.cdm.tables import (
    daily_completeness,
    raw_file_coverage,
    usage_interval,
)

INTERVAL_VALUES = ["interval_minutes", "kwh", "quality", "revised_at", "source", "raw_file_id"]


def dialect_insert(conn: sa.Connection, table: sa.Table):
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def _stage(conn: sa.Connection, table: sa.Table) -> sa.Table:
    """A per-connection temporary copy of ``table``'s columns, emptied for this batch."""
    name = f"stage_{table.name}"
    stage = sa.Table(name, sa.MetaData(), *[sa.Column(c.name, c.type) for c in table.columns],
                     prefixes=["TEMPORARY"])
    stage.create(conn, checkfirst=True)
    conn.execute(stage.delete())
    return stage


def _records(frame: pd.DataFrame, columns: list[str]) -> list[tuple]:
    values = frame[columns].astype(object)
    return list(values.where(values.notna(), None).itertuples(index=False, name=None))


def _load(conn: sa.Connection, stage: sa.Table, frame: pd.DataFrame) -> None:
    columns = [c.name for c in stage.columns]
    if conn.dialect.name == "postgresql":
        _copy(conn, stage, frame)
    elif len(frame):
        conn.execute(stage.insert(), [dict(zip(columns, r)) for r in _records(frame, columns)])


def _copy(conn: sa.Connection, table: sa.Table, frame: pd.DataFrame) -> None:
    """COPY ``frame`` into ``table`` (PostgreSQL): one binary payload built with numpy when the
    columns allow it, else row by row."""
    columns = [c.name for c in table.columns]
    cursor = conn.connection.dbapi_connection.cursor()
    payload = binary_payload(frame, list(table.columns))
    if payload is not None:
        with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(payload)
        return
    with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in _records(frame, columns):
            copy.write_row(row)


def _winner_condition(target: sa.Table, incoming, compared: tuple[str, ...],
                      precedence: Precedence | None = None) -> sa.ColumnElement[bool]:
    """Does the incoming row replace the stored one? Within a source (or without ``precedence``),
    the revision rules of ``normalize.newest_per_key``; across sources, the precedence rank first.
    Only a row whose ``compared`` values differ is written, so identical data writes nothing."""
    t, e = target.c, incoming
    both_real = sa.and_(t.quality != "filled", e.quality != "filled")
    same_revision = sa.or_(sa.and_(t.revised_at.is_(None), e.revised_at.is_(None)), t.revised_at == e.revised_at)
    wins = sa.or_(
        sa.and_(t.quality == "filled", e.quality != "filled"),
        sa.and_(both_real, sa.or_(
            e.revised_at > t.revised_at,
            sa.and_(t.revised_at.is_(None), e.revised_at.is_not(None)),
            sa.and_(same_revision, e.quality == "actual", t.quality == "estimated"),
            # A full tie (same revision, same quality; e.g. CSVs with no revision date): the later
            # delivery wins, as in newest_per_key.
            sa.and_(same_revision, t.quality == e.quality),
        )),
    )
    changed = sa.or_(*[getattr(e, c).is_distinct_from(getattr(t, c)) for c in compared])
    if precedence is not None:
        rank_t, rank_e = precedence.sql_rank(t.source, t.quality), precedence.sql_rank(e.source, e.quality)
        other = t.source != e.source
        wins = sa.or_(sa.and_(other, rank_e < rank_t), sa.and_(sa.or_(~other, rank_e == rank_t), wins))
        changed = sa.or_(changed, e.source.is_distinct_from(t.source))
    return sa.and_(wins, changed)


def merge_rows(conn: sa.Connection, table: sa.Table, batch: pd.DataFrame, *, values: list[str],
               compared: tuple[str, ...], precedence: Precedence | None = None,
               within: list[sa.ColumnElement[bool]] | None = None) -> int:
    """Stage ``batch`` (one row per key) and merge it into ``table`` by the revision rules.
    ``within`` (conditions on ``table`` that every stored row matching the batch meets) lets a
    batch that changes nothing be found with one read. Returns the number of rows inserted or changed."""
    stage = _stage(conn, table)
    _load(conn, stage, batch)
    if within is not None and not _changes_anything(conn, table, stage, within, compared, precedence):
        # Re-deliveries are mostly rows already stored: a read-only join is much cheaper than an
        # upsert that finds nothing to do. Safe without locks: a row equal to the stored one can
        # only lose to whatever another writer puts there, as the stored one would.
        return 0
    columns = [c.name for c in table.columns]
    stmt = dialect_insert(conn, table).from_select(columns, sa.select(*stage.c).where(sa.true()))
    stmt = stmt.on_conflict_do_update(
        index_elements=[c.name for c in table.primary_key],
        set_={c: getattr(stmt.excluded, c) for c in values},
        where=_winner_condition(table, stmt.excluded, compared, precedence),
    )
    return conn.execute(stmt.execution_options(preserve_rowcount=True)).rowcount


def _changes_anything(conn: sa.Connection, table: sa.Table, stage: sa.Table, within: list,
                      compared: tuple[str, ...], precedence: Precedence | None) -> bool:
    """Would merging ``stage`` insert or change any row of ``table``? The stored side is limited
    by ``within`` so PostgreSQL hashes one index range instead of probing the index per row."""
    stored = sa.select(table).where(*within).subquery("stored")
    keys = [c.name for c in table.primary_key]
    on = sa.and_(*[stored.c[k] == stage.c[k] for k in keys])
    news = sa.or_(stored.c[keys[0]].is_(None), _winner_condition(stored, stage.c, compared, precedence))
    query = sa.select(sa.func.count()).select_from(stage.outerjoin(stored, on)).where(news)
    return bool(conn.execute(query).scalar_one())


def upsert_intervals(conn: sa.Connection, frame: pd.DataFrame, *, source: str, raw_file_id: int,
                     precedence: Precedence = DEFAULT_PRECEDENCE) -> int:
    """Merge an interval frame into ``usage_interval``. Returns the number of rows inserted or changed."""
    if frame.empty:
        return 0
    batch = newest_per_key(frame).assign(source=source, raw_file_id=raw_file_id)
    batch, removed, fresh, unchanged = _resolve_overlaps(conn, batch, source)
    if batch.empty or unchanged:
        return removed
    if fresh and _copy_fresh(conn, batch):
        return removed + len(batch)
    u = usage_interval.c
    within = [u.esiid.in_(sorted(batch["esiid"].unique())), u.ts_utc >= batch["ts_utc"].min().to_pydatetime(),
              u.ts_utc <= batch["ts_utc"].max().to_pydatetime()]
    return removed + merge_rows(conn, usage_interval, batch, values=INTERVAL_VALUES,
                                compared=("interval_minutes", "kwh", "quality", "revised_at"), precedence=precedence,
                                within=within)


def _copy_fresh(conn: sa.Connection, batch: pd.DataFrame) -> bool:
    """COPY a batch whose time ranges hold no stored rows straight into ``usage_interval`` (the
    first delivery of a home or of new days): nothing to merge with, so no staging and no upsert.
    False (nothing written) when another transaction wrote the same keys meanwhile, or off
    PostgreSQL: the caller merges instead."""
    if conn.dialect.name != "postgresql" or batch.empty:
        return False
    try:
        with conn.begin_nested():
            _copy(conn, usage_interval, batch)
    except psycopg.errors.UniqueViolation:
        return False
    return True


def _resolve_overlaps(conn: sa.Connection, batch: pd.DataFrame, source: str) -> tuple[pd.DataFrame, int, bool, bool]:
    """Time covered at two interval lengths (hourly Green Button and 15-minute SMT, say) never
    keeps both: see ``_overlap_losers``. Reads each series' stored rows around the batch once.
    Returns the batch without its losers, the number of stored rows deleted, whether no stored row
    lies in any series' time range (``fresh``: no key can conflict) and whether every row of the
    batch is stored already exactly as delivered (a re-delivery: nothing to write, whatever the
    revision rules). (Precedence decides between values of one length, in the upsert.)"""
    u = usage_interval.c
    kept, deleted, fresh, same = [], 0, True, True
    for key, rows in batch.groupby(SERIES, sort=False):
        lo = rows["ts_utc"].min() - pd.Timedelta(hours=1)
        hi = rows["ts_utc"].max() + pd.Timedelta(minutes=int(rows["interval_minutes"].max()))
        stored = stored_series(conn, key, lo.to_pydatetime(), hi.to_pydatetime(), source)
        ts = unix_us(rows["ts_utc"])
        # no stored row between the batch's first and last start: the next days of a series (a
        # daily delivery, a chunk of a large file) are as fresh as a first delivery
        fresh = fresh and not ((stored["ts"] >= ts.min()) & (stored["ts"] <= ts.max())).any()
        if len(set(stored["minutes"].tolist()) | set(rows["interval_minutes"])) <= 1:
            kept.append(rows)
            same = same and _same_as_stored(rows, ts, stored)
            continue
        same = False
        stored = pd.DataFrame({"ts_utc": pd.to_datetime(stored["ts"], unit="us", utc=True),
                               "interval_minutes": stored["minutes"],
                               "quality": QUALITY_BY_RANK[stored["quality"]]})
        lose_in, lose_stored = _overlap_losers(rows, stored)
        kept.append(rows[~lose_in])
        if lose_stored.any():
            gone = [t.to_pydatetime() for t in stored.loc[lose_stored, "ts_utc"]]
            deleted += conn.execute(usage_interval.delete().where(
                u.esiid == key[0], u.meter == key[1], u.channel == key[2], u.ts_utc.in_(gone))).rowcount
    return (pd.concat(kept, ignore_index=True) if kept else batch.iloc[:0]), deleted, fresh, same


QUALITY_BY_RANK = np.asarray(sorted(QUALITY_RANK, key=QUALITY_RANK.get), dtype=object)
STORED_FIELDS = [("ts", "timestamptz"), ("minutes", "int2"), ("kwh", "float8"), ("quality", "int2"),
                 ("revised", "timestamptz"), ("same_source", "bool")]
STORED_SQL = """SELECT ts_utc, interval_minutes, kwh,
    (CASE quality """ + " ".join(f"WHEN '{q}' THEN {r}" for q, r in QUALITY_RANK.items()) + """ END)::int2,
    coalesce(revised_at, '-infinity'::timestamptz), source = %s
  FROM usage_interval
  WHERE esiid = %s AND meter = %s AND channel = %s AND ts_utc >= %s AND ts_utc < %s
  ORDER BY ts_utc"""


def stored_series(conn: sa.Connection, key: tuple, lo: dt.datetime, hi: dt.datetime, source: str) -> dict[str, np.ndarray]:
    """One series' stored rows starting in [lo, hi), by time, as arrays: ``ts`` and ``revised`` in
    microseconds since the Unix epoch (no revision = INT64_MIN, as NaT), ``minutes``, ``kwh``,
    ``quality`` (its QUALITY_RANK) and ``same_source`` (stored by ``source``). On PostgreSQL
    one binary COPY that numpy reads as it is: a home-year in a few ms instead of 35,040 tuples."""
    if conn.dialect.name == "postgresql":
        with conn.connection.dbapi_connection.cursor() as cursor:
            rows = read_fixed(cursor, STORED_SQL, (source, *key, lo, hi), STORED_FIELDS)
        revised = rows["revised"].astype(np.int64)
        return {"ts": rows["ts"].astype(np.int64) + PG_EPOCH_US, "minutes": rows["minutes"].astype(np.int64),
                "kwh": rows["kwh"].astype(np.float64), "quality": rows["quality"].astype(np.int64),
                "revised": np.where(revised == np.iinfo(np.int64).min, revised, revised + PG_EPOCH_US),
                "same_source": rows["same_source"].astype(bool)}
    u = usage_interval.c
    found = pd.DataFrame(conn.execute(
        sa.select(u.ts_utc, u.interval_minutes, u.kwh, u.quality, u.revised_at, u.source)
        .where(u.esiid == key[0], u.meter == key[1], u.channel == key[2], u.ts_utc >= lo, u.ts_utc < hi)
        .order_by(u.ts_utc)).all(), columns=["ts_utc", "interval_minutes", "kwh", "quality", "revised_at", "source"])
    return {"ts": unix_us(found["ts_utc"]), "minutes": found["interval_minutes"].to_numpy(np.int64),
            "kwh": found["kwh"].to_numpy(np.float64), "quality": _quality_codes(found["quality"]),
            "revised": unix_us(found["revised_at"]), "same_source": (found["source"] == source).to_numpy(bool)}


def stored_intervals(conn: sa.Connection, esiid: str, lo: dt.datetime, hi: dt.datetime) -> pd.DataFrame:
    """An ESIID's stored intervals starting in [lo, hi), read series by series with
    ``stored_series`` (binary COPY on PostgreSQL: ~100 x fewer Python objects than rows)."""
    u = usage_interval.c
    keys = conn.execute(sa.select(u.meter, u.channel).distinct().where(
        u.esiid == esiid, u.ts_utc >= lo, u.ts_utc < hi)).all()
    frames = []
    for meter, channel in sorted(keys):
        rows = stored_series(conn, (esiid, meter, channel), lo, hi, source="")
        frames.append(pd.DataFrame({
            "esiid": esiid, "meter": meter, "channel": channel,
            "ts_utc": pd.to_datetime(rows["ts"], unit="us", utc=True), "interval_minutes": rows["minutes"],
            "kwh": rows["kwh"], "quality": QUALITY_BY_RANK[rows["quality"]],
            "revised_at": pd.to_datetime(np.where(rows["revised"] == np.iinfo(np.int64).min, np.nan,
                                                  rows["revised"]), unit="us", utc=True)}))
    columns = ["esiid", "meter", "channel", "ts_utc", "interval_minutes", "kwh", "quality", "revised_at"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def _quality_codes(values: pd.Series) -> np.ndarray:
    """Quality as its QUALITY_RANK (-1 for anything else, which matches nothing stored)."""
    return values.map(QUALITY_RANK).fillna(-1).to_numpy(np.int64)


def _same_as_stored(rows: pd.DataFrame, ts: np.ndarray, stored: dict[str, np.ndarray]) -> bool:
    """Is every row (one series, one per start, one source) stored with exactly these values?
    Then merging it cannot change anything: the merge writes only rows that differ."""
    at = np.searchsorted(stored["ts"], ts)
    if (at >= len(stored["ts"])).any():
        return False
    return bool((stored["ts"][at] == ts).all()
                and (stored["minutes"][at] == rows["interval_minutes"].to_numpy(np.int64)).all()
                and (stored["kwh"][at] == rows["kwh"].to_numpy(np.float64)).all()
                and (stored["quality"][at] == _quality_codes(rows["quality"])).all()
                and (stored["revised"][at] == unix_us(rows["revised_at"])).all()
                and stored["same_source"][at].all())


def _overlap_losers(rows: pd.DataFrame, stored: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Which incoming and stored rows give way where lengths overlap: finer real data wins.

    For each longer ("coarse") row and the shorter rows starting inside it, incoming and stored
    alike: if any of the shorter rows is a real reading (or the coarse row is only a placeholder),
    the coarse row goes and the shorter rows stay; otherwise (only placeholders under a real
    coarse reading) the shorter rows go. An hour cannot be split into quarter-hours without
    inventing values, so where finer real data exists it is what stays, even if it covers only
    part of the hour. The decision depends only on which rows exist, never on which came first,
    and a stored row at the same start and length as an incoming one shares its fate.
    """
    both = pd.concat([rows[["ts_utc", "interval_minutes", "quality"]].assign(_new=True),
                      stored[["ts_utc", "interval_minutes", "quality"]].assign(_new=False)], ignore_index=True)
    order = np.argsort(both["ts_utc"].to_numpy(), kind="mergesort")
    both = both.iloc[order].reset_index(drop=True)
    start = (both["ts_utc"].astype("datetime64[us, UTC]").astype("int64") // 1_000_000).to_numpy()
    length = both["interval_minutes"].to_numpy().astype(np.int64)
    real = (both["quality"] != "filled").to_numpy()
    first = np.searchsorted(start, start, side="left")
    stop = np.searchsorted(start, start + length * 60, side="left")
    counts = stop - first
    coarse = np.repeat(np.arange(len(both)), counts)
    fine = np.repeat(first, counts) + (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts))
    pair = length[fine] < length[coarse]
    coarse, fine = coarse[pair], fine[pair]
    coarse_loses = np.zeros(len(both), dtype=bool)
    coarse_loses[coarse[real[fine] | ~real[coarse]]] = True
    lose = coarse_loses.copy()
    lose[fine[~coarse_loses[coarse]]] = True
    new = both["_new"].to_numpy()
    lose_in = np.zeros(len(rows), dtype=bool)
    lose_stored = np.zeros(len(stored), dtype=bool)
    lose_in[order[new & lose]] = True  # both's row i came from concat position order[i]
    lose_stored[order[~new & lose] - len(rows)] = True
    return lose_in, lose_stored


def coverage_of(frame: pd.DataFrame, days: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per series in a frame: first and last local day and the number of intervals (``days``: the
    frame's ``touched_days`` when already known)."""
    days = touched_days(frame) if days is None else days
    cov = days.groupby(SERIES, sort=False).agg(first_local_date=("local_date", "min"),
                                               last_local_date=("local_date", "max"))
    cov["intervals"] = frame.groupby(SERIES, sort=False).size()
    return cov.reset_index()


def write_coverage(conn: sa.Connection, raw_file_id: int, frame: pd.DataFrame | None = None, *,
                   coverage: pd.DataFrame | None = None) -> None:
    """Record which series and local days a raw file holds (for rebuilding from raw): from its
    frame, or from ``coverage_of`` of its parts (summed here) when it was written in chunks."""
    cov = coverage_of(frame) if frame is not None and not frame.empty else coverage
    if cov is None or cov.empty:
        return
    cov = cov.groupby(SERIES, sort=False).agg(first_local_date=("first_local_date", "min"),
                                              last_local_date=("last_local_date", "max"),
                                              intervals=("intervals", "sum")).reset_index()
    rows = [dict(r, raw_file_id=raw_file_id, intervals=int(r["intervals"])) for r in cov.to_dict("records")]
    stmt = dialect_insert(conn, raw_file_coverage).values(rows)
    stmt = stmt.on_conflict_do_update(
        index_elements=["raw_file_id"] + SERIES,
        set_={c: getattr(stmt.excluded, c) for c in ("first_local_date", "last_local_date", "intervals")},
    )
    conn.execute(stmt)


def read_intervals(conn: sa.Connection, esiid: str, meter: str, channel: str,
                   start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    t = usage_interval.c
    rows = conn.execute(
        sa.select(t.ts_utc, t.interval_minutes, t.kwh, t.quality)
        .where(t.esiid == esiid, t.meter == meter, t.channel == channel,
               t.ts_utc >= start.to_pydatetime(), t.ts_utc < end.to_pydatetime())).all()
    # column by column: a DataFrame built from Row objects costs ten times more
    ts, minutes, kwh, quality = zip(*rows) if rows else ((), (), (), ())
    n = len(rows)
    return pd.DataFrame({
        "esiid": esiid, "meter": meter, "channel": channel,
        "ts_utc": pd.to_datetime(pd.Series(ts, dtype=object, index=pd.RangeIndex(n)), utc=True)
        .astype("datetime64[us, UTC]"),
        "interval_minutes": np.array(minutes, dtype=np.int64), "kwh": np.array(kwh, dtype=np.float64),
        "quality": pd.Series(quality, dtype=object, index=pd.RangeIndex(n)),
    }, index=pd.RangeIndex(n))


def read_day_aggregates(conn: sa.Connection, esiid: str, meter: str, channel: str,
                        start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """``completeness.day_aggregates`` of one series' intervals in [start, end). PostgreSQL groups
    by Central day itself (a few hundred rows back instead of a year of intervals); SQLite has no
    time zones, so there the intervals are read and grouped in pandas."""
    if conn.dialect.name != "postgresql":
        return day_aggregates(read_intervals(conn, esiid, meter, channel, start, end))
    u = usage_interval.c
    day = sa.cast(sa.func.timezone(CENTRAL_TZ, u.ts_utc), sa.Date).label("local_date")
    rows = conn.execute(
        sa.select(day, u.interval_minutes, u.quality, sa.func.count().label("n"), sa.func.sum(u.kwh).label("kwh"))
        .where(u.esiid == esiid, u.meter == meter, u.channel == channel,
               u.ts_utc >= start.to_pydatetime(), u.ts_utc < end.to_pydatetime())
        .group_by(day, u.interval_minutes, u.quality)).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=AGGREGATES).astype(
        {"interval_minutes": "int64", "n": "int64", "kwh": "float64"})


def series_bounds(conn: sa.Connection, esiid: str, meter: str, channel: str) -> tuple | None:
    """(first real interval start, last real interval end) of a series over everything stored."""
    t = usage_interval.c
    where = sa.and_(t.esiid == esiid, t.meter == meter, t.channel == channel, t.quality != "filled")
    # ORDER BY ... LIMIT 1 walks the primary key from either end whatever the planner's statistics
    # say; min()/max() were planned as a scan of the whole series right after a bulk load.
    first = conn.execute(sa.select(t.ts_utc).where(where).order_by(t.ts_utc).limit(1)).scalar_one_or_none()
    if first is None:
        return None
    last, step = conn.execute(sa.select(t.ts_utc, t.interval_minutes).where(where)
                              .order_by(t.ts_utc.desc()).limit(1)).one()
    return pd.Timestamp(_utc(first)), pd.Timestamp(_utc(last)) + pd.Timedelta(minutes=step)


def _utc(value) -> dt.datetime:
    # Aggregates bypass the column type on SQLite and come back as text.
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value


def day_span(bound: tuple | None) -> tuple[dt.date, dt.date] | None:
    """First and last local day of a series' delivered range."""
    if bound is None:
        return None
    return local_dates(pd.Series([bound[0]])).iloc[0], local_dates(pd.Series([bound[1] - pd.Timedelta(seconds=1)])).iloc[0]


def refresh_completeness(conn: sa.Connection, days: pd.DataFrame,
                         previous: dict[tuple, tuple[dt.date, dt.date]] | None = None) -> pd.DataFrame:
    """Recompute ``daily_completeness`` for the given series-days from the stored intervals.

    ``previous`` gives each series' delivered day span before this write. The days between that
    span and the new days are recomputed too: the old edge day may stop being ``partial`` and the
    days in between become ``gaps``. A day left with no interval outside the delivered range loses
    its row. Returns the rows now stored for the recomputed days.
    """
    out = []
    for key, group in days.groupby(SERIES, sort=False):
        lo, hi = min(group["local_date"]), max(group["local_date"])
        if previous and previous.get(key):
            first, last = previous[key]
            lo, hi = min(lo, last), max(hi, first)
        dates = [lo + dt.timedelta(days=i) for i in range((hi - lo).days + 1)]
        start, _ = day_bounds_utc(lo)
        _, end = day_bounds_utc(hi)
        rows = compute_completeness(key, read_day_aggregates(conn, *key, start, end), dates, series_bounds(conn, *key))
        _delete_completeness(conn, key, set(dates) - set(rows["local_date"]))
        _upsert_completeness(conn, rows)
        out.append(rows)
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=COMPLETENESS_COLUMNS)


def stored_completeness(conn: sa.Connection, days: pd.DataFrame) -> pd.DataFrame:
    """The ``daily_completeness`` rows stored for these series-days (what ``refresh_completeness``
    would return when no interval changed: every interval write keeps them up to date)."""
    c = daily_completeness.c
    out = []
    for key, group in days.groupby(SERIES, sort=False):
        wanted = set(group["local_date"])
        rows = conn.execute(sa.select(*[c[name] for name in COMPLETENESS_COLUMNS]).where(
            c.esiid == key[0], c.meter == key[1], c.channel == key[2],
            c.local_date >= min(wanted), c.local_date <= max(wanted))).all()
        out += [tuple(r) for r in rows if r.local_date in wanted]
    return pd.DataFrame(out, columns=COMPLETENESS_COLUMNS)


def previous_spans(conn: sa.Connection, frame: pd.DataFrame) -> dict[tuple, tuple[dt.date, dt.date]]:
    """Each series' delivered day span as stored now (before a write)."""
    keys = frame[SERIES].drop_duplicates().itertuples(index=False, name=None)
    return {key: day_span(series_bounds(conn, *key)) for key in keys}


def _upsert_completeness(conn: sa.Connection, rows: pd.DataFrame) -> None:
    if rows.empty:
        return
    values = [c for c in COMPLETENESS_COLUMNS if c not in SERIES + ["local_date"]]
    if conn.dialect.name == "postgresql":  # a year of days: one COPY and one statement
        stage = _stage(conn, daily_completeness)
        _load(conn, stage, rows[[c.name for c in daily_completeness.columns]])
        stmt = dialect_insert(conn, daily_completeness).from_select(
            [c.name for c in daily_completeness.columns], sa.select(*stage.c).where(sa.true()))
        params = None
    else:
        stmt = dialect_insert(conn, daily_completeness)
        params = [{k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()}
                  for r in rows.to_dict("records")]
    stmt = stmt.on_conflict_do_update(
        index_elements=SERIES + ["local_date"],
        set_={c: getattr(stmt.excluded, c) for c in values},
        where=sa.or_(*[getattr(stmt.excluded, c).is_distinct_from(daily_completeness.c[c]) for c in values]),
    )
    conn.execute(stmt, params)  # SQLite: executemany, compiled once and cached


def _delete_completeness(conn: sa.Connection, key: tuple, dates: Iterable[dt.date]) -> None:
    dates = list(dates)
    if dates:
        c = daily_completeness.c
        conn.execute(daily_completeness.delete().where(
            c.esiid == key[0], c.meter == key[1], c.channel == key[2], c.local_date.in_(dates)))
