"""Reliability on real PostgreSQL: an ingest killed at random points, or cut off from its database,
ends, once run again, exactly where an uninterrupted ingest ends. Nothing lost, nothing doubled."""

from __future__ import annotations

import datetime as dt
import os

import pytest

from intelliwatt_pipelines_tests.conftest import ADMIN_URL, _postgres_or_skip
from intelliwatt_pipelines_tests.reliability import kill_points

pytestmark = pytest.mark.slow  # kills processes at many points

KILL_POINTS = int(os.environ.get("INTELLIWATT_TEST_KILL_POINTS", "20"))


@pytest.mark.timeout(900)
def test_sigkill_at_random_points_then_resume_equals_the_reference(tmp_path):
    _postgres_or_skip()
    # a shorter first file than the long script's keeps 20 kill points within a few minutes
    reference, seconds, results = kill_points(ADMIN_URL, tmp_path, KILL_POINTS, seed=20261123,
                                              first_day=dt.date(2025, 10, 20))
    assert reference["raw_bytes_kept"] and len(reference["inbox_entry"]) == 6
    assert {r[3] for r in reference["raw_file"]} == {"normalized", "failed"}
    killed = [r for r in results if r.killed]
    # delays span the reference's work time, so most kills land mid-work; the share varies with load
    assert len(killed) >= KILL_POINTS // 2, f"only {len(killed)} of {KILL_POINTS} kills landed while it worked"
    diverged = [(round(r.delay, 3), r.differences) for r in results if r.differences]
    assert not diverged, f"work {seconds:.2f} s; diverged at {diverged}"
    assert not [r.partial for r in results if r.partial]


@pytest.mark.timeout(600)
def test_database_connections_cut_mid_run_then_resume_equals_the_reference(tmp_path):
    _postgres_or_skip()
    reference, seconds, results = kill_points(ADMIN_URL, tmp_path, 4, seed=7, how="terminate",
                                              first_day=dt.date(2025, 10, 20))
    diverged = [(round(r.delay, 3), r.differences) for r in results if r.differences]
    assert not diverged, f"work {seconds:.2f} s; diverged at {diverged}"
    # the run that lost its connections failed cleanly: no file marked normalized without its rows
    assert not [r.partial for r in results if r.partial]


def overlapping_inboxes(work) -> list:
    """Two inboxes, each with one large file for the same home; the files overlap by 30 days and
    the second is a newer revision."""
    import datetime as dt

    from intelliwatt_pipelines.samples import date_range, smt_interval_csv

    esiid = "10443720000000201"
    files = [smt_interval_csv(esiid, date_range(dt.date(2025, 6, 1), dt.date(2025, 8, 30)), seed=1,
                              revision_lag=dt.timedelta(days=2)),
             smt_interval_csv(esiid, date_range(dt.date(2025, 8, 1), dt.date(2025, 10, 31)), seed=2,
                              revision_lag=dt.timedelta(days=40))]
    inboxes = []
    for i, data in enumerate(files):
        inbox = work / f"inbox{i}"
        inbox.mkdir()
        (inbox / f"IntervalMeterUsage_{i}.csv").write_bytes(data)
        inboxes.append(inbox)
    return inboxes


@pytest.mark.timeout(600)
def test_two_runs_on_overlapping_files_at_once_end_as_run_one_after_the_other(tmp_path):
    from intelliwatt_pipelines_tests.reliability import Databases, differences, run_to_end, snapshot, worker

    _postgres_or_skip()
    inboxes = overlapping_inboxes(tmp_path)
    dbs = Databases(ADMIN_URL)
    try:
        reference_url = dbs.new()
        for inbox in inboxes:
            run_to_end(reference_url, inbox, tmp_path / "raw_ref")
        reference = snapshot(reference_url, tmp_path / "raw_ref")
        for round_ in range(3):
            url, raw = dbs.new(), tmp_path / f"raw_{round_}"
            procs = [worker(url, inbox, raw) for inbox in (inboxes if round_ % 2 == 0 else inboxes[::-1])]
            for proc in procs:
                assert proc.stdout.readline().strip() == "ready"
            codes = [proc.wait(timeout=300) for proc in procs]
            # a deadlock, were there one, aborts a transaction: that run fails and its file stays
            # to be taken again, so running both again must complete and change nothing more
            for inbox in inboxes:
                run_to_end(url, inbox, raw)
            assert not differences(reference, snapshot(url, raw)), (round_, codes)
            assert codes == [0, 0], f"round {round_}: a concurrent run failed ({codes})"
    finally:
        dbs.drop_all()
