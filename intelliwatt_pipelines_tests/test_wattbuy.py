"""WattBuy (vendor-apis.md §2.5): pure params and answers, the client against recorded-shape answers through
httpx.MockTransport (exact outgoing requests, retries, the 403 hint, no key or address in any log), every
answer a raw file (a 204 as the wrapper), esiid_lookup and retail_offer upserts on SQLite and PostgreSQL,
and esiid_lookup_job run in Dagster with no address or key in its event log."""

import json
import logging
from pathlib import Path

import dagster as dg
import httpx
import pytest
import sqlalchemy as sa

from intelliwatt_pipelines import address
from intelliwatt_pipelines.cdm import esiid_lookups
from intelliwatt_pipelines.cdm.tables import esiid_lookup, raw_file, retail_offer
from intelliwatt_pipelines.defs.resources import RawStoreResource, WarehouseResource
from intelliwatt_pipelines.defs.wattbuy import WattBuyResource, build_wattbuy_defs
from intelliwatt_pipelines.ingest import wattbuy as ingest
from intelliwatt_pipelines.vendors.wattbuy import answers
from intelliwatt_pipelines.vendors.wattbuy import requests as wb
from intelliwatt_pipelines.vendors.wattbuy.client import WattBuyClient, WattBuyConfig

FIXTURES = Path(__file__).parent / "data" / "vendor" / "wattbuy"
BASE = "https://apis.wattbuy.com/v3"
KEY = "wb-test-key-Zx81Qp"
STREET, CITY = "4821 Example Meadow Lane", "Dallas"  # synthetic
SALT = "test-salt"
HEADERS = {"x-amzn-requestid": "3f1c-synthetic", "x-amz-apigw-id": "Abc123=", "content-type": "application/json"}


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


class Recorder:
    """A MockTransport handler answering from a list (or one fixed answer), recording every request."""

    def __init__(self, *answers):
        self.answers, self.requests = list(answers), []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        status, body, *extra = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return httpx.Response(status, content=body, headers={**HEADERS, **(extra[0] if extra else {})})


def client_for(recorder: Recorder, sleeps: list | None = None) -> WattBuyClient:
    return WattBuyClient(WattBuyConfig(api_key=KEY, base_url=BASE), httpx.Client(transport=httpx.MockTransport(recorder)),
                         sleep=(sleeps if sleeps is not None else []).append)


def sent(request: httpx.Request) -> tuple:
    """Method, URL and headers minus the key's value (asserted present separately)."""
    assert request.headers["x-api-key"] == KEY
    shown = {k: v for k, v in request.headers.items() if k not in ("x-api-key", "user-agent", "accept-encoding",
                                                                     "connection", "host")}
    return request.method, str(request.url), shown


def no_secrets(text: str) -> None:
    for secret in (KEY, STREET, "Example+Meadow", "Example%20Meadow", "Meadow"):
        assert secret not in text


# --- pure ------------------------------------------------------------------------------------------


def test_utility_info_esiid_with_a_quote_is_17_digits_and_oncor():
    (found,) = answers.parse_info({"utility_info": [{"esiid": "'10443720001234567",
                                                     "utility_name": "Oncor Electric Delivery"}]})
    assert (found.esiid, found.tdsp_code) == ("10443720001234567", "ONCOR")


def test_esi_addresses_keep_the_22_digit_esiid_and_centerpoint():
    (found,) = answers.parse_esi({"addresses": [{"esi": "1008901023817895470106", "utility": "CenterPoint"}]})
    assert (found.esiid, found.tdsp_code) == ("1008901023817895470106", "CENTERPOINT")


def test_esiids_are_found_breadth_first_to_depth_four_under_every_key_spelling():
    data = {"a": {"ESI_ID": "10443720000000011", "b": {"c": {"esi": "10443720000000022", "d": {"esiid": "1" * 17}}}}}
    assert answers.find_esiids(data) == ["10443720000000011", "10443720000000022"]
    assert answers.clean_esiid("'123'") is None


@pytest.mark.parametrize(("text", "code"), [
    ("Oncor Electric Delivery", "ONCOR"), ("cnp", "CENTERPOINT"), ("AEP Texas North", "AEP_NORTH"),
    ("aep_texas_central", "AEP_CENTRAL"), ("AEP South", "AEP_CENTRAL"), ("AEPNOR", "AEP_NORTH"), ("TNMP", "TNMP"),
    ("Texas New Mexico Power", "TNMP"), ("Example Municipal", None)])
def test_tdsp_names_and_slugs_have_their_canonical_code(text, code):
    assert answers.tdsp_code(text) == code


def test_params_lowercase_the_state_and_camelcase_utility_id():
    assert wb.info_params(STREET, CITY, "TX", "75201-1234")["state"] == "tx"
    assert wb.retail_rates_params(44372, "TX") == {"utilityID": "44372", "state": "tx"}
    with pytest.raises(ValueError, match="zip is required"):
        wb.esi_params(STREET, CITY, "tx", "")
    with pytest.raises(ValueError, match="never be sent an ESIID"):
        wb.check_no_esiid(wb.OFFERS_PATH, {"zip": "75201", "esiid": "10443720001234567"})


def test_offers_keep_electricity_plans_their_docs_and_allowed_hosts_only():
    rows = {r["external_id"]: r for r in answers.normalize_offers(json.loads(fixture("offers_75201.json")), "75201")}
    assert set(rows) == {"wbdb-Px3gObj3", "wbdb-xyz", "wbdb-abc", "wbdb-m2m"}  # the solar offer is filtered out
    docs = {k: (r["efl_url"], r["tos_url"], r["yrac_url"]) for k, r in rows.items()}
    assert docs == {
        "wbdb-Px3gObj3": ("https://bit.ly/3XL87ns", "https://bit.ly/3ZNResC", "https://bit.ly/3IT2R7Z"),
        "wbdb-xyz": ("https://ohm-gridlink.smartgridcis.net/Documents/Download.aspx?ProductDocumentID=32831",
                     None, None),
        "wbdb-abc": (None, "https://bit.ly/3ZNResC", "https://bit.ly/3IT2R7Z"),  # no tos/yrac taken as EFL
        "wbdb-m2m": (None, "https://eflviewer.gexaenergy.com/tos/123", None)}  # evil.example.net refused
    first = rows["wbdb-Px3gObj3"]
    assert (first["term_months"], first["rate_type"], first["is_green"], first["kwh1000_cents"],
            first["puct_registration"], first["tdsp_code"], first["supplier"]) == (
        12, "fixed", True, 15.2, "10311", "ONCOR", "OhmConnect Energy")
    assert (rows["wbdb-m2m"]["term_months"], rows["wbdb-m2m"]["rate_type"]) == (None, "variable")
    assert answers.sanitize_doc_url("https://evil.example.net/efl.pdf") is None
    assert answers.sanitize_doc_url("javascript:alert(1)") is None


def test_the_non_json_wrapper_masks_the_params():
    response = wb.WattBuyResponse(path=wb.OFFERS_PATH, status=204, content=b"", headers={}, params={"zip": "75201"},
                                  request=wb.redacted_request(BASE, wb.OFFERS_PATH, {"zip": "75201"}, {}))
    wrapped = json.loads(response.raw_bytes())
    assert wrapped == {"__wattbuyNonJsonOrEmpty": True, "ok": True, "status": 204, "headers": {}, "text": "",
                       "path": "/offers", "params": {"zip": "***"}}


# --- client ----------------------------------------------------------------------------------------


def test_the_exact_request_of_an_info_lookup():
    recorder = Recorder((200, fixture("info_oncor.json")))
    response = client_for(recorder).electricity_info(STREET, CITY, "TX", "75201")
    (request,) = recorder.requests
    assert sent(request) == ("GET", "https://apis.wattbuy.com/v3/electricity/info?address=4821+Example+Meadow+Lane"
                             "&city=Dallas&state=tx&zip=75201&housing_chars=false&utility_list=true",
                             {"accept": "application/json"})
    assert response.request.url == ("https://apis.wattbuy.com/v3/electricity/info?address=***&city=***&state=***"
                                    "&zip=***&housing_chars=***&utility_list=***")
    assert response.request.headers == {"x-api-key": "[redacted]", "Accept": "application/json"}
    assert response.headers == {**HEADERS, "content-length": str(len(fixture("info_oncor.json")))}
    no_secrets(repr(response) + json.dumps(response.request.as_dict()))


def test_retail_rates_and_offers_requests():
    recorder = Recorder((200, b'{"count": 0, "data": []}'))
    client = client_for(recorder)
    client.retail_rates(44372, "TX")
    client.offers("75201")
    assert [str(r.url) for r in recorder.requests] == [
        "https://apis.wattbuy.com/v3/electricity/retail-rates?utilityID=44372&state=tx",
        "https://apis.wattbuy.com/v3/offers?zip=75201&state=tx&language=en&all=true&is_renter=false"]


def test_a_502_then_200_is_exactly_two_requests():
    recorder, sleeps = Recorder((502, b"Bad Gateway"), (200, fixture("info_oncor.json"))), []
    response = client_for(recorder, sleeps).electricity_info(STREET, CITY, "tx", "75201")
    assert (len(recorder.requests), response.status, response.attempts, sleeps) == (2, 200, 2, [0.3])


def test_5xx_is_retried_once_and_429_honours_retry_after_twice():
    recorder, sleeps = Recorder((503, b"")), []
    assert client_for(recorder, sleeps).offers("75201").status == 503
    assert (len(recorder.requests), sleeps) == (2, [0.3])
    recorder, sleeps = Recorder((429, b"", {"Retry-After": "2"})), []
    assert client_for(recorder, sleeps).offers("75201").status == 429
    assert (len(recorder.requests), sleeps) == (3, [2.0, 2.0])


def test_a_403_is_not_retried_and_logs_the_hint_without_key_or_address(caplog):
    for name in ("", "httpx", "httpcore", "intelliwatt.wattbuy"):
        caplog.set_level(logging.DEBUG, logger=name or None)
    recorder = Recorder((403, b'{"message":"Forbidden for 4821 Example Meadow Lane"}'))
    response = client_for(recorder).electricity_info(STREET, CITY, "TX", "75201")
    assert (len(recorder.requests), response.status) == (1, 403)
    (hint,) = [json.loads(r.getMessage().split(": ", 1)[1]) for r in caplog.records if "forbidden" in r.getMessage()]
    assert hint == {"route": "/electricity/info", "status": 403, "hint": wb.FORBIDDEN_HINT,
                    "url": response.request.url, "body_excerpt": '{"message":"Forbidden for ***"}'}
    assert any(r.name == "httpx" for r in caplog.records)  # httpx's own request line, masked
    no_secrets(caplog.text + "".join(r.getMessage() for r in caplog.records))


# --- ingest and tables -------------------------------------------------------------------------------


def request(ref="home-1") -> ingest.LookupRequest:
    return ingest.LookupRequest(address_ref=ref, address=STREET, city=CITY, state="TX", zip="75201")


def test_a_lookup_falls_back_to_info_esi_and_stores_every_answer(engine, store):
    recorder = Recorder((200, fixture("info_no_esiid.json")), (200, fixture("info_esi_centerpoint.json")))
    (result,) = ingest.lookup_esiids(engine, store, client_for(recorder), [request()], SALT)
    assert [r.url.path for r in recorder.requests] == ["/v3/electricity/info", "/v3/electricity/info/esi"]
    assert (result.outcome, result.tdsp_code, len(result.raw_file_ids)) == ("new", "CENTERPOINT", 2)
    hashed = address.address_hash(STREET, CITY, "TX", "75201", SALT)
    with engine.connect() as conn:
        row = esiid_lookups.lookup_esiid(conn, hashed)
        files = conn.execute(sa.select(raw_file.c.source, raw_file.c.filename, raw_file.c.status)).all()
    assert (row.esiid, row.tdsp_code, row.zip5, row.raw_file_id) == (
        "1008901023817895470106", "CENTERPOINT", "75201", result.raw_file_ids[-1])
    assert {(s, st) for s, _, st in files} == {("wattbuy", "normalized")}
    assert sorted(f for _, f, _ in files) == sorted(
        wb.raw_filename(p, wb.esi_params(STREET, CITY, "tx", "75201") | extra, SALT)
        for p, extra in ((wb.INFO_PATH, {"housing_chars": "false", "utility_list": "true"}), (wb.ESI_PATH, {})))


def test_a_different_esiid_for_the_same_address_keeps_both_with_a_conflict_note(engine, store):
    first = ingest.lookup_esiids(engine, store, client_for(Recorder((200, fixture("info_oncor.json")))), [request()], SALT)
    again = ingest.lookup_esiids(engine, store, client_for(Recorder((200, fixture("info_oncor.json")))), [request()], SALT)
    other = ingest.lookup_esiids(engine, store, client_for(Recorder((200, fixture("info_other_esiid.json")))),
                                 [request()], SALT)
    assert [r[0].outcome for r in (first, again, other)] == ["new", "seen", "conflict"]
    with engine.connect() as conn:
        rows = {r.esiid: r for r in conn.execute(sa.select(esiid_lookup))}
        newest = esiid_lookups.lookup_esiid(conn, address.address_hash(STREET, CITY, "tx", "75201", SALT))
    assert set(rows) == {"10443720001234567", "10443720009876543"}
    assert rows["10443720001234567"].conflict_note is None
    assert "10443720001234567" in rows["10443720009876543"].conflict_note
    assert (newest.esiid, rows["10443720001234567"].utility_id) == ("10443720009876543", "44372")


def test_a_204_is_stored_as_the_wrapper_and_an_error_as_failed(engine, store):
    counts = ingest.refresh_offers(engine, store, client_for(Recorder((204, b""))), ["75201"])
    counts_403 = ingest.refresh_offers(engine, store, client_for(Recorder((403, b"Forbidden"))), ["75202"])
    assert (counts["new"], counts["failed"], len(counts_403["failed"])) == (0, [], 1)
    with engine.connect() as conn:
        files = conn.execute(sa.select(raw_file).order_by(raw_file.c.id)).all()
    assert [(f.source, f.kind, f.status) for f in files] == [("wattbuy", "wattbuy_answer", "normalized"),
                                                             ("wattbuy", "wattbuy_error", "failed")]
    wrapper = json.loads(store.get(files[0].sha256))
    assert wrapper[wb.NON_JSON_MARKER] is True and wrapper["status"] == 204
    assert files[0].filename.startswith("wattbuy_offers_") and "HTTP 403" in files[1].error


def test_offers_with_a_null_term_do_not_duplicate_on_a_rerun(engine, store):
    for _ in range(2):
        counts = ingest.refresh_offers(engine, store, client_for(Recorder((200, fixture("offers_75201.json")))),
                                       ["75201"])
    assert (counts["new"], counts["changed"], counts["seen"]) == (0, 0, 4)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(retail_offer)).all()
        assert ingest.known_zips(engine) == ["75201"]
    assert len(rows) == 4 and sum(r.term_months is None for r in rows) == 1
    assert all(r.source == "wattbuy" and r.last_seen >= r.first_seen for r in rows)


# --- Dagster ------------------------------------------------------------------------------------------


class RecordedWattBuy(WattBuyResource):
    def client(self, http=None):
        return super().client(httpx.Client(transport=httpx.MockTransport(Recorder((200, fixture("info_oncor.json"))))))


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_esiid_lookup_job_runs_with_no_address_or_key_in_its_event_log(settings, instance, engine, caplog):
    caplog.set_level(logging.DEBUG)
    parts = build_wattbuy_defs(settings)
    defs = dg.Definitions(assets=parts["assets"], jobs=parts["jobs"], schedules=parts["schedules"], resources={
        "wattbuy": RecordedWattBuy(enabled=True, api_key=KEY, base_url=BASE),
        "warehouse": WarehouseResource(url=settings.warehouse_url), "raw_store": RawStoreResource(url=settings.raw_store_url)})
    run_config = {"ops": {"esiid_looked_up": {"config": {"requests": [
        {"address_ref": "home-1", "address": STREET, "city": CITY, "state": "TX", "zip": "75201"}]}}}}
    result = defs.resolve_job_def("esiid_lookup_job").execute_in_process(run_config=run_config, instance=instance)
    assert result.success
    events = instance.all_logs(result.run_id)
    no_secrets("\n".join(repr(e) for e in events))
    no_secrets(caplog.text)
    with engine.connect() as conn:
        assert conn.execute(sa.select(esiid_lookup.c.esiid)).scalars().all() == ["10443720001234567"]


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_the_schedule_skips_when_off_or_no_zip_is_known(settings, instance, engine):
    import dataclasses

    for flag, reason in ((False, "disabled by INTELLIWATT_FLAG_WATTBUY"), (True, "no ZIP known")):
        parts = build_wattbuy_defs(dataclasses.replace(settings, flag_wattbuy=flag))
        (schedule,) = parts["schedules"]
        # as a context manager: the context's resources are torn down with it
        with dg.build_schedule_context(instance=instance, resources={
                "warehouse": WarehouseResource(url=settings.warehouse_url)}) as context:
            data = schedule.evaluate_tick(context)
        assert reason in data.skip_message
