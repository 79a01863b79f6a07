"""The SMT API client (vendor-apis.md §2.1) against recorded response shapes through httpx.MockTransport:
exact outgoing requests, token reuse and refresh, proxy mode, bounded retries, the 401 message, and no
password, token or raw ESIID in any log record or redacted request."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import dagster as dg
import httpx
import pytest

from intelliwatt_pipelines.defs.smt import SmtApiResource
from intelliwatt_pipelines.vendors.smt import requests as smt
from intelliwatt_pipelines.vendors.smt.client import SmtApiConfig, SmtClient, SmtUnavailable, TokenCache

FIXTURES = Path(__file__).parent / "data" / "vendor" / "smt"
TOKEN_BYTES = (FIXTURES / "token.json").read_bytes()
JWT = json.loads(TOKEN_BYTES)["accessToken"]
MONTHLY_BYTES = (FIXTURES / "energydata_monthly.json").read_bytes()
BASE = "https://uatservices.smartmetertexas.net"
PASSWORD = "pa55-Secret-word"
PROXY_TOKEN = "proxy-Shared-secret-42"
ESIIDS = [f"104437200000000{n:02d}" for n in range(1, 6)]
LONG_ESIID = "1008901000000000000001"  # 22 digits (CenterPoint): kept whole
# The fixture's issuedAt (Central time): its expiresAt lies an hour later, in the future.
ISSUED = dt.datetime(2025, 11, 20, 15, 0, tzinfo=dt.timezone.utc)


class Clock:
    def __init__(self, now: dt.datetime = ISSUED):
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


class Smt:
    """A fake SMT: records every request, answers the token call and then the queued answers."""

    def __init__(self, *answers: httpx.Response | Exception, token: bytes = TOKEN_BYTES, token_status: int = 200):
        self.requests: list[httpx.Request] = []
        self.answers = list(answers)
        self.token, self.token_status = token, token_status

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path.endswith("/v2/token/"):
            return httpx.Response(self.token_status, content=self.token)
        answer = self.answers.pop(0) if self.answers else httpx.Response(200, content=MONTHLY_BYTES)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def token_calls(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path.endswith("/v2/token/")]


def config(**changes) -> SmtApiConfig:
    values = {"base_url": BASE, "username": "INTELLIPATH", "password": PASSWORD, "requestor_auth_id": "134642921",
              "backoff_s": 0.0} | changes
    return SmtApiConfig(**values)


def client(fake: Smt, *, cache: TokenCache | None = None, clock: Clock | None = None, sleeps: list | None = None,
           **changes) -> SmtClient:
    http = httpx.Client(transport=httpx.MockTransport(fake))
    return SmtClient(config(**changes), http, cache=cache or TokenCache(), clock=clock or Clock(),
                     sleep=(sleeps.append if sleeps is not None else lambda seconds: None))


def test_trans_ids_are_unique_short_and_shaped_like_the_replaced_systems():
    ids = {smt.new_trans_id("RPTSTAT") for _ in range(1000)}
    assert len(ids) == 1000 and max(map(len, ids)) <= 32
    assert smt.new_trans_id("RPTSTAT", now_ms=1732050000000, nonce="A1B2C3D4") == "RPTSTAT1732050000000A1B2C3D4"
    with pytest.raises(ValueError):
        smt.new_trans_id("A" * 12)


def test_dates_are_zero_padded_month_day_year():
    assert smt.mdy(dt.date(2024, 1, 5)) == "01/05/2024" and smt.mdy(dt.date(2024, 11, 30)) == "11/30/2024"


def test_the_energydata_body_has_exactly_the_documented_keys_and_types():
    body = smt.energydata_body(trans_id="TX1", requestor_id="INTELLIPATH", requestor_auth_id="134642921",
                               esiids=[ESIIDS[0], LONG_ESIID], start=dt.date(2024, 11, 1), end=dt.date(2024, 11, 30))
    assert body == {"trans_id": "TX1", "requestorID": "INTELLIPATH", "requestorType": "CSP",
                    "requesterAuthenticationID": "134642921", "startDate": "11/01/2024", "endDate": "11/30/2024",
                    "deliveryMode": "API", "reportFormat": "JSON", "version": "A", "readingType": "A",
                    "ESIIDList": [ESIIDS[0], LONG_ESIID], "SMTTermsandConditions": "Y"}
    with_blocks = smt.energydata_body(trans_id="TX1", requestor_id="I", requestor_auth_id="1", esiids=[ESIIDS[0]],
                                      start=dt.date(2024, 11, 1), end=dt.date(2024, 11, 1), reading_type="C",
                                      compatibility=True)
    assert with_blocks["readingType"] == "C"
    assert with_blocks["filter"] == {"esiidList": [ESIIDS[0]], "startDate": "11/01/2024", "endDate": "11/01/2024"}
    assert with_blocks["options"] == {"dataTypes": ["INTERVAL", "DAILY", "MONTHLY"]}


@pytest.mark.parametrize(("esiids", "start", "end", "reading"), [
    ([], dt.date(2024, 1, 1), dt.date(2024, 1, 2), "A"),
    (["0" + ESIIDS[0][:-1] + "12"], dt.date(2024, 1, 1), dt.date(2024, 1, 2), "A"),  # 18 digits: never cut
    ([ESIIDS[0]], dt.date(2024, 1, 2), dt.date(2024, 1, 1), "A"),
    ([ESIIDS[0]], dt.date(2024, 1, 1), dt.date(2024, 1, 2), "L"),
])
def test_a_bad_energydata_request_is_refused_before_sending(esiids, start, end, reading):
    with pytest.raises(ValueError) as refused:
        smt.energydata_body(trans_id="T", requestor_id="I", requestor_auth_id="1", esiids=esiids, start=start,
                            end=end, reading_type=reading)
    assert "1044372" not in str(refused.value)


@pytest.mark.parametrize("code", ["200", 200])
def test_the_token_response_takes_a_string_or_number_status_and_its_future_expiry(code):
    body = json.dumps(json.loads(TOKEN_BYTES) | {"statusCode": code}).encode()
    grant = smt.parse_token(200, body, ISSUED)
    assert grant.access_token == JWT and grant.token_type == "Bearer"
    assert grant.expires_at == dt.datetime(2025, 11, 20, 16, 0, tzinfo=dt.timezone.utc)  # 10:00 Central
    assert JWT not in repr(grant)


def test_the_token_expiry_falls_back_to_expires_in_and_the_field_name_variants():
    past = {"statusCode": 200, "accessToken": "abc", "token_type": "JWT", "expires_in": 900,
            "expiresAt": "01/01/2020 00:00:00"}
    grant = smt.parse_token(200, json.dumps(past).encode(), ISSUED)
    assert grant.token_type == "JWT" and grant.expires_at == ISSUED + dt.timedelta(seconds=900)
    bare = smt.parse_token(200, b'{"statusCode":"200","accessToken":"abc"}', ISSUED)
    assert bare.token_type == "Bearer" and bare.expires_at == ISSUED + dt.timedelta(hours=1)


@pytest.mark.parametrize(("status", "body", "words"), [
    (200, b'{"statusCode":"500","accessToken":"leaky-token"}', "statusCode is not 200"),
    (200, b'{"statusCode":"200"}', "no accessToken"),
    (200, b"<html>gateway</html>", "not a JSON object"),
    (403, b"forbidden", "HTTP 403"),
])
def test_an_unusable_token_response_fails_without_quoting_a_token(status, body, words):
    with pytest.raises(smt.SmtTokenError) as failure:
        smt.parse_token(status, body, ISSUED)
    assert words in str(failure.value) and "leaky-token" not in str(failure.value)


def test_redaction_removes_secrets_at_any_depth_and_masks_esiids():
    body = {"username": "INTELLIPATH", "password": PASSWORD, "ESIIDList": [ESIIDS[0], LONG_ESIID],
            "agreementList": [{"agreementNumber": 3162880, "retailCustomerEmail": "a@b.example"}],
            "nested": {"accessToken": JWT, "note": f"for {ESIIDS[1]}"}}
    text = json.dumps(smt.redact_body(body))
    for secret in (PASSWORD, JWT, "a@b.example", ESIIDS[0], ESIIDS[1], LONG_ESIID):
        assert secret not in text
    assert '"username": "INTELLIPATH"' in text and "3162880" in text and "esiid#" in text
    assert smt.redact_headers({"Authorization": f"Bearer {JWT}", "x-proxy-token": "p", "Accept": "a"}) == {
        "Authorization": "[redacted]", "x-proxy-token": "[redacted]", "Accept": "a"}


def test_energydata_sends_exactly_the_documented_requests():
    fake = Smt()
    with client(fake) as smt_client:
        answer = smt_client.energydata([ESIIDS[0]], dt.date(2024, 11, 1), dt.date(2024, 11, 30))
    token_call, data_call = fake.requests
    assert (token_call.method, str(token_call.url)) == ("POST", f"{BASE}/v2/token/")
    assert token_call.headers["content-type"] == "application/json" and "authorization" not in token_call.headers
    assert json.loads(token_call.content) == {"username": "INTELLIPATH", "password": PASSWORD}
    assert (data_call.method, str(data_call.url)) == ("POST", f"{BASE}/v2/energydata/")
    assert data_call.headers["authorization"] == f"Bearer {JWT}"
    assert data_call.headers["content-type"] == "application/json"
    assert "username" not in data_call.headers and "serviceid" not in data_call.headers
    sent = json.loads(data_call.content)
    assert {k: type(v).__name__ for k, v in sent.items()} == {
        "trans_id": "str", "requestorID": "str", "requestorType": "str", "requesterAuthenticationID": "str",
        "startDate": "str", "endDate": "str", "deliveryMode": "str", "reportFormat": "str", "version": "str",
        "readingType": "str", "ESIIDList": "list", "SMTTermsandConditions": "str"}
    assert sent["requestorID"] == "INTELLIPATH" and sent["version"] == "A" and sent["ESIIDList"] == [ESIIDS[0]]
    assert sent["startDate"] == "11/01/2024" and len(sent["trans_id"]) <= 32
    assert (answer.status, answer.content, answer.attempts, answer.ok) == (200, MONTHLY_BYTES, 1, True)
    assert answer.request.trans_id == sent["trans_id"] and answer.request.url == f"{BASE}/v2/energydata/"
    assert answer.request.headers["Authorization"] == "[redacted]"


def test_agreement_and_subscription_calls_carry_the_service_id_headers():
    fake = Smt()
    with client(fake, service_id="INTELLIPATH2") as smt_client:
        for path in ("/v2/NewAgreement/", "/v2/NewSubscription/", "/v2/myagreements/"):
            smt_client.post(path, {"trans_id": "T1", "requestorID": "INTELLIPATH2"})
    agreement, subscription, listing = fake.requests[1:]
    for call in (agreement, subscription):
        assert call.headers["username"] == call.headers["serviceid"] == "INTELLIPATH2"
    assert "username" not in listing.headers and "serviceid" not in listing.headers


def test_five_esiids_take_one_token_and_clients_of_one_process_share_it():
    fake, cache = Smt(), TokenCache()
    for esiid in ESIIDS:  # a client per ESIID, as one op call each would build
        with client(fake, cache=cache) as smt_client:
            smt_client.energydata([esiid], dt.date(2024, 11, 1), dt.date(2024, 11, 30))
    assert len(fake.token_calls()) == 1 and len(fake.requests) == 6
    client(fake, cache=cache, username="OTHERID").token()
    client(fake, cache=cache, base_url="https://services.smartmetertexas.net").token()
    assert len(fake.token_calls()) == 3  # the cache key is (base URL, username)


def test_a_token_is_refreshed_60_seconds_before_it_expires():
    fake, clock = Smt(), Clock()
    smt_client = client(fake, clock=clock)
    smt_client.token()
    clock.now = ISSUED + dt.timedelta(minutes=58, seconds=59)  # 61 s left: still reused
    smt_client.token()
    assert len(fake.token_calls()) == 1
    clock.now = ISSUED + dt.timedelta(minutes=59, seconds=1)  # 59 s left: a new one
    smt_client.token()
    assert len(fake.token_calls()) == 2


def test_a_401_on_a_call_drops_the_cached_token():
    fake = Smt(httpx.Response(401, content=(FIXTURES / "new_agreement_401.txt").read_bytes()))
    smt_client = client(fake)
    answer = smt_client.post("/v2/NewAgreement/", {"trans_id": "T1"})
    assert answer.status == 401 and b"Mismatch" in answer.content and not answer.ok
    smt_client.post("/v2/NewAgreement/", {"trans_id": "T2"})
    assert len(fake.token_calls()) == 2


def test_proxy_mode_sends_every_call_to_the_proxy_with_its_secret():
    fake = Smt()
    proxy = "https://smt-proxy.example.net/smt"
    with client(fake, proxy_url=proxy, proxy_token=PROXY_TOKEN) as smt_client:
        answer = smt_client.energydata([ESIIDS[0]], dt.date(2024, 11, 1), dt.date(2024, 11, 30))
    assert [str(r.url) for r in fake.requests] == [f"{proxy}/v2/token/", f"{proxy}/v2/energydata/"]
    assert all(r.headers["x-proxy-token"] == PROXY_TOKEN for r in fake.requests)
    assert fake.requests[1].headers["authorization"] == f"Bearer {JWT}"
    assert answer.request.headers["x-proxy-token"] == "[redacted]"
    direct = Smt()
    client(direct).token()
    assert "x-proxy-token" not in direct.requests[0].headers


def test_5xx_and_timeouts_are_retried_with_backoff_then_succeed():
    fake = Smt(httpx.Response(503), httpx.ReadTimeout("slow"), httpx.Response(200, content=MONTHLY_BYTES))
    sleeps: list[float] = []
    answer = client(fake, sleeps=sleeps, backoff_s=1.0).energydata([ESIIDS[0]], dt.date(2024, 1, 1),
                                                                   dt.date(2024, 1, 31))
    assert answer.status == 200 and answer.attempts == 3 and sleeps == [1.0, 2.0]
    bodies = [json.loads(r.content)["trans_id"] for r in fake.requests[1:]]
    assert len(set(bodies)) == 1  # a retry repeats the same request


def test_retries_are_bounded_and_end_in_a_clear_error_carrying_the_last_answer():
    fake = Smt(*[httpx.Response(503, content=b"Service Unavailable")] * 5)
    with pytest.raises(SmtUnavailable) as failure:
        client(fake, attempts=3).energydata([ESIIDS[0]], dt.date(2024, 1, 1), dt.date(2024, 1, 31))
    assert "failed after 3 attempt(s): HTTP 503" in str(failure.value) and len(fake.requests) == 4
    assert failure.value.response.status == 503 and failure.value.response.content == b"Service Unavailable"
    timeouts = Smt(*[httpx.ConnectTimeout("no route")] * 5)
    with pytest.raises(SmtUnavailable, match="after 2 attempt"):
        client(timeouts, attempts=2).energydata([ESIIDS[0]], dt.date(2024, 1, 1), dt.date(2024, 1, 31))
    once = Smt(httpx.ReadTimeout("slow"))
    with pytest.raises(SmtUnavailable, match="after 1 attempt"):
        client(once).post("/v2/NewAgreement/", {"trans_id": "T"}, retry=False)
    assert len(once.requests) == 2


def test_a_4xx_answer_is_returned_not_retried():
    fake = Smt(httpx.Response(400, content=b'{"statusReason":"bad"}'))
    answer = client(fake).energydata([ESIIDS[0]], dt.date(2024, 1, 1), dt.date(2024, 1, 31))
    assert answer.status == 400 and answer.attempts == 1 and len(fake.requests) == 2


def test_a_401_token_names_the_three_causes():
    fake = Smt(token=(FIXTURES / "token_401.json").read_bytes(), token_status=401)
    with pytest.raises(smt.SmtAuthError) as failure:
        client(fake).energydata([ESIIDS[0]], dt.date(2024, 1, 1), dt.date(2024, 1, 31))
    message = str(failure.value)
    assert "service ID" in message and "password" in message and "whitelisted" in message
    assert "invalidCredentials" in message and PASSWORD not in message
    assert len(fake.requests) == 1  # not retried, and no data call without a token


def test_no_secret_or_raw_esiid_in_any_log_record_or_redacted_request(caplog):
    caplog.set_level(logging.DEBUG)
    fake = Smt(httpx.Response(502), httpx.Response(200, content=MONTHLY_BYTES))
    smt_client = client(fake, proxy_url="https://relay:url-Pass@proxy.example.net", proxy_token=PROXY_TOKEN)
    answer = smt_client.energydata([ESIIDS[0], LONG_ESIID], dt.date(2024, 1, 1), dt.date(2024, 1, 31))
    logged = "\n".join(r.getMessage() for r in caplog.records)
    stored = answer.request.as_json().decode()
    assert "esiid#" in logged and "retrying" in logged
    for secret in (PASSWORD, JWT, PROXY_TOKEN, "url-Pass", ESIIDS[0], LONG_ESIID):
        assert secret not in logged and secret not in stored
    assert "[redacted]" in stored and json.loads(stored)["body"]["requestorID"] == "INTELLIPATH"
    assert PASSWORD not in repr(smt_client.config) and PROXY_TOKEN not in repr(smt_client.config)


def test_the_resource_builds_the_client_from_env_vars_and_is_off_by_default(monkeypatch):
    with pytest.raises(dg.Failure, match="disabled by INTELLIWATT_FLAG_SMT_API"):
        SmtApiResource().client()
    with pytest.raises(dg.Failure, match="INTELLIWATT_SMT_PASSWORD"):
        SmtApiResource(enabled=True, username="INTELLIPATH").client()
    monkeypatch.setenv("INTELLIWATT_SMT_PASSWORD", PASSWORD)
    resource = SmtApiResource(enabled=True, base_url=BASE, username="INTELLIPATH",
                              password=dg.EnvVar("INTELLIWATT_SMT_PASSWORD"), requestor_auth_id="134642921")
    fake = Smt()
    with dg.build_resources({"smt": resource}) as built:
        smt_client = built.smt.client(httpx.Client(transport=httpx.MockTransport(fake)))
        smt_client._cache = TokenCache()  # not the process-wide cache other tests could have filled
        smt_client.token()
    assert json.loads(fake.requests[0].content)["password"] == PASSWORD


def test_the_returned_monthly_bytes_go_through_the_existing_billing_parser():
    from intelliwatt_pipelines.sources.smt_billing import parse_monthly_json

    answer = client(Smt()).energydata([ESIIDS[0]], dt.date(2020, 12, 1), dt.date(2021, 2, 28))
    frame = parse_monthly_json(answer.content.decode()).frame
    assert list(frame["kwh_total"]) == [290.0, 412.0]
    assert str(frame["read_start"].iloc[0]) == "2020-12-30 06:00:00+00:00"
