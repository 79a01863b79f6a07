"""The merge engine under every canonical write: stage a batch, COPY it in, and merge it with one
``INSERT … SELECT … ON CONFLICT DO UPDATE … WHERE`` whose WHERE admits only a row that wins by the
revision rules and really differs."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from intelliwatt_pipelines.cdm.pgcopy import binary_payload
from intelliwatt_pipelines.cdm.precedence import Precedence


def dialect_insert(conn: sa.Connection, table: sa.Table):
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def stage_table(conn: sa.Connection, table: sa.Table) -> sa.Table:
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


def fill_stage(conn: sa.Connection, stage: sa.Table, frame: pd.DataFrame) -> None:
    """Put ``frame`` into a ``stage_table``: COPY on PostgreSQL, an executemany elsewhere."""
    columns = [c.name for c in stage.columns]
    if conn.dialect.name == "postgresql":
        copy_frame(conn, stage, frame)
    elif len(frame):
        conn.execute(stage.insert(), [dict(zip(columns, r, strict=False)) for r in _records(frame, columns)])


def copy_frame(conn: sa.Connection, table: sa.Table, frame: pd.DataFrame) -> None:
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
    stage = stage_table(conn, table)
    fill_stage(conn, stage, batch)
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
