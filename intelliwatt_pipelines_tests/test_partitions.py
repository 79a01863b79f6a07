"""Monthly partitions of usage_interval and daily_completeness (migration 0012, cdm.partitions, the
warehouse_partitions job) on a real PostgreSQL; on SQLite everything is a no-op."""

import dataclasses
import datetime as dt
import threading

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext

from intelliwatt_pipelines.cdm import partitions
from intelliwatt_pipelines.cdm.completeness_store import refresh_completeness
from intelliwatt_pipelines.cdm.intervals import upsert_intervals
from intelliwatt_pipelines.cdm.normalize import touched_days
from intelliwatt_pipelines.cdm.tables import metadata
from intelliwatt_pipelines.cdm.warehouse import MIGRATIONS, VERSION_TABLE, create_engine, migrate
from intelliwatt_pipelines.config import Settings
from intelliwatt_pipelines.defs.resources import WarehouseResource
from intelliwatt_pipelines.defs.warehouse_partitions import SCHEDULE, build_partition_defs, utc_today
from intelliwatt_pipelines.model import typed_frame

ESIID = "10443720000000001"
S = partitions.SCHEMA
THIS_MONTH = utc_today().replace(day=1)


CREATED_AFTER_0012 = ("register_read", "meter_role", "vendor_request_count")


def _table_of(diff) -> str:
    """The table an autogenerate diff entry (add_table, add_index, ...) is about."""
    item = diff[1]
    return item.name if isinstance(item, sa.Table) else item.table.name


def at_revision(engine: sa.Engine, revision: str, *, down: bool = False) -> None:
    with engine.begin() as conn:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)


@pytest.fixture
def pg(postgres_url):
    engine = create_engine(postgres_url)
    migrate(engine)
    yield engine
    engine.dispose()


def interval_frame(start: str, periods: int, kwh: float = 0.25, revised: str | None = None,
                   esiids: tuple[str, ...] = (ESIID,)) -> pd.DataFrame:
    ts = pd.date_range(start, periods=periods, freq="15min", tz="UTC")
    return typed_frame(pd.DataFrame([
        {"esiid": e, "meter": "M1", "channel": "consumption", "ts_utc": t, "interval_minutes": 15, "kwh": kwh,
         "quality": "actual", "revised_at": pd.Timestamp(revised, tz="UTC") if revised else pd.NaT}
        for e in esiids for t in ts]))


def write(engine: sa.Engine, frame: pd.DataFrame, raw_file_id: int = 1) -> int:
    """The ingest's write path: intervals upserted, then the days' completeness recomputed."""
    with engine.begin() as conn:
        rows = upsert_intervals(conn, frame, source="smt", raw_file_id=raw_file_id)
        refresh_completeness(conn, touched_days(frame))
    return rows


def where_rows_are(engine: sa.Engine, table: str) -> dict[str, int]:
    """Rows per partition (the physical table each row is in)."""
    with engine.connect() as conn:
        found = conn.execute(sa.text(f"SELECT tableoid::regclass::text, count(*) FROM {table} GROUP BY 1")).all()
    return {name.removeprefix(f"{S}."): n for name, n in found}


def query(engine: sa.Engine, text: str) -> list[tuple]:
    with engine.connect() as conn:  # closed at once: an open read would hold locks an ATTACH waits for
        return [tuple(r) for r in conn.execute(sa.text(text)).all()]


def count(engine: sa.Engine, table: str) -> int:
    return query(engine, f"SELECT count(*) FROM {table}")[0][0]


def kinds(engine: sa.Engine) -> dict[str, str]:
    with engine.connect() as conn:
        return dict(conn.execute(sa.text(
            "SELECT relname, relkind::text FROM pg_class WHERE relname IN ('usage_interval', 'daily_completeness') "
            "AND relnamespace = 'public'::regnamespace")).all())


def names(engine: sa.Engine, table: str) -> list[str]:
    return [p["name"] for p in partitions.month_partitions(engine) if p["table"] == table]


def test_the_migration_partitions_both_tables_by_month_from_this_month_to_three_ahead(pg):
    assert kinds(pg) == {"usage_interval": "p", "daily_completeness": "p"}
    with pg.connect() as conn:
        keys = dict(conn.execute(sa.text(
            "SELECT relname, pg_get_partkeydef(oid) FROM pg_class WHERE relkind = 'p' ORDER BY 1")).all())
        constraints = set(conn.execute(sa.text(
            "SELECT conname FROM pg_constraint WHERE conrelid IN ('usage_interval'::regclass, "
            "'daily_completeness'::regclass)")).scalars())
        indexes = set(conn.execute(sa.text("SELECT indexname FROM pg_indexes WHERE schemaname = 'public' "
                                           "AND tablename = 'daily_completeness'")).scalars())
    assert keys == {"daily_completeness": "RANGE (local_date)", "usage_interval": "RANGE (ts_utc)"}
    assert {"usage_interval_pkey", "daily_completeness_pkey", "ck_usage_interval_channel",
            "ck_usage_interval_quality", "ck_daily_completeness_status"} <= constraints
    assert indexes == {"daily_completeness_pkey", "ix_daily_completeness_gaps"}
    ahead = [partitions.add_months(THIS_MONTH, i) for i in range(4)]
    for table in ("usage_interval", "daily_completeness"):
        assert names(pg, table) == sorted([partitions.partition_name(table, m) for m in ahead]
                                          + [f"{table}_default"])
    p = {x["name"]: x for x in partitions.month_partitions(pg)}
    first = p[partitions.partition_name("usage_interval", THIS_MONTH)]
    assert first["range"] == (f"FOR VALUES FROM ('{THIS_MONTH} 00:00:00+00') TO "
                              f"('{partitions.add_months(THIS_MONTH, 1)} 00:00:00+00')")
    assert p["usage_interval_default"]["range"] == "DEFAULT" and p["usage_interval_default"]["month"] is None


def test_the_schema_still_matches_the_declared_tables_with_partitions(pg):
    """Partitions live in their own schema: the default schema holds exactly the declared tables."""
    partitions.ensure_month_partitions(pg, THIS_MONTH, since=dt.date(2025, 1, 1))
    with pg.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}), metadata)
        assert diff == []
        assert set(sa.inspect(conn).get_table_names()) == set(metadata.tables) | {VERSION_TABLE}


def test_rows_of_several_months_land_in_their_utc_month_and_upserts_cross_partitions(pg):
    partitions.ensure_month_partitions(pg, THIS_MONTH, since=dt.date(2025, 1, 1))
    # 2025-01-31 23:00 UTC .. 2025-02-01 00:45 UTC: 17:00..18:45 on Jan 31 in Chicago, both sides of a UTC month
    assert write(pg, interval_frame("2025-01-31 23:00", 8)) == 8
    assert write(pg, interval_frame("2025-03-10 00:00", 4)) == 4
    assert where_rows_are(pg, "usage_interval") == {"usage_interval_p2025_01": 4, "usage_interval_p2025_02": 4,
                                                    "usage_interval_p2025_03": 4}
    # the Chicago days Jan 31 and Mar 9 (00:00 UTC on Mar 10 is 18:00 on Mar 9 in Chicago)
    assert where_rows_are(pg, "daily_completeness") == {"daily_completeness_p2025_01": 1,
                                                        "daily_completeness_p2025_03": 1}
    # a revision of the rows on both sides of the boundary: the ON CONFLICT merge, across two partitions
    assert write(pg, interval_frame("2025-01-31 23:00", 8, kwh=0.5, revised="2025-02-02"), raw_file_id=2) == 8
    assert write(pg, interval_frame("2025-01-31 23:00", 8, kwh=0.5, revised="2025-02-02"), raw_file_id=2) == 0
    with pg.connect() as conn:
        stored = conn.execute(sa.text("SELECT tableoid::regclass::text, kwh, raw_file_id FROM usage_interval "
                                      "WHERE ts_utc < '2025-03-01' ORDER BY ts_utc")).all()
    assert [(t.removeprefix(f"{S}."), k, r) for t, k, r in stored] == (
        [("usage_interval_p2025_01", 0.5, 2)] * 4 + [("usage_interval_p2025_02", 0.5, 2)] * 4)


def test_ensure_is_idempotent_and_moves_the_default_rows_of_a_month_it_creates(pg):
    assert partitions.ensure_month_partitions(pg, THIS_MONTH) == []  # the migration made them
    write(pg, interval_frame("2024-06-30 23:00", 8, esiids=(ESIID, "10443720000000002")))
    # no partition for June/July 2024 yet: the DEFAULT partition holds them
    assert where_rows_are(pg, "usage_interval") == {"usage_interval_default": 16}
    assert where_rows_are(pg, "daily_completeness") == {"daily_completeness_default": 2}
    before = {t: sorted(query(pg, f"SELECT * FROM {t}")) for t in ("usage_interval", "daily_completeness")}

    created = partitions.ensure_month_partitions(pg, THIS_MONTH)
    missing = partitions.months(dt.date(2024, 6, 1), partitions.add_months(THIS_MONTH, -1))
    assert created == ([partitions.partition_name("usage_interval", m) for m in missing]
                       + [partitions.partition_name("daily_completeness", m) for m in missing])
    assert where_rows_are(pg, "usage_interval") == {"usage_interval_p2024_06": 8, "usage_interval_p2024_07": 8}
    assert where_rows_are(pg, "daily_completeness") == {"daily_completeness_p2024_06": 2}
    after = {t: sorted(query(pg, f"SELECT * FROM {t}")) for t in before}
    assert after == before  # nothing lost, nothing changed
    assert partitions.ensure_month_partitions(pg, THIS_MONTH) == []


def test_two_processes_ensuring_at_once_create_each_month_once(pg, postgres_url):
    through = partitions.add_months(THIS_MONTH, 12)
    results, errors = [], []

    def run():
        engine = create_engine(postgres_url)
        try:
            results.append(partitions.ensure_month_partitions(engine, through))
        except Exception as exc:  # noqa: BLE001 - the assertion below shows it
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    made = sorted(n for r in results for n in r)
    expected = [partitions.partition_name(t, partitions.add_months(THIS_MONTH, i))
                for t in ("usage_interval", "daily_completeness") for i in range(4, 13)]
    assert made == sorted(expected) and sorted(len(r) for r in results) == [0, 0, len(expected)]


def test_the_migration_copies_existing_rows_into_their_months_and_downgrade_keeps_them(postgres_url):
    engine = create_engine(postgres_url)
    at_revision(engine, "0011")
    assert kinds(engine) == {"usage_interval": "r", "daily_completeness": "r"}
    write(engine, interval_frame("2025-01-31 22:00", 12))
    write(engine, interval_frame("2025-05-05 12:00", 4))
    counts = {t: count(engine, t) for t in ("usage_interval", "daily_completeness")}
    assert counts == {"usage_interval": 16, "daily_completeness": 2}

    migrate(engine)
    assert kinds(engine) == {"usage_interval": "p", "daily_completeness": "p"}
    assert where_rows_are(engine, "usage_interval") == {
        "usage_interval_p2025_01": 8, "usage_interval_p2025_02": 4, "usage_interval_p2025_05": 4}
    # every month from the first row through three months ahead, so no later row needs the default
    assert names(engine, "usage_interval")[0] == "usage_interval_default"
    assert names(engine, "usage_interval")[1:] == [
        partitions.partition_name("usage_interval", m)
        for m in partitions.months(dt.date(2025, 1, 1), partitions.add_months(THIS_MONTH, 3))]

    at_revision(engine, "0011", down=True)
    assert kinds(engine) == {"usage_interval": "r", "daily_completeness": "r"}
    assert {t: count(engine, t) for t in counts} == counts
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT to_regnamespace(:s)"), {"s": S}).scalar() is None
        assert set(sa.inspect(conn).get_indexes("daily_completeness")[0]["column_names"]) == {"local_date", "esiid"}
        diff = compare_metadata(MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}), metadata)
        # 0011's schema is the declared one but for the tables later revisions create (0013, 0014)
        later = [d for d in diff if _table_of(d) in CREATED_AFTER_0012]
        assert [d for d in diff if d not in later] == []
        assert sorted(d[1].name for d in later if d[0] == "add_table") == sorted(CREATED_AFTER_0012)
    engine.dispose()


def test_drop_months_before_drops_whole_months_only_and_never_the_default(pg):
    partitions.ensure_month_partitions(pg, THIS_MONTH, since=dt.date(2025, 1, 1))
    for start in ("2025-01-15 12:00", "2025-02-15 12:00", "2025-03-15 12:00"):
        write(pg, interval_frame(start, 4))
    with pg.begin() as conn:  # a row no month holds: in the default partition
        conn.execute(sa.text(
            "INSERT INTO usage_interval VALUES (:e, 'M1', 'consumption', '2099-01-01T00:00Z', 15, 1, 'actual', "
            "NULL, 'smt', 1)"), {"e": ESIID})
    dropped = partitions.drop_months_before(pg, dt.date(2025, 3, 15))
    assert dropped == ["usage_interval_p2025_01", "usage_interval_p2025_02",
                       "daily_completeness_p2025_01", "daily_completeness_p2025_02"]
    assert where_rows_are(pg, "usage_interval") == {"usage_interval_p2025_03": 4, "usage_interval_default": 1}
    assert where_rows_are(pg, "daily_completeness") == {"daily_completeness_p2025_03": 1}
    assert names(pg, "usage_interval")[:2] == ["usage_interval_default", "usage_interval_p2025_03"]
    assert partitions.drop_months_before(pg, dt.date(2025, 3, 15)) == []
    # the earliest month left is where ensure starts again: January and February are not brought back
    assert partitions.ensure_month_partitions(pg, THIS_MONTH) == []


def run_job(postgres_url: str, instance, **changes) -> dg.ExecuteInProcessResult:
    settings = dataclasses.replace(Settings.from_env(), warehouse_url=postgres_url, **changes)
    defs = build_partition_defs(settings)
    (job,) = defs["jobs"]
    return job.execute_in_process(resources={"warehouse": WarehouseResource(url=postgres_url)}, instance=instance)


def test_the_dagster_job_creates_the_months_ahead_and_applies_retention(pg, postgres_url, instance):
    partitions.ensure_month_partitions(pg, THIS_MONTH, since=partitions.add_months(THIS_MONTH, -30))
    write(pg, interval_frame(f"{partitions.add_months(THIS_MONTH, -30)} 12:00", 4))
    result = run_job(postgres_url, instance, partition_months_ahead=6)
    assert result.success
    out = result.output_for_node("warehouse_partitions_ensured")
    ahead = [partitions.add_months(THIS_MONTH, i) for i in (4, 5, 6)]
    assert out["created"] == ([partitions.partition_name("usage_interval", m) for m in ahead]
                              + [partitions.partition_name("daily_completeness", m) for m in ahead])
    assert out["dropped"] == [] and out["through"] == partitions.add_months(THIS_MONTH, 6).isoformat()
    assert run_job(postgres_url, instance, partition_months_ahead=6).output_for_node(
        "warehouse_partitions_ensured")["created"] == []

    kept = run_job(postgres_url, instance, partition_months_ahead=6, usage_retention_months=24)
    dropped = kept.output_for_node("warehouse_partitions_ensured")["dropped"]
    old = partitions.months(partitions.add_months(THIS_MONTH, -30), partitions.add_months(THIS_MONTH, -25))
    assert sorted(dropped) == sorted(partitions.partition_name(t, m) for t in ("usage_interval", "daily_completeness")
                                     for m in old)
    assert where_rows_are(pg, "usage_interval") == {}
    (materialized,) = [e for e in kept.all_node_events if e.event_type_value == "STEP_OUTPUT"]
    metadata_ = materialized.event_specific_data.metadata
    assert metadata_["dropped"].value == 12 and metadata_["created"].value == 0


def test_the_schedule_is_daily_and_running_by_default():
    defs = build_partition_defs(Settings.from_env())
    assert set(defs) == {"assets", "asset_checks", "jobs", "schedules", "sensors", "resources"}
    (schedule,) = defs["schedules"]
    assert schedule.name == SCHEDULE and schedule.job_name == "warehouse_partitions_job"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING and schedule.cron_schedule == "40 3 * * *"
    dg.Definitions(jobs=defs["jobs"], schedules=defs["schedules"],
                   resources={"warehouse": WarehouseResource(url="sqlite://")}).get_job_def("warehouse_partitions_job")


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_on_sqlite_nothing_is_partitioned_and_the_functions_do_nothing(engine, warehouse_url, instance):
    assert partitions.ensure_month_partitions(engine, THIS_MONTH, since=dt.date(2020, 1, 1)) == []
    assert partitions.month_partitions(engine) == []
    assert partitions.drop_months_before(engine, THIS_MONTH) == []
    write(engine, interval_frame("2025-01-31 23:00", 8))
    assert count(engine, "usage_interval") == 8
    result = run_job(warehouse_url, instance, usage_retention_months=1)
    assert result.success and result.output_for_node("warehouse_partitions_ensured")["created"] == []
    assert count(engine, "usage_interval") == 8
