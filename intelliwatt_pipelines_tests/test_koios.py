"""The Koios v2 client on answers shaped as vendor-apis.md §3.1 2 gives them (Koios cannot run here):
cursor paging until has_more is false, every answer kept before it is read, a 429 stopping the
organization with the reason, and the per-organization daily budget."""

import datetime as dt
import json

import httpx
import pytest

from intelliwatt_pipelines.vendors.koios.client import Budget, KoiosClient
from intelliwatt_pipelines.vendors.koios.requests import PageError, parse_page

ORG, SITE = "1cddcb07-0000-4000-8000-000000000001", "5b7f0c1e-0000-4000-8000-00000000000a"
DAY = dt.date(2026, 2, 17)


def page(hours: range, cursor: str | None, has_more: bool) -> dict:
    return {"data": [{"kilowatt_hours": 0.123, "timestamp": f"2026-02-17T{h:02d}:00:00Z",
                      "meter": {"serial_number": "SMRSD-03-0002E040", "customer": {"code": "0005MAK"}}}
                     for h in hours],
            "pagination": {"cursor": cursor, "has_more": has_more}}


def koios(answers: list[httpx.Response], budget: Budget | None = None):
    """A client whose transport answers in order, recording each request's body and headers."""
    sent = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append({"path": request.url.path, "body": json.loads(request.content),
                     "key": request.headers.get("x-api-key")})
        return answers[len(sent) - 1]

    return KoiosClient("key-1", "secret-1", transport=httpx.MockTransport(handler), budget=budget,
                       today=lambda: DAY), sent


def test_pages_follow_the_cursor_until_has_more_is_false_and_every_answer_is_kept():
    client, sent = koios([httpx.Response(200, json=page(range(0, 12), "c1", True)),
                          httpx.Response(200, json=page(range(12, 24), None, False))])
    kept = []
    outcome = client.historical(ORG, SITE, DAY, DAY, kept.append)
    assert (outcome.stopped, outcome.pages, len(outcome.rows)) == ("done", 2, 24)
    assert [r.status_code for r in kept] == [200, 200]
    assert sent[0]["path"] == f"/api/v2/organizations/{ORG}/data/historical" and sent[0]["key"] == "key-1"
    assert "cursor" not in sent[0]["body"] and sent[1]["body"]["cursor"] == "c1"
    assert sent[0]["body"]["filters"] == {"sites": [SITE], "date_range": {"from": "2026-02-17", "to": "2026-02-17"}}
    assert outcome.rows[0] == {"serial": "SMRSD-03-0002E040", "customer": "0005MAK",
                               "ts_utc": "2026-02-17T00:00:00Z", "kwh": 0.123}


def test_a_429_stops_the_organization_and_says_so():
    client, sent = koios([httpx.Response(200, json=page(range(0, 12), "c1", True)),
                          httpx.Response(429, json={"error": "Too Many Requests"}, headers={"Retry-After": "5"})])
    kept = []
    outcome = client.historical(ORG, SITE, DAY, DAY, kept.append)
    assert (outcome.stopped, outcome.pages, len(outcome.rows)) == ("rate_limited", 1, 12)
    assert len(sent) == 2 and [r.status_code for r in kept] == [200, 429]  # no retry; the 429 is kept too


def test_the_daily_budget_stops_before_asking():
    budget = Budget(per_day=1)
    client, sent = koios([httpx.Response(200, json=page(range(0, 12), "c1", True))], budget)
    outcome = client.historical(ORG, SITE, DAY, DAY, lambda r: None)
    assert (outcome.stopped, outcome.pages, len(sent)) == ("budget_exhausted", 1, 1)
    assert budget.take("another-org", DAY) and not budget.take(ORG, DAY)
    assert budget.take(ORG, DAY + dt.timedelta(days=1))  # a new UTC day, a new budget


@pytest.mark.parametrize("body", [b"<html>", b'{"data": [{"timestamp": "x"}]}',
                                  json.dumps(page(range(1), None, True)).encode()])
def test_what_is_not_a_page_is_refused(body):
    with pytest.raises(PageError):
        parse_page(body)
