"""The Koios v2 client (vendor-apis.md §3.1 2): ``POST {base}/organizations/{org}/data/historical`` with
``X-API-KEY`` / ``X-API-SECRET``, paged by cursor. Every answer is handed to ``keep`` (the raw store) before
it is parsed. An organization's day has a request budget (30,000); on HTTP 429 the organization stops for
this run and the outcome says so (``rate_limited``): no retry loop against a limit that lasts the day."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from intelliwatt_pipelines.vendors.koios.requests import (
    BASE_URL,
    DAILY_REQUESTS,
    Page,
    historical_body,
    historical_path,
    parse_page,
)


@dataclass
class Budget:
    """Requests left per organization per UTC day (a run keeps one; the store can persist ``used``)."""

    per_day: int = DAILY_REQUESTS
    used: dict[tuple[str, str], int] = field(default_factory=dict)

    def take(self, org_id: str, today: dt.date) -> bool:
        key = (org_id, today.isoformat())
        if self.used.get(key, 0) >= self.per_day:
            return False
        self.used[key] = self.used.get(key, 0) + 1
        return True


@dataclass
class Outcome:
    """What one organization's pull did: pages kept, rows, and why it stopped (``done``, ``rate_limited``,
    ``budget_exhausted`` or ``http_<status>``)."""

    org_id: str
    pages: int = 0
    rows: list[dict] = field(default_factory=list)
    stopped: str = "done"


class KoiosClient:
    def __init__(self, api_key: str, api_secret: str, *, base_url: str = BASE_URL, timeout_s: float = 30.0,
                 transport: httpx.BaseTransport | None = None, budget: Budget | None = None,
                 today: Callable[[], dt.date] = lambda: dt.datetime.now(dt.UTC).date()):
        self._http = httpx.Client(base_url=base_url, timeout=timeout_s, transport=transport,
                                  headers={"X-API-KEY": api_key, "X-API-SECRET": api_secret})
        self.budget, self._today = budget or Budget(), today

    def historical(self, org_id: str, site_id: str, first: dt.date, last: dt.date,
                   keep: Callable[[httpx.Response], None]) -> Outcome:
        """Every page of a site's days for one organization, each answer kept before it is read."""
        outcome, cursor = Outcome(org_id), None
        while True:
            if not self.budget.take(org_id, self._today()):
                outcome.stopped = "budget_exhausted"
                return outcome
            response = self._http.post(historical_path(org_id), json=historical_body(site_id, first, last, cursor))
            keep(response)  # raw first: a 429 or an error page is kept too
            if response.status_code != 200:
                outcome.stopped = "rate_limited" if response.status_code == 429 else f"http_{response.status_code}"
                return outcome
            page: Page = parse_page(response.content)
            outcome.pages += 1
            outcome.rows.extend(page.rows)
            if not page.has_more:
                return outcome
            cursor = page.cursor

    def close(self) -> None:
        self._http.close()
