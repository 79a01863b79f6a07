"""SMT agreements, subscriptions, backfill, report status and meterInfo (vendor-apis.md §2.2, §2.3)
against recorded response shapes through httpx.MockTransport: the exact outgoing request of every
endpoint, the answer readers, the replaced system's defects refused, state-changing calls sent once, and
no password, token, e-mail or raw ESIID in any log record or stored request."""

from __future__ import annotations

import datetime as dt
import json
import logging

import httpx
import pytest

from intelliwatt_pipelines.vendors.smt import answers as ans
from intelliwatt_pipelines.vendors.smt import lifecycle as lc
from intelliwatt_pipelines.vendors.smt import requests as smt
from intelliwatt_pipelines.vendors.smt.client import SmtUnavailable
from intelliwatt_pipelines_tests.test_smt_api_client import BASE, FIXTURES, JWT, PASSWORD, Smt, client

ESIID = "10443720000000001"
LONG_ESIID = "1008901000000000000001"  # 22 digits (CenterPoint): kept whole
EMAIL = "customer.name@mail.example"
REP = 10098  # a REP certificate number, not a TDSP-keyed one
IDS = {"trans_id": "TX1", "requestor_id": "INTELLIPATH", "requestor_auth_id": "134642921"}
HEAD = {"requestorID": "INTELLIPATH", "requesterAuthenticationID": "134642921"}
TERMS = {"SMTTermsandConditions": "Y"}


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def answer(name: str, status: int = 200) -> httpx.Response:
    return httpx.Response(status, content=fixture(name), headers={"content-type": "application/json"})


# (call, path, recorded answer, body without trans_id, service-ID headers, sent once)
ENDPOINTS = [
    (lambda c: c.new_agreement(ESIID, "112233445", REP, EMAIL, 11), "/v2/NewAgreement/", "new_agreement.json",
     HEAD | {"retailCustomerEmail": EMAIL, "agreementDuration": 12, "customerLanguagePreference": "ENGLISH",
             "customerMeterList": [{"ESIID": ESIID, "meterNumber": "112233445", "PUCTRORNumber": REP}]} | TERMS,
     True, True),
    (lambda c: c.new_subscription(13), "/v2/NewSubscription/", "new_subscription.json",
     {"requestorID": "INTELLIPATH", "requesterType": "CSP", "requesterAuthenticationID": "134642921",
      "subscriptionType": "CSPENROLL", "historicalSubscriptionDuration": 12, "reportFormat": "CSV",
      "dataType": "INTERVAL", "deliveryMode": "FTP"} | TERMS, True, True),
    (lambda c: c.my_agreements(), "/v2/myagreements/", "myagreements.json", HEAD | TERMS, False, False),
    (lambda c: c.my_agreements(3162880, "ACT"), "/v2/myagreements/", "myagreements.json",
     HEAD | {"agreementNumber": 3162880, "statusReason": "ACT"} | TERMS, False, False),
    (lambda c: c.agreement_esiids(3162880), "/v2/AgreementESIIDs/", "agreement_esiids.json",
     HEAD | {"agreementNumber": 3162880} | TERMS, False, False),
    (lambda c: c.terminate([3162880, 3214970], EMAIL), "/v2/Terminateagreement/", "terminate.json",
     HEAD | {"agreementList": [{"agreementNumber": 3162880, "retailCustomerEmail": EMAIL},
                               {"agreementNumber": 3214970, "retailCustomerEmail": EMAIL}]} | TERMS, False, True),
    (lambda c: c.my_subscriptions(), "/v2/Mysubscriptions/", "mysubscriptions.json", HEAD | TERMS, False, False),
    (lambda c: c.unsubscribe(88120045), "/v2/UnSubscription/", "unsubscribe.json",
     HEAD | {"subscriptionNumber": "88120045"} | TERMS, False, True),
    (lambda c: c.interval_backfill(LONG_ESIID, dt.date(2024, 11, 21), dt.date(2025, 11, 19)),
     "/v2/15minintervalreads/", "backfill_accepted.json",
     {"requestorID": "INTELLIPATH", "requesterType": "CSP", "requesterAuthenticationID": "134642921",
      "startDate": "11/21/2024", "endDate": "11/19/2025", "deliveryMode": "FTP", "reportFormat": "CSV",
      "version": "A", "readingType": "C", "esiid": [LONG_ESIID]} | TERMS, False, True),
    (lambda c: c.report_status("CID20251120000017"), "/v2/reportrequeststatus/", "report_status_pending.json",
     HEAD | {"correlationId": "CID20251120000017"} | TERMS, False, False),
    (lambda c: c.report_status("CID20251120000017", "ADHOC"), "/v2/reportrequeststatus/",
     "report_status_completed.json", HEAD | {"correlationId": "CID20251120000017", "serviceType": "ADHOC"} | TERMS,
     False, False),
    (lambda c: c.meter_info([ESIID]), "/v2/meterInfo/", "meter_info.json",
     {"requestorID": "INTELLIPATH", "requesterType": "CSP", "requesterAuthenticationID": "134642921",
      "reportFormat": "JSON", "version": "L", "ESIIDMeterList": [{"esiid": ESIID}]} | TERMS, False, False),
    (lambda c: c.meter_info([ESIID, LONG_ESIID]), "/v2/meterInfo/", "meter_info.json",
     {"requestorID": "INTELLIPATH", "requesterType": "CSP", "requesterAuthenticationID": "134642921",
      "reportFormat": "CSV", "version": "L", "ESIIDMeterList": [{"esiid": ESIID}, {"esiid": LONG_ESIID}]} | TERMS,
     False, False),
]
STATE_CHANGING = [e for e in ENDPOINTS if e[5]]


def _types(body: dict) -> dict:
    return {k: type(v).__name__ for k, v in body.items()}


@pytest.mark.parametrize(("call", "path", "recorded", "expected", "service_headers", "once"), ENDPOINTS,
                         ids=[f"{e[1]}{i}" for i, e in enumerate(ENDPOINTS)])
def test_every_endpoint_sends_exactly_the_documented_request(call, path, recorded, expected, service_headers, once):
    fake = Smt(answer(recorded))
    with client(fake) as smt_client:
        response = call(smt_client)
    sent = fake.requests[-1]
    assert (sent.method, str(sent.url)) == ("POST", f"{BASE}{path}")
    assert sent.headers["authorization"] == f"Bearer {JWT}" and sent.headers["content-type"] == "application/json"
    if service_headers:
        assert sent.headers["username"] == sent.headers["serviceid"] == "INTELLIPATH"
    else:
        assert "username" not in sent.headers and "serviceid" not in sent.headers
    body = json.loads(sent.content)
    trans_id = body.pop("trans_id")
    assert body == expected and _types(body) == _types(expected)
    assert isinstance(trans_id, str) and len(trans_id) <= 32 and response.request.trans_id == trans_id
    assert (response.path, response.status, response.content) == (path, 200, fixture(recorded))
    assert response.request.headers["Authorization"] == "[redacted]"
    stored = response.request.as_json().decode()
    assert EMAIL not in stored and JWT not in stored and PASSWORD not in stored


def test_the_paths_are_the_documented_ones_and_only_two_carry_the_service_id_headers():
    assert smt.SERVICE_ID_HEADER_PATHS == {lc.NEW_AGREEMENT_PATH, lc.NEW_SUBSCRIPTION_PATH}
    assert (lc.MY_AGREEMENTS_PATH, lc.TERMINATE_PATH, lc.INTERVAL_BACKFILL_PATH, lc.REPORT_STATUS_PATH,
            lc.METER_INFO_PATH, lc.UNSUBSCRIBE_PATH, lc.MY_SUBSCRIPTIONS_PATH, lc.AGREEMENT_ESIIDS_PATH) == (
        "/v2/myagreements/", "/v2/Terminateagreement/", "/v2/15minintervalreads/", "/v2/reportrequeststatus/",
        "/v2/meterInfo/", "/v2/UnSubscription/", "/v2/Mysubscriptions/", "/v2/AgreementESIIDs/")
    assert "retailcustomeremail" in smt.SECRET_KEYS


DURATIONS = [
    (11, lc.AGREEMENT_DURATIONS, 12), (30, lc.AGREEMENT_DURATIONS, 24), (36, lc.AGREEMENT_DURATIONS, 36),
    (1, lc.AGREEMENT_DURATIONS, 1), (2, lc.AGREEMENT_DURATIONS, 1), (100, lc.AGREEMENT_DURATIONS, 36),
    (13, lc.HISTORICAL_DURATIONS, 12), (1, lc.HISTORICAL_DURATIONS, 3), (18, lc.HISTORICAL_DURATIONS, 12),
    (30, lc.HISTORICAL_DURATIONS, 24),
]


def test_durations_are_the_nearest_allowed_and_a_tie_goes_to_the_first():
    assert [lc.nearest(value, choices) for value, choices, _ in DURATIONS] == [e for *_, e in DURATIONS]


def test_the_bodies_use_the_nearest_durations():
    agreement = lc.new_agreement_body(**IDS, esiid=ESIID, meter_number="1", rep_puct_number=REP, email=EMAIL,
                                      months=30)
    assert agreement["agreementDuration"] == 24 and lc.new_agreement_body(
        **IDS, esiid=ESIID, meter_number="1", rep_puct_number=REP, email=EMAIL)["agreementDuration"] == 12
    assert lc.new_subscription_body(**IDS, historical_months=13)["historicalSubscriptionDuration"] == 12
    with pytest.raises(ValueError, match="months"):
        lc.new_agreement_body(**IDS, esiid=ESIID, meter_number="1", rep_puct_number=REP, email=EMAIL, months=0)


def test_a_22_digit_esiid_is_kept_whole_and_a_near_miss_refused_without_quoting_it():
    agreement = lc.new_agreement_body(**IDS, esiid=LONG_ESIID, meter_number="CNP0099887", rep_puct_number=REP,
                                      email=EMAIL)
    assert agreement["customerMeterList"][0]["ESIID"] == LONG_ESIID
    assert lc.interval_backfill_body(**IDS, esiid=LONG_ESIID, start=dt.date(2025, 1, 1),
                                     end=dt.date(2025, 1, 31))["esiid"] == [LONG_ESIID]
    assert lc.meter_info_body(**IDS, esiids=[LONG_ESIID])["ESIIDMeterList"] == [{"esiid": LONG_ESIID}]
    with pytest.raises(ValueError) as refused:
        lc.interval_backfill_body(**IDS, esiid=LONG_ESIID[-18:], start=dt.date(2025, 1, 1), end=dt.date(2025, 1, 2))
    assert LONG_ESIID[-18:] not in str(refused.value)


def test_a_missing_meter_number_is_refused_before_anything_is_sent():
    for meter in (None, "", "   ", "unknown", "N/A", "0000", "placeholder"):
        with pytest.raises(ValueError, match="^meter number unknown; run meter info first$"):
            lc.new_agreement_body(**IDS, esiid=ESIID, meter_number=meter, rep_puct_number=REP, email=EMAIL)
        fake = Smt()
        with pytest.raises(ValueError, match="run meter info first"):
            client(fake).new_agreement(ESIID, meter, REP, EMAIL)
        assert fake.requests == []


def test_tdsp_keyed_puct_numbers_are_refused_unless_explicitly_allowed():
    assert lc.TDSP_PUCT_NUMBERS == {10007, 10004, 10005, 10002, 10006}
    for number in sorted(lc.TDSP_PUCT_NUMBERS):
        with pytest.raises(ValueError, match="TDSP numbers.*not a REP certificate"):
            lc.new_agreement_body(**IDS, esiid=ESIID, meter_number="1", rep_puct_number=number, email=EMAIL)
        body = lc.new_agreement_body(**IDS, esiid=ESIID, meter_number="1", rep_puct_number=number, email=EMAIL,
                                     allow_tdsp_number=True)
        assert body["customerMeterList"][0]["PUCTRORNumber"] == number
    fake = Smt()
    with pytest.raises(ValueError, match="TDSP"):
        client(fake).new_agreement(ESIID, "112233445", 10007, EMAIL)
    assert fake.requests == []


def test_the_rep_puct_number_must_be_a_positive_int():
    for number in ("10098", 0, -5, True, None, 10098.0):
        with pytest.raises(ValueError, match="positive int"):
            lc.new_agreement_body(**IDS, esiid=ESIID, meter_number="1", rep_puct_number=number, email=EMAIL)


BAD_REQUESTS = [
    (lambda: lc.new_subscription_body(**IDS, historical_months=12, subscription_type="WEEKLY"), "subscriptionType"),
    (lambda: lc.new_subscription_body(**IDS, historical_months=12, delivery_mode="SFTP"), "deliveryMode"),
    (lambda: lc.my_agreements_body(**IDS, status_reason="ACTIVE"), "statusReason"),
    (lambda: lc.my_agreements_body(**IDS, agreement_number="3162880"), "agreementNumber"),
    (lambda: lc.terminate_body(**IDS, agreement_numbers=[], email=EMAIL), "no agreement"),
    (lambda: lc.terminate_body(**IDS, agreement_numbers=[1], email="not-an-address"), "e-mail"),
    (lambda: lc.interval_backfill_body(**IDS, esiid=ESIID, start=dt.date(2025, 2, 1), end=dt.date(2025, 1, 1)),
     "before start"),
    (lambda: lc.report_status_body(**IDS, correlation_id=" "), "correlationId"),
    (lambda: lc.unsubscribe_body(**IDS, subscription_number=""), "subscriptionNumber"),
    (lambda: lc.meter_info_body(**IDS, esiids=[]), "no ESIID"),
    (lambda: lc.my_subscriptions_body(trans_id="T", requestor_id="", requestor_auth_id="1"), "requestorID"),
]


def test_a_bad_request_is_refused_before_sending():
    for build, words in BAD_REQUESTS:
        with pytest.raises(ValueError, match=words) as refused:
            build()
        assert "not-an-address" not in str(refused.value)


STATUS_TEXTS = [
    ("Non Active - Terminated by CSP", "EXPIRED"), ("Active - Authorization Confirmed", "ACTIVE"), ("ACT", "ACTIVE"),
    ("act", "ACTIVE"), ("Pending", "PENDING"), ("PEN", "PENDING"), ("Pending Customer Authorization", "PENDING"),
    ("Declined", "DECLINED"), ("Not Accepted", "DECLINED"), ("NACOM", "DECLINED"), ("Not Active", "EXPIRED"),
    ("Inactive", "EXPIRED"), ("Completed", "EXPIRED"), ("COM", "EXPIRED"), ("Expire in last 45 days", "EXPIRED"),
    ("Terminated in last 45 days", "EXPIRED"), ("Terminated", "EXPIRED"), ("Agreement is active", "ACTIVE"),
    ("ACTIVEAUTH", "ACTIVE"), ("Activated", "ERROR"), ("Interactive", "ERROR"), ("", "ERROR"), (None, "ERROR"), ("Agreement Created", "ERROR"),
]


def test_status_mapping():
    assert {text: ans.map_status(text) for text, _ in STATUS_TEXTS} == dict(STATUS_TEXTS)


STATUS_PAIRS = [
    ("Pending", "ACT", "ACTIVE"), ("Active - Authorization Confirmed", "PEN", "ACTIVE"), ("Pending", "PEN", "PENDING"),
    ("Non Active - Terminated by CSP", "COM", "EXPIRED"), (None, "NACOM", "DECLINED"), ("???", None, "ERROR"),
    ("Agreement Created", "Pending", "PENDING"),
]


def test_an_agreement_is_active_when_its_status_or_its_reason_says_so():
    assert [ans.agreement_status(status, reason) for status, reason, _ in STATUS_PAIRS] == [
        e for *_, e in STATUS_PAIRS]


def test_the_agreements_answer_is_read_and_the_active_agreement_beats_the_terminated_duplicate():
    found = ans.parse_agreements(fixture("myagreements.json"))
    assert [(a.number, a.esiid, a.status) for a in found] == [
        (3214970, ESIID, "EXPIRED"), (3162880, ESIID, "ACTIVE"), (3301122, LONG_ESIID, "PENDING")]
    assert found[0].status_text == "Non Active - Terminated by CSP / COM"
    for order in (found, found[::-1]):
        best = ans.best_by_esiid(order)
        assert best[ESIID].number == 3162880 and best[LONG_ESIID].number == 3301122


def test_without_an_active_agreement_pending_then_the_highest_number_wins():
    agreements = [ans.Agreement(5, ESIID, "EXPIRED", ""), ans.Agreement(3, ESIID, "PENDING", ""),
                  ans.Agreement(9, ESIID, "DECLINED", ""), ans.Agreement(1, None, "ACTIVE", "")]
    assert ans.best_by_esiid(agreements) == {ESIID: agreements[1]}
    assert ans.best_by_esiid(agreements[::2])[ESIID].number == 9


def test_a_new_agreement_answer_gives_its_number_and_the_nested_status():
    (created,) = ans.parse_agreements(fixture("new_agreement.json"))
    assert (created.number, created.esiid, created.status) == (3350001, ESIID, "PENDING")
    with pytest.raises(ValueError, match="not JSON"):
        ans.parse_agreements(fixture("new_agreement_401.txt"))


def test_find_all_walks_depth_first():
    data = {"a": 1, "x": [{"a": 2, "y": {"a": 3}}, {"b": 4, "a": 5}], "z": {"A": 6}}
    assert ans.find_all(data, ("a", "A")) == [1, 2, 3, 5, 6] and ans.find_all(None, ("a",)) == []


def test_subscription_outcomes():
    assert ans.subscription_outcome(200, fixture("new_subscription.json")) == ans.SubscriptionOutcome(
        True, "created", "88120045", "Success")
    already = ans.subscription_outcome(400, fixture("new_subscription_already_active.json"))
    assert (already.ok, already.status, already.subscription_number) == (True, "already_active", None)
    other = json.dumps({"statusReason": "Invalid DUNS", "CustomerDUNSFaultList": [{"reasonCode": "bad"}]}).encode()
    assert ans.subscription_outcome(400, other) == ans.SubscriptionOutcome(False, "failed", None, "Invalid DUNS")
    assert ans.subscription_outcome(500, b"<html>down</html>").reason == "HTTP 500"
    assert not ans.subscription_outcome(409, fixture("new_subscription_already_active.json")).ok  # only a 400


def test_the_backfill_job_id_is_the_correlation_id_else_the_trans_id():
    assert ans.correlation_id(fixture("backfill_accepted.json"), "BF1") == "CID20251120000017"
    assert ans.correlation_id(b'{"result": {"CorrelationId": 42}}', "BF1") == "42"
    assert ans.correlation_id(b'{"statusCode": "200"}', "BF1") == "BF1"
    assert ans.correlation_id(b"accepted", "BF1") == "BF1"


REPORT_STATUSES = [
    (fixture("report_status_pending.json"), "In Progress", "pending"),
    (fixture("report_status_completed.json"), "COMPLETED", "delivered"),
    (fixture("report_status_failed.json"), "REJECTED - No data for the period", "failed"),
    (b'{"status": "Delivered"}', "Delivered", "delivered"),
    (b'{"status": "ACCEPTED"}', "ACCEPTED", "accepted"),
    (b'{"reportStatus": "Not Completed"}', "Not Completed", "pending"),
    (b'{"statusReason": "ERROR"}', "ERROR", "failed"),
    (b"{}", "", "pending"),
    (b"<html>gateway</html>", "<html>gateway</html>", "failed"),
]


def test_report_status_words_become_backfill_states_and_keep_the_text():
    assert [ans.parse_report_status(content) for content, *_ in REPORT_STATUSES] == [
        ans.ReportStatus(text, state) for _, text, state in REPORT_STATUSES]


def test_meter_info_json_gives_one_row_with_the_utility_meter_id():
    result = ans.parse_meter_info(200, fixture("meter_info.json"))
    assert result.status == "ok" and result.error is None and len(result.rows) == 1
    (row,) = result.rows
    assert tuple(row) == ans.METER_INFO_FIELDS and ans.METER_INFO_FIELDS[:3] == (
        "esiid", "meter_number", "utility_meter_id")
    assert (row["esiid"], row["meter_number"], row["utility_meter_id"]) == (ESIID, "112233445", "112233445")
    assert row["kwh_meter_multiplier"] == 1.0 and row["meter_serial_number"] == "LG-9988776655"
    assert row["last_updated"] == "10/01/2025 08:15:00" and row["dg_channel"] == "2" and row["han_protocol"] == "ZigBee"
    assert row["current_transformers_ratio"] is None and row["test_date"] == "03/14/2019"


def test_meter_info_falls_back_to_the_serial_or_meter_number_and_reads_lists():
    content = json.dumps({"ESIID": LONG_ESIID, "MeterData": [
        {"meterSerialNumber": "S1", "KWHMeterMultiplier": "x"}, {"esiid": ESIID, "meterNumber": "M2"}]}).encode()
    first, second = ans.parse_meter_info(200, content).rows
    assert (first["esiid"], first["meter_number"], first["kwh_meter_multiplier"]) == (LONG_ESIID, "S1", None)
    assert (second["esiid"], second["meter_number"]) == (ESIID, "M2")


def test_meter_info_error_2076_means_api_not_enabled():
    for status in (400, 200):
        result = ans.parse_meter_info(status, fixture("meter_info_2076.json"))
        assert (result.status, result.rows) == ("api_not_enabled", [])
        assert result.error == "API delivery not enabled (SMT error 2076); use the SFTP CSV"
    assert ans.parse_meter_info(200, b'{"errors": [{"code": 2076}]}').status == "api_not_enabled"


def test_meter_info_failures():
    assert ans.parse_meter_info(500, b"down").error == "HTTP 500: down"
    empty = ans.parse_meter_info(200, b'{"statusCode": "200"}')
    assert empty.status == "failed" and "no MeterData" in empty.error


def test_the_401_mismatch_quotes_the_body_and_hints_at_the_service_id():
    fake = Smt(httpx.Response(401, content=fixture("new_agreement_401.txt")))
    response = client(fake).new_agreement(ESIID, "112233445", REP, EMAIL)
    hint = ans.mismatch_hint(response.status, response.content)
    assert "Username/ServiceID Mismatch on both Header and Payload message." in hint
    assert "service ID must equal requestorID and the username/serviceId headers" in hint
    assert ans.mismatch_hint(200, fixture("new_agreement.json")) is None
    assert ans.mismatch_hint(401, b'{"statusReason": "expired token"}') is None


@pytest.mark.parametrize(("call", "path"), [(e[0], e[1]) for e in STATE_CHANGING], ids=[e[1] for e in STATE_CHANGING])
def test_state_changing_calls_are_sent_once_even_on_503(call, path):
    fake = Smt(*[httpx.Response(503, content=b"Service Unavailable")] * 3)
    with pytest.raises(SmtUnavailable, match="after 1 attempt"):
        call(client(fake, attempts=3))
    assert [r.url.path for r in fake.requests] == ["/v2/token/", path]


def test_reading_calls_are_retried_on_503():
    fake = Smt(httpx.Response(503), answer("myagreements.json"))
    assert client(fake, attempts=3).my_agreements().attempts == 2


def test_no_password_token_email_or_raw_esiid_in_any_log_record_or_stored_request(caplog):
    caplog.set_level(logging.DEBUG, logger="intelliwatt")
    caplog.set_level(logging.DEBUG, logger="httpx")
    fake = Smt(*[answer(e[2]) for e in ENDPOINTS])
    stored = []
    with client(fake) as smt_client:
        for call, *_ in ENDPOINTS:
            stored.append(call(smt_client).request.as_json().decode())
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "esiid#" in logged and "NewAgreement" in logged
    for secret in (PASSWORD, JWT, EMAIL, ESIID, LONG_ESIID):
        assert secret not in logged
        assert all(secret not in text for text in stored)
    terminate = json.loads(stored[5])["body"]["agreementList"]
    assert {a["retailCustomerEmail"] for a in terminate} == {"[redacted]"}
