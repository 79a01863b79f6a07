"""One inbox, one taker: processes sharing an inbox claim each entry in ``inbox_claim`` before taking
it; the others skip it and say so, and a crashed taker's claim goes stale and is taken over."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import time

import dagster as dg
import pytest
import sqlalchemy as sa

from intelliwatt_pipelines.cdm.tables import inbox_claim, inbox_entry, raw_file, usage_interval
from intelliwatt_pipelines.defs.definitions import INGEST_JOB, build_defs
from intelliwatt_pipelines.defs.keys import RAW_FILES
from intelliwatt_pipelines.defs.raw_files import ingest_run_config
from intelliwatt_pipelines.ingest.batch_report import SKIPPED_REASON
from intelliwatt_pipelines.ingest.inbox import Claim, claim_entry, claim_holder, release_claim, take_claimed
from intelliwatt_pipelines.rawstore import LocalRawStore
from intelliwatt_pipelines.samples import date_range, smt_interval_csv
from intelliwatt_pipelines.transport import LocalInbox, RemoteEntry, TransportError
from intelliwatt_pipelines_tests.test_dagster import ROOT

pytestmark = pytest.mark.slow  # concurrent processes claiming inbox entries

SOURCE = "inbox"
ESIID = "10443720009990001"


def write_files(folder, count: int, days: int = 45) -> dict[str, int]:
    """``count`` SMT interval files of distinct homes: name -> rows each holds."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for i in range(count):
        name = f"IntervalMeterUsage_{10443721000000000 + i}.csv"
        first = dt.date(2025, 1, 1)
        data = smt_interval_csv(str(10443721000000000 + i), date_range(first, first + dt.timedelta(days - 1)), seed=i)
        (folder / name).write_bytes(data)
        out[name] = data.count(b"\n") - 1
    return out


def age_claims(engine, seconds: float) -> None:
    with engine.begin() as conn:
        conn.execute(inbox_claim.update().values(
            claimed_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=seconds)))


def holder(engine, entry) -> str | None:
    with engine.connect() as conn:
        return claim_holder(conn, SOURCE, entry)


def test_one_claim_per_entry_a_stale_one_is_taken_over_once(engine):
    entry = RemoteEntry("IntervalMeterUsage_a.csv", 10, 1)
    a, b, c = (Claim(f"host:{pid}:run-{pid}", stale_after_seconds=3600) for pid in (1, 2, 3))
    assert claim_entry(engine, SOURCE, entry, a)
    assert not claim_entry(engine, SOURCE, entry, b)  # live: skipped
    assert not claim_entry(engine, SOURCE, RemoteEntry(entry.path, 10, 1), a)  # not even twice by its owner
    assert claim_entry(engine, SOURCE, RemoteEntry(entry.path, 11, 1), b)  # the file rewritten: a new entry

    age_claims(engine, 3601)  # a crashed: its claim is stale
    assert claim_entry(engine, SOURCE, entry, b)
    assert not claim_entry(engine, SOURCE, entry, c)  # b's takeover made it live again: one winner
    assert holder(engine, entry) == b.owner
    with engine.begin() as conn:
        release_claim(conn, SOURCE, entry, a)  # a, back from the dead, drops only its own claim
    assert holder(engine, entry) == b.owner
    with engine.begin() as conn:
        release_claim(conn, SOURCE, entry, b)
    assert holder(engine, entry) is None


def test_a_taken_entry_ends_its_claim_and_is_not_taken_again(engine, tmp_path):
    folder = tmp_path / "inbox"
    rows = write_files(folder, 1, days=2)
    inbox, store = LocalInbox(folder), LocalRawStore(tmp_path / "raw")
    (entry,) = inbox.list_entries()
    a, b = Claim("host:1:run-a"), Claim("host:2:run-b")
    with inbox.session():
        (outcome,) = take_claimed(engine, store, inbox, entry, a)
        assert (outcome.status, outcome.rows_valid) == ("normalized", *rows.values())
        assert holder(engine, entry) is None  # released with the record
        # b listed the entry before a recorded it and claims only now: it re-checks, skips, leaves no claim
        assert take_claimed(engine, store, inbox, entry, b) is None
    assert holder(engine, entry) is None
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(inbox_entry)).scalar_one() == 1


def test_a_failed_transfer_ends_its_claim_at_once(engine, tmp_path):
    folder = tmp_path / "inbox"
    write_files(folder, 1, days=2)
    inbox = LocalInbox(folder)
    (entry,) = inbox.list_entries()
    (folder / entry.name).unlink()  # gone between listing and taking
    with pytest.raises(TransportError, match="disappeared"):
        take_claimed(engine, LocalRawStore(tmp_path / "raw"), inbox, entry, Claim("host:1:run-a"))
    assert holder(engine, entry) is None  # offered again at the next listing, not after an hour


def raw_files_metadata(instance, run_id: str) -> dict:
    materializations = [r.dagster_event.event_specific_data.materialization
                        for r in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)]
    (mat,) = [m for m in materializations if m.asset_key == RAW_FILES]
    return {k: v.value for k, v in mat.metadata.items()}


def test_the_ingest_run_skips_an_entry_another_process_holds_and_says_so(settings, instance, engine):
    name = f"IntervalMeterUsage_{ESIID}.csv"
    (settings.inbox_dir / name).write_bytes(smt_interval_csv(ESIID, date_range(dt.date(2025, 1, 1),
                                                                              dt.date(2025, 1, 2))))
    (entry,) = LocalInbox(settings.inbox_dir).list_entries()
    assert claim_entry(engine, SOURCE, entry, Claim("otherhost:4242:run-x"))
    job = build_defs(settings).resolve_job_def(INGEST_JOB)

    first = job.execute_in_process(run_config=ingest_run_config([entry]), instance=instance)
    meta = raw_files_metadata(instance, first.run_id)
    assert (meta["files"], meta["files_skipped"]) == (0, 1)
    assert meta["files_skipped_reason"].startswith(SKIPPED_REASON) and ESIID not in meta["files_skipped_reason"]
    said = [r.user_message for r in instance.all_logs(first.run_id) if SKIPPED_REASON in (r.user_message or "")]
    assert len(said) == 1 and ESIID not in said[0] and "IntervalMeterUsage_esiid#" in said[0]
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(raw_file)).scalar_one() == 0  # not even read

    age_claims(engine, settings.inbox_claim_seconds + 1)  # its process died: the claim is taken over
    second = job.execute_in_process(run_config=ingest_run_config([entry]), instance=instance)
    meta = raw_files_metadata(instance, second.run_id)
    assert (meta["files_normalized"], meta["files_skipped"]) == (1, 0)
    assert holder(engine, entry) is None


@pytest.fixture
def dagster_home(tmp_path, warehouse_url):
    """The Dagster instance kind ``intelliwatt ingest`` runs on with this warehouse: the embedded
    defaults (SQLite files) or deploy/dagster.yaml (PostgreSQL, here the warehouse's database).
    Created before the processes start, as ``intelliwatt migrate`` or the webserver would."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    env = {"DAGSTER_HOME": str(home)}
    if warehouse_url.startswith("sqlite"):
        shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    else:
        shutil.copy(ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
        env["DAGSTER_POSTGRES_URL"] = warehouse_url.replace("postgresql+psycopg://", "postgresql://")
    previous = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        with dg.DagsterInstance.get() as instance:
            yield env, instance
    finally:
        for k, v in previous.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)


@pytest.mark.timeout(600)
def test_two_concurrent_ingests_over_one_inbox_process_each_file_once(tmp_path, engine, warehouse_url, dagster_home):
    home = tmp_path / "home"
    rows = write_files(home / "inbox", 10)
    instance_env, instance = dagster_home
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INTELLIWATT_", "DAGSTER_"))}
    # Both wait for the files to be at rest, then list them at the same moment: a real race.
    env.update(instance_env, INTELLIWATT_HOME=str(home), INTELLIWATT_WAREHOUSE_URL=warehouse_url,
               INTELLIWATT_INBOX_MIN_AGE_SECONDS="20", INTELLIWATT_INGEST_WAIT_SECONDS="120")
    written = time.time()
    procs = [subprocess.Popen([sys.executable, "-m", "intelliwatt_pipelines.cli", "ingest"], env=env, cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=500) for p in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, (out, err[-3000:])
        assert "10 new file(s)" in out, out  # each listed every file: they raced for all of them
    assert time.time() - written >= 20

    runs = instance.get_runs(dg.RunsFilter(job_name=INGEST_JOB))
    metas = [raw_files_metadata(instance, run.run_id) for run in runs]
    assert len(metas) == 2
    taken = [m["files_normalized"] for m in metas]
    assert sum(taken) == len(rows), metas  # each file normalized once, by one of them
    assert sum(m["files_already_known"] for m in metas) == 0, metas  # and not even read by the other
    assert [m["files_skipped"] for m in metas] == taken[::-1], metas  # each skipped what the other took
    said = sorted(out.count(f".csv: {SKIPPED_REASON}") for out, _ in outputs)
    assert said == sorted(taken), said  # and said so in its output, once per file skipped
    with engine.connect() as conn:
        statuses = conn.execute(sa.select(raw_file.c.status, sa.func.count()).group_by(raw_file.c.status)).all()
        stored = conn.execute(sa.select(sa.func.count()).select_from(usage_interval)).scalar_one()
        claims = conn.execute(sa.select(sa.func.count()).select_from(inbox_claim)).scalar_one()
    assert statuses == [("normalized", len(rows))]
    assert stored == sum(rows.values()) and claims == 0
