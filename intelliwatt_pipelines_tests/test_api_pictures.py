"""The picture routes and the status page over real warehouses (SQLite and PostgreSQL), without a
browser: media types, negotiation, auth (headers and HTTP Basic), well-formed SVG whose cells hold
the stored values (DST days included), and escaping of every value."""

from __future__ import annotations

import base64
import datetime as dt
from html.parser import HTMLParser
from xml.etree.ElementTree import Element

import pytest
from defusedxml.ElementTree import fromstring

from intelliwatt_pipelines.api import pictures
from intelliwatt_pipelines.api.picture_reads import MAX_DAYS
from intelliwatt_pipelines.api.status_page import status_html
from intelliwatt_pipelines.ingest import normalize_raw_file
from intelliwatt_pipelines.ingest.capture import capture_bytes
from intelliwatt_pipelines.rawstore import LocalRawStore
from intelliwatt_pipelines.samples import date_range, smt_interval_csv
from intelliwatt_pipelines_tests import test_api
from intelliwatt_pipelines_tests.test_api import ADMIN, ADMIN_TOKEN, API_KEY, CENTRAL, CONSUMER, FALL, SPRING, stored

api_settings, client, ingested = test_api.api_settings, test_api.client, test_api.ingested  # the same fixtures

SVG_NS = "{http://www.w3.org/2000/svg}"
GAP_HOME = "10443720000000002"
HOSTILE = "<script>alert('x')</script>&\"'"


def basic(password: str, user: str = "admin") -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def svg(client, esiid, picture, headers=CONSUMER, **params) -> Element:
    response = client.get(f"/api/v1/esiids/{esiid}/{picture}", params=params, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/svg+xml"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    return fromstring(response.content)  # well-formed XML, no DTD or entities


def cells(root: Element, cls: str) -> list[Element]:
    return [e for e in root.iter() if cls in (e.get("class") or "").split()]


def title(element: Element) -> str:
    return element.find(f"{SVG_NS}title").text


@pytest.fixture
def gap_home(api_settings, ingested):
    """A home whose 2025-10-04 misses 30 intervals in the middle (status gaps)."""
    data = smt_interval_csv(GAP_HOME, date_range(dt.date(2025, 10, 1), dt.date(2025, 10, 6)), raw=False, seed=3)
    lines = data.decode().splitlines(True)
    kept = lines[:1] + [line for i, line in enumerate(lines[1:]) if not 300 <= i < 330]
    store = LocalRawStore(api_settings.raw_store_url)
    name = f"IntervalMeterUsage_<b>gap</b>_{GAP_HOME}.csv"  # a hostile name, with an ESIID in it
    captured = capture_bytes(ingested, store, "".join(kept).encode(), filename=name, source="test")
    assert normalize_raw_file(ingested, store, captured.raw_file_id).status == "normalized"
    failed = capture_bytes(ingested, store, b"<i>hello</i>,world\n1,2\n", filename="junk.csv", source="test")
    assert normalize_raw_file(ingested, store, failed.raw_file_id).status == "failed"
    return GAP_HOME


def test_calendar_marks_each_day_with_its_status_and_the_dst_days(client, ingested):
    root = svg(client, FALL, "completeness.svg")
    days = {c.get("data-date"): c for c in cells(root, "day")}
    assert sorted(days) == ["2025-11-01", "2025-11-02", "2025-11-03"]  # default: the home's data range
    fall = days["2025-11-02"]
    assert "dst-fall" in fall.get("class") and fall.get("data-hours") == "25"
    assert (fall.get("data-status"), fall.get("data-found"), fall.get("data-expected")) == ("complete", "100", "100")
    assert title(fall) == "2025-11-02 (fall back, 25 h): complete, 100 of 100 intervals"
    assert "dst" not in days["2025-11-01"].get("class") and days["2025-11-01"].get("data-expected") == "96"
    assert len(cells(fall, "dst-marker")) == 1 and not cells(days["2025-11-01"], "dst-marker")

    root = svg(client, SPRING, "completeness.svg", start="2026-03-01", end="2026-03-31")
    days = {c.get("data-date"): c for c in cells(root, "day")}
    assert len(days) == 31 and days["2026-03-01"].get("data-status") == "none"  # no data: still a cell
    spring = days["2026-03-08"]
    assert "dst-spring" in spring.get("class") and spring.get("data-expected") == "92"
    assert title(spring).endswith("complete, 92 of 92 intervals (worst of 2 series)")
    spring_fill = spring.find(f"{SVG_NS}path").get("fill")
    assert spring_fill != fall.find(f"{SVG_NS}path").get("fill")  # the two DST kinds look different
    assert {m.text for m in root.iter(f"{SVG_NS}text") if m.get("class") == "month-label"} == {"Mar 2026"}


def test_calendar_shows_the_worst_series_and_gaps(client, gap_home):
    root = svg(client, gap_home, "completeness.svg")
    day = next(c for c in cells(root, "day") if c.get("data-date") == "2025-10-04")
    assert (day.get("data-status"), day.get("data-found"), day.get("data-expected")) == ("gaps", "66", "96")
    assert day.find(f"{SVG_NS}rect").get("fill") == pictures.STATUS_COLOURS["gaps"]


def test_heatmap_sums_real_readings_per_central_hour(client, ingested):
    root = svg(client, FALL, "usage-heatmap.svg")
    got = {}
    for column in cells(root, "day-column"):
        for rect in column.iter(f"{SVG_NS}rect"):
            got[(column.get("data-date"), int(rect.get("data-hour")))] = rect
    assert len(got) == 3 * 24
    want: dict = {}
    for _, _, ts, kwh, quality in stored(ingested, FALL):
        local = ts.astimezone(CENTRAL)
        if quality != "filled":
            want[(local.date().isoformat(), local.hour)] = want.get((local.date().isoformat(), local.hour), 0) + kwh
    assert {k: float(r.get("data-kwh")) for k, r in got.items()} == pytest.approx(want, abs=1.5e-3)
    repeated = got[("2025-11-02", 1)]  # both 01:00 hours (CDT then CST), eight intervals
    assert "repeated" in repeated.get("class") and "both hours summed" in title(repeated)
    two = [kwh for _, _, ts, kwh, _ in stored(ingested, FALL) if ts.astimezone(CENTRAL).date() == dt.date(2025, 11, 2)
           and ts.astimezone(CENTRAL).hour == 1]
    assert len(two) == 8 and float(repeated.get("data-kwh")) == pytest.approx(sum(two), abs=1e-3)

    root = svg(client, SPRING, "usage-heatmap.svg", channel="generation", start="2026-03-08", end="2026-03-08")
    hours = {int(r.get("data-hour")): r for r in root.iter(f"{SVG_NS}rect") if r.get("data-hour")}
    assert len(hours) == 24 and "skipped" in hours[2].get("class") and "no-data" in hours[2].get("class")
    assert hours[2].get("data-kwh") is None and "does not exist" in title(hours[2])
    assert hours[2].get("fill") == pictures.NO_DATA and all(hours[h].get("data-kwh") for h in hours if h != 2)


@pytest.mark.parametrize("picture", ["completeness.svg", "usage-heatmap.svg"])
def test_pictures_negotiate_authenticate_and_fail_like_the_other_routes(client, ingested, picture):
    url = f"/api/v1/esiids/{FALL}/{picture}"
    for accept in ("image/svg+xml", "image/*", "*/*", "text/html,application/xhtml+xml,*/*;q=0.8",
                   "application/json;q=0.5, image/svg+xml"):
        assert client.get(url, headers={**CONSUMER, "Accept": accept}).status_code == 200, accept
    for accept in ("application/json", "image/png", "image/svg+xml;q=0"):
        response = client.get(url, headers={**CONSUMER, "Accept": accept})
        assert response.status_code == 406 and response.json()["error"]["code"] == "not_acceptable", accept
    assert client.get(url, headers=ADMIN).status_code == 200
    assert client.get(url, headers=basic(API_KEY)).status_code == 200  # a browser: the key as password
    for headers in ({}, {"x-api-key": "wrong"}, basic("wrong"), {"Authorization": "Basic !!!notbase64"},
                    {"Authorization": "Bearer " + API_KEY}):
        response = client.get(url, headers=headers)
        assert response.status_code == 401 and response.headers["www-authenticate"].startswith("Basic realm=")
        assert API_KEY not in response.text and ADMIN_TOKEN not in response.text
    missing = client.get(f"/api/v1/esiids/10443720000000077/{picture}", headers=CONSUMER)
    assert missing.status_code == 404 and "no usage is stored" in missing.json()["error"]["message"]
    assert client.get(f"/api/v1/esiids/12345/{picture}", headers=CONSUMER).status_code == 422
    for params, words in (({"start": "2025-11-03", "end": "2025-11-01"}, "end must not be before start"),
                          ({"start": "2024-01-01", "end": "2025-11-01"}, f"at most {MAX_DAYS} days"),
                          ({"start": "nope"}, "start: not a date")):
        response = client.get(url, params=params, headers=CONSUMER)
        assert response.status_code == 422 and words in response.json()["error"]["message"], params


def test_long_histories_default_to_the_latest_days():
    from intelliwatt_pipelines.api.picture_reads import window

    first, last = dt.date(2024, 1, 1), dt.date(2025, 12, 31)
    assert window((first, last), None, None) == (last - dt.timedelta(days=MAX_DAYS - 1), last)
    assert window((first, last), dt.date(2024, 6, 1), None) == (dt.date(2024, 6, 1), dt.date(2025, 7, 5))
    assert window((first, last), None, dt.date(2024, 2, 1)) == (first, dt.date(2024, 2, 1))
    assert window((first, last), dt.date(2026, 2, 1), None) == (dt.date(2026, 2, 1),) * 2  # after the data


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.text, self.links = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.links += [v for k, v in attrs if tag == "a" and k == "href"]

    def handle_data(self, data):
        self.text.append(data)


def parsed(html: str) -> _Tags:
    tags = _Tags()
    tags.feed(html)
    return tags


def test_status_page_lists_files_failures_and_homes_with_gaps(client, gap_home):
    url = "/api/v1/admin/status"
    for headers in (ADMIN, basic(ADMIN_TOKEN), basic(ADMIN_TOKEN, user="")):
        response = client.get(url, headers={**headers, "Accept": "text/html,*/*;q=0.8"})
        assert response.status_code == 200 and response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-store" and "frame-ancestors 'none'" in \
        response.headers["content-security-policy"]
    page = parsed(response.text)
    text = "".join(page.text)
    assert "script" not in page.tags and "i" not in page.tags
    assert "IntervalMeterUsage_<b>gap</b>_esiid#" in text  # shown as text: escaped, and its ESIID masked
    assert "<b>gap</b>" not in response.text and GAP_HOME not in text and FALL not in text
    assert "<i>hello</i>" not in response.text and "unrecognized usage file header" in text
    assert response.text.count('data-raw-file-id="') == 4 + 1  # four files; the failed one again in failures
    assert page.links == [f"../esiids/{GAP_HOME}/completeness.svg", f"../esiids/{GAP_HOME}/usage-heatmap.svg"]
    for headers in ({}, CONSUMER, basic(API_KEY), basic("wrong")):  # the API key does not open it
        response = client.get(url, headers=headers)
        assert response.status_code == 401 and "Basic" in response.headers["www-authenticate"]
        assert ADMIN_TOKEN not in response.text
    assert client.get(url, headers={**ADMIN, "Accept": "application/json"}).status_code == 406


def test_every_value_is_escaped_in_the_pictures_and_the_page():
    day = pictures.CalendarDay(dt.date(2025, 11, 2), HOSTILE, 1, 100)
    for document in (pictures.completeness_calendar([day], dt.date(2025, 11, 1), dt.date(2025, 11, 3), HOSTILE),
                     pictures.usage_heatmap({(dt.date(2025, 11, 2), 1): float("nan"), (dt.date(2025, 11, 2), 2): 1.0},
                                            dt.date(2025, 11, 2), dt.date(2025, 11, 2), HOSTILE, HOSTILE)):
        root = fromstring(document)
        assert not [e for e in root.iter() if e.tag.endswith("script")]
        assert root.find(f"{SVG_NS}title").text == HOSTILE and "nan" not in document
    row = {"id": 1, "filename": HOSTILE, "source": HOSTILE, "kind": HOSTILE, "status": HOSTILE, "rows_read": 1,
           "rows_valid": None, "rows_invalid": 0, "rows_skipped": 0, "received_at": None, "error": HOSTILE * 50}
    page = status_html(counts={HOSTILE: 1}, recent=[row], failures=[row], now=dt.datetime.now(dt.timezone.utc),
                       gap_homes=[{"esiid": HOSTILE, "gap_days": 1, "first_gap_day": HOSTILE, "last_gap_day": None}])
    tags = parsed(page)
    assert "script" not in tags.tags and HOSTILE in "".join(tags.text)
    assert tags.links[0] == "../esiids/%3Cscript%3Ealert%28%27x%27%29%3C%2Fscript%3E%26%22%27/completeness.svg"
