"""Koios v2 historical data as plain data (vendor-apis.md §3.1 2), pure: the request body, one page's
rows (hourly interval kWh, UTC) and where the next page starts."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

BASE_URL = "https://www.sparkmeter.cloud/api/v2"
PER_PAGE = 1000
DAILY_REQUESTS = 30_000  # per organization per day (Koios' limit)


def historical_path(org_id: str) -> str:
    return f"/organizations/{org_id}/data/historical"


def historical_body(site_id: str, first: dt.date, last: dt.date, cursor: str | None = None) -> dict:
    body = {"filters": {"sites": [site_id], "date_range": {"from": first.isoformat(), "to": last.isoformat()}},
            "per_page": PER_PAGE}
    return {**body, "cursor": cursor} if cursor else body


@dataclass(frozen=True)
class Page:
    rows: list[dict]  # serial, customer, ts_utc, kwh
    cursor: str | None
    has_more: bool


class PageError(ValueError):
    """A Koios answer that is not a page of historical data."""


def parse_page(body: bytes) -> Page:
    """One page: ``{"data":[{"kilowatt_hours","timestamp","meter":{"serial_number","customer":{"code"}}}],
    "pagination":{"cursor","has_more"}}``. A page that says ``has_more`` without a cursor is refused: asking
    again from the start would loop."""
    try:
        doc = json.loads(body)
        rows = [{"serial": r["meter"]["serial_number"], "customer": (r["meter"].get("customer") or {}).get("code"),
                 "ts_utc": r["timestamp"], "kwh": float(r["kilowatt_hours"])} for r in doc["data"]]
        paging = doc.get("pagination") or {}
    except (ValueError, KeyError, TypeError) as exc:
        raise PageError(f"not a Koios historical page ({type(exc).__name__}: {exc})") from None
    has_more, cursor = bool(paging.get("has_more")), paging.get("cursor")
    if has_more and not cursor:
        raise PageError("Koios said has_more but gave no cursor")
    return Page(rows, cursor, has_more)
