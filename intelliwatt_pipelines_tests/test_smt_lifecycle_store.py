"""SMT agreement → subscription → backfill bookkeeping and the gap sweep (vendor-apis.md §2.2, §2.4), on a
real SQLite and a real PostgreSQL warehouse (the ``engine`` fixture, migrated)."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
import sqlalchemy as sa

from intelliwatt_pipelines.cdm import gap_ledger, smt_backfills
from intelliwatt_pipelines.cdm import smt_authorizations as auths
from intelliwatt_pipelines.cdm.smt_authorizations import AgreementStatus
from intelliwatt_pipelines.cdm.tables import (
    daily_completeness,
    interval_day_ledger,
    raw_file,
    raw_file_coverage,
    smt_authorization,
    smt_backfill_request,
)

ESIID = "10443720000000001"
ESIID_22 = "1008901023809000000001"  # CenterPoint's 22 digits: kept whole
NOW = dt.datetime(2025, 11, 8, 14, 0, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(hours=1)
D = dt.date


def _auth(conn, esiid=ESIID, months_back=12, account_class="res") -> int:
    return auths.create_authorization(
        conn, esiid=esiid, meter_number="112233445", rep_puct_number=10098, months_back=months_back,
        account_class=account_class, contact_email_enc="gAAAA-ciphertext", now=NOW)


def _rows(conn, table, order):
    return [r._asdict() for r in conn.execute(sa.select(table).order_by(order))]


# ---- agreements and subscriptions ----

AGREEMENTS = [AgreementStatus(3162880, ESIID, "ACTIVE", "Active - Authorization Confirmed"),
              AgreementStatus(3214970, ESIID, "EXPIRED", "Terminated in last 45 days")]


def test_the_active_agreement_and_its_terminated_duplicate_are_both_kept(engine):
    with engine.begin() as conn:
        counts = auths.apply_agreements(conn, AGREEMENTS, NOW)
        rows = _rows(conn, smt_authorization, smt_authorization.c.smt_agreement_number)
        assert counts == {"scanned": 2, "updated": 0, "inserted": 2, "unchanged": 0, "failed": 0}
        assert [(r["smt_agreement_number"], r["smt_status"], r["archived_at"]) for r in rows] == [
            (3162880, "ACTIVE", None), (3214970, "EXPIRED", NOW)]
        assert {(r["months_back"], r["account_class"], r["last_sync_at"]) for r in rows} == {(12, "res", NOW)}
        assert auths.active_esiids(conn) == [ESIID]
        assert [r.smt_agreement_number for r in auths.active_for(conn, ESIID)] == [3162880]


def test_applying_the_same_agreements_again_changes_nothing(engine):
    with engine.begin() as conn:
        auths.apply_agreements(conn, AGREEMENTS, NOW)
        before = _rows(conn, smt_authorization, smt_authorization.c.id)
        assert auths.apply_agreements(conn, AGREEMENTS, NOW) == {
            "scanned": 2, "updated": 0, "inserted": 0, "unchanged": 2, "failed": 0}
        assert _rows(conn, smt_authorization, smt_authorization.c.id) == before
        # a later sync: only last_sync_at moves (when SMT last reported it), updated_at does not
        assert auths.apply_agreements(conn, AGREEMENTS, LATER)["updated"] == 0
        after = _rows(conn, smt_authorization, smt_authorization.c.id)
        assert [r["updated_at"] for r in after] == [r["updated_at"] for r in before]
        assert {r["last_sync_at"] for r in after} == {LATER}


def test_a_status_change_updates_and_archives_and_unknown_esiids_fail(engine):
    with engine.begin() as conn:
        auth_id = _auth(conn)
        auths.set_agreement(conn, auth_id, agreement_number=3162880, status="PENDING", message="Pending", now=NOW,
                            start=D(2025, 11, 8), end=D(2026, 11, 8))
        counts = auths.apply_agreements(conn, [
            AgreementStatus(3162880, ESIID, "DECLINED", "Not Accepted"),
            AgreementStatus(999, None, "ACTIVE", "Active")], LATER)
        row = conn.execute(sa.select(smt_authorization).where(smt_authorization.c.id == auth_id)).one()
    assert counts == {"scanned": 2, "updated": 1, "inserted": 0, "unchanged": 0, "failed": 1}
    assert (row.smt_status, row.archived_at, row.updated_at, row.authorization_end) == (
        "DECLINED", LATER, LATER, D(2026, 11, 8))


def test_a_22_digit_esiid_is_kept_whole(engine):
    with engine.begin() as conn:
        auths.apply_agreements(conn, [AgreementStatus(4000001, ESIID_22, "ACTIVE", "Active")], NOW)
        made = _auth(conn, esiid=ESIID_22)
        assert auths.active_esiids(conn) == [ESIID_22]
        assert conn.execute(sa.select(smt_authorization.c.esiid).where(smt_authorization.c.id == made)).scalar() \
            == ESIID_22
    with engine.begin() as conn, pytest.raises(ValueError, match="17 or 22"):
        _auth(conn, esiid=ESIID_22[-17:] + "0")


def test_subscriptions_are_needed_until_one_is_made(engine):
    with engine.begin() as conn:
        auth_id = _auth(conn)
        auths.set_agreement(conn, auth_id, agreement_number=3162880, status="ACTIVE", message="Active", now=NOW)
        assert [r.id for r in auths.needing_subscription(conn)] == [auth_id]
        auths.set_subscription(conn, auth_id, status="failed", number=None, message="HTTP 500", now=NOW)
        assert [r.id for r in auths.needing_subscription(conn)] == [auth_id]
        auths.set_subscription(conn, auth_id, status="already_active", number=None, message=None, now=LATER)
        assert auths.needing_subscription(conn) == []
        auths.archive(conn, auth_id, LATER, "terminated by the customer")
        assert auths.active_esiids(conn) == [] and auths.active_for(conn, ESIID) == []
        row = conn.execute(sa.select(smt_authorization)).one()
    assert (row.smt_subscription_status, row.archived_at, row.contact_email_enc) == (
        "already_active", LATER, "gAAAA-ciphertext")


# ---- backfill requests ----

def test_one_request_per_window_and_a_failed_one_reopens(engine):
    with engine.begin() as conn:
        args = {"esiid": ESIID, "start": D(2024, 11, 8), "end": D(2025, 11, 7), "authorization_id": None}
        first, created = smt_backfills.open_request(conn, reason="enrollment", now=NOW, **args)
        assert created
        assert smt_backfills.open_request(conn, reason="gap", now=LATER, **args) == (first, False)
        smt_backfills.set_submitted(conn, first, correlation_id=None, accepted=False, error="HTTP 400", now=NOW)
        assert smt_backfills.open_request(conn, reason="enrollment", now=LATER, **args) == (first, True)
        row = conn.execute(sa.select(smt_backfill_request)).one()
    assert (row.status, row.error, row.updated_at) == ("requested", None, LATER)


def test_submission_and_report_status_and_polling(engine):
    with engine.begin() as conn:
        rid, _ = smt_backfills.open_request(conn, esiid=ESIID, start=D(2025, 1, 1), end=D(2025, 1, 31),
                                            reason="gap", authorization_id=None, now=NOW)
        assert smt_backfills.due_for_poll(conn, NOW) == []  # no correlation id yet
        smt_backfills.set_submitted(conn, rid, correlation_id="C-1", accepted=True, error=None, now=NOW)
        assert [r.id for r in smt_backfills.due_for_poll(conn, NOW)] == [rid]
        smt_backfills.record_report_status(conn, rid, state="delivered", report_json='{"s":"D"}', now=NOW)
        assert smt_backfills.due_for_poll(conn, NOW + dt.timedelta(minutes=5)) == []
        assert len(smt_backfills.due_for_poll(conn, NOW + dt.timedelta(minutes=15))) == 1
        assert conn.execute(sa.select(smt_backfill_request.c.status)).scalar() == "accepted"  # a report alone
        smt_backfills.record_report_status(conn, rid, state="failed", report_json='{"s":"F"}', now=LATER)
        assert conn.execute(sa.select(smt_backfill_request.c.status)).scalar() == "failed"


def test_enrollments_due_windows_by_account_class(engine):
    today = D(2025, 11, 8)
    with engine.begin() as conn:
        res = _auth(conn)
        com = _auth(conn, esiid=ESIID_22, months_back=24, account_class="com")
        _auth(conn, esiid="10443720000000002")  # still PENDING: not due
        for n, auth_id in ((1, res), (2, com)):
            auths.set_agreement(conn, auth_id, agreement_number=n, status="ACTIVE", message="Active", now=NOW)
        due = smt_backfills.enrollments_due(conn, today)
        assert [(d["authorization_id"], d["start"], d["end"]) for d in due] == [
            (res, D(2024, 11, 8), D(2025, 11, 7)), (com, D(2023, 11, 8), D(2025, 11, 7))]
        smt_backfills.open_request(conn, esiid=ESIID, start=due[0]["start"], end=due[0]["end"], reason="enrollment",
                                   authorization_id=res, now=NOW)
        assert [d["authorization_id"] for d in smt_backfills.enrollments_due(conn, today)] == [com]


def test_a_residential_window_is_capped_at_12_months_and_month_ends_clamp():
    assert smt_backfills.months_before(D(2025, 3, 31), 1) == D(2025, 2, 28)
    assert smt_backfills.months_before(D(2024, 1, 15), 13) == D(2022, 12, 15)
    assert smt_backfills.MAX_MONTHS == {"res": 12, "com": 24}


def _raw(conn, name: str, status: str = "normalized", received_at: dt.datetime = NOW) -> int:
    return conn.execute(sa.insert(raw_file).values(
        sha256=hashlib.sha256(name.encode()).hexdigest(), filename=name, source="inbox", kind="smt_interval",
        size_bytes=1, storage_uri=f"file:///{name}", received_at=received_at, status=status,
    ).returning(raw_file.c.id)).scalar()


def _cover(conn, raw_id: int, first: dt.date, last: dt.date, esiid=ESIID, channel="consumption"):
    conn.execute(sa.insert(raw_file_coverage).values(
        raw_file_id=raw_id, esiid=esiid, meter="unknown", channel=channel, first_local_date=first,
        last_local_date=last, intervals=96 * ((last - first).days + 1)))


def test_a_request_is_delivered_only_by_normalized_coverage_spanning_its_window(engine):
    with engine.begin() as conn:
        spans, _ = smt_backfills.open_request(conn, esiid=ESIID, start=D(2025, 1, 1), end=D(2025, 3, 31),
                                              reason="enrollment", authorization_id=None, now=NOW)
        short, _ = smt_backfills.open_request(conn, esiid=ESIID, start=D(2025, 1, 1), end=D(2025, 6, 30),
                                              reason="gap", authorization_id=None, now=NOW)
        a, b, failed, other = (_raw(conn, n) for n in ("a.csv", "b.csv", "failed.csv", "other.csv"))
        conn.execute(raw_file.update().where(raw_file.c.id == failed).values(status="failed"))
        _cover(conn, a, D(2024, 12, 1), D(2025, 2, 10))
        _cover(conn, b, D(2025, 2, 11), D(2025, 4, 30))  # touches a: together they span the first window
        _cover(conn, failed, D(2025, 5, 1), D(2025, 6, 30))  # would finish the second, but failed
        _cover(conn, other, D(2025, 5, 1), D(2025, 6, 30), channel="generation")  # not consumption
        assert smt_backfills.mark_delivered(conn, LATER) == [spans]
        rows = {r.id: r for r in conn.execute(sa.select(smt_backfill_request))}
        assert (rows[spans].status, rows[spans].delivered_raw_file_ids) == ("delivered", f"{a},{b}")
        assert (rows[short].status, rows[short].delivered_raw_file_ids) == ("requested", None)
        assert smt_backfills.mark_delivered(conn, LATER, esiids=[ESIID]) == []


def test_the_file_that_left_a_gap_does_not_deliver_its_repair(engine):
    with engine.begin() as conn:
        old = _raw(conn, "old.csv", received_at=NOW - dt.timedelta(days=3))
        _cover(conn, old, D(2025, 11, 1), D(2025, 11, 7))  # spans 11-04, which it has no reading of
        rid, _ = smt_backfills.open_request(conn, esiid=ESIID, start=D(2025, 11, 4), end=D(2025, 11, 4),
                                            reason="gap", authorization_id=None, now=NOW)
        assert smt_backfills.mark_delivered(conn, NOW) == []
        _cover(conn, _raw(conn, "repair.csv", received_at=LATER), D(2025, 11, 4), D(2025, 11, 4))
        assert smt_backfills.mark_delivered(conn, LATER) == [rid]


# ---- the gap sweep ----

TODAY = D(2025, 11, 8)  # checks 11-03 … 11-07: 11-06 and 11-07 are SMT's lag


def _day(conn, day: dt.date, status: str, actual: int, esiid=ESIID):
    conn.execute(sa.insert(daily_completeness).values(
        esiid=esiid, meter="unknown", channel="consumption", local_date=day, interval_minutes=15,
        expected_intervals=96, actual_intervals=actual, estimated_intervals=0, filled_intervals=96 - actual,
        kwh_real=actual * 0.25, kwh_filled=0.0, completeness=actual / 96, status=status))


def _series_missing_nov_4(conn):
    """October 20 to November 7 whole but for November 4 (no reading) and the last afternoon."""
    for i in range(19):
        day = D(2025, 10, 20) + dt.timedelta(days=i)
        if day == D(2025, 11, 4):
            _day(conn, day, "gaps", 0)
        elif day == D(2025, 11, 7):
            _day(conn, day, "partial", 50)
        else:
            _day(conn, day, "complete", 96)


def _ledger(conn) -> dict:
    return {r.local_date: r for r in conn.execute(sa.select(interval_day_ledger))}


def test_a_missing_day_gets_one_repair_then_is_incomplete(engine):
    with engine.begin() as conn:
        _series_missing_nov_4(conn)
        first = gap_ledger.sweep(conn, today=TODAY, now=NOW)
        assert first.repairs == [gap_ledger.GapRepair(ESIID, D(2025, 11, 4), D(2025, 11, 4), [D(2025, 11, 4)])]
        assert first.counts == {"COMPLETE": 3, "PENDING_SMT": 1, gap_ledger.REPAIR_DUE: 1}
        repair = first.repairs[0]
        rid, _ = smt_backfills.open_request(conn, esiid=ESIID, start=repair.start, end=repair.end, reason="gap",
                                            authorization_id=None, now=NOW)
        gap_ledger.record_repair(conn, repair, rid, NOW)
        day = _ledger(conn)[D(2025, 11, 4)]
        assert (day.status, day.repair_request_id, day.repair_requested_at) == ("REPAIR_REQUESTED", rid, NOW)

        second = gap_ledger.sweep(conn, today=TODAY + dt.timedelta(days=1), now=LATER)
        ledger = _ledger(conn)
    assert second.repairs == []  # never a second repair for the day
    assert (ledger[D(2025, 11, 4)].status, ledger[D(2025, 11, 4)].repair_request_id) == ("INCOMPLETE_METER", rid)
    assert ledger[D(2025, 11, 4)].intervals_at_last_check == 0


def test_lag_days_are_pending_complete_days_complete_and_a_rerun_changes_nothing(engine):
    with engine.begin() as conn:
        _series_missing_nov_4(conn)
        gap_ledger.sweep(conn, today=TODAY, now=NOW)
        ledger = _ledger(conn)
        assert (ledger[D(2025, 11, 7)].status, ledger[D(2025, 11, 7)].intervals_at_last_check) == ("PENDING_SMT", 50)
        assert {d: r.status for d, r in ledger.items() if d != D(2025, 11, 7)} == {
            D(2025, 11, 3): "COMPLETE", D(2025, 11, 5): "COMPLETE", D(2025, 11, 6): "COMPLETE"}
        before = _rows(conn, interval_day_ledger, interval_day_ledger.c.local_date)
        again = gap_ledger.sweep(conn, today=TODAY, now=LATER)
        assert again.written == 0 and len(again.repairs) == 1  # still due: its repair was not recorded
        assert _rows(conn, interval_day_ledger, interval_day_ledger.c.local_date) == before


def test_consecutive_gap_days_merge_into_one_repair_and_a_late_delivery_completes(engine):
    with engine.begin() as conn:
        for i in range(10):
            day = D(2025, 10, 30) + dt.timedelta(days=i)
            _day(conn, day, "gaps" if day in (D(2025, 11, 3), D(2025, 11, 4)) else "complete",
                 10 if day.day in (3, 4) else 96)
        result = gap_ledger.sweep(conn, today=TODAY, now=NOW)
        assert [(r.start, r.end) for r in result.repairs] == [(D(2025, 11, 3), D(2025, 11, 4))]
        repair = result.repairs[0]
        rid, _ = smt_backfills.open_request(conn, esiid=ESIID, start=repair.start, end=repair.end, reason="gap",
                                            authorization_id=None, now=NOW)
        gap_ledger.record_repair(conn, repair, rid, NOW)
        conn.execute(daily_completeness.update().where(daily_completeness.c.local_date == D(2025, 11, 3))
                     .values(status="complete", actual_intervals=96))
        gap_ledger.sweep(conn, today=TODAY, now=LATER)
        ledger = _ledger(conn)
    assert (ledger[D(2025, 11, 3)].status, ledger[D(2025, 11, 3)].repair_request_id) == ("COMPLETE", rid)
    assert (ledger[D(2025, 11, 4)].status, ledger[D(2025, 11, 4)].intervals_at_last_check) == ("INCOMPLETE_METER", 10)
