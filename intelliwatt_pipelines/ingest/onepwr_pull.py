"""1PWR meter pulls (vendor-apis.md §3.1 2-4), raw first: every HTTP answer of SparkMeter's Koios v2 and of an
on-site ThunderCloud is stored verbatim as a raw file before anything reads it, then the good answers are
normalized like any delivered file (``ingest.normalize``). Lineage: call -> raw file -> rows.

Koios: per site, historical pages; a 429 or an exhausted daily budget stops that organization for the run
(its other sites are skipped, other organizations go on). ThunderCloud: the customers snapshot and the history
files not stored yet (daily parquet, ``sources.thundercloud_parquet``), both normalized.

An answer that is not 2xx is kind ``onepwr_api_error``, status ``failed`` with its HTTP status in ``error``
(as SMT's ``smt_api_error``): whatever its body looks like, nothing parses it.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import sqlalchemy as sa

from intelliwatt_pipelines.cdm.fields.usage import ONEPWR_API_ERROR_KIND
from intelliwatt_pipelines.cdm.raw_files import Captured, register
from intelliwatt_pipelines.cdm.tables import raw_file
from intelliwatt_pipelines.ingest.capture import capture_bytes
from intelliwatt_pipelines.ingest.normalize import normalize_raw_file
from intelliwatt_pipelines.rawstore import RawStore
from intelliwatt_pipelines.vendors.koios.client import KoiosClient
from intelliwatt_pipelines.vendors.thundercloud.client import (
    ThunderCloudClient,
    ThunderCloudError,
    error_name,
    history_raw_name,
    is_error_name,
)

KOIOS_SOURCE = "koios"
THUNDERCLOUD_SOURCE = "thundercloud"
MAX_DAYS = 31  # days one Koios run asks for; a longer backfill is several runs (budget and run length)
# An organization's pull ends for the run on these: asking again today would only spend the budget.
ORG_STOPS = ("rate_limited", "budget_exhausted")
VENDOR_NAMES = {KOIOS_SOURCE: "Koios", THUNDERCLOUD_SOURCE: "ThunderCloud"}
# The status in an error answer's raw name (``error_name``: ``a_http429.json``); the ThunderCloud client
# hands keep() only the name and the bytes.
_ERROR_STATUS = re.compile(r"_http([0-9]{3})(?:\.[^.]*)?$")


def error_status(filename: str) -> int | None:
    """The HTTP status an error answer's raw name carries; None for a good answer's name."""
    found = _ERROR_STATUS.search(filename)
    return int(found.group(1)) if found else None


def org_sites(default_org: str, site_ids: list[str] | tuple[str, ...]) -> list[tuple[str, str]]:
    """(org id, site id) per configured site: ``<site>`` is in ``default_org``, ``<org>:<site>`` names its own."""
    pairs = []
    for item in site_ids:
        org, _, site = item.strip().rpartition(":")
        org = org.strip() or default_org
        if not org or not site.strip():
            raise ValueError(f"Koios site {item!r} names no organization: set INTELLIWATT_KOIOS_ORG_ID or "
                             "write it <org id>:<site id>")
        pairs.append((org, site.strip()))
    return list(dict.fromkeys(pairs))


def koios_window(first: str, last: str, today: dt.date) -> tuple[dt.date, dt.date]:
    """The days asked (YYYY-MM-DD; empty: yesterday..today UTC, Koios lagging about a day)."""
    start = dt.date.fromisoformat(first) if first else today - dt.timedelta(days=1)
    end = dt.date.fromisoformat(last) if last else today
    if end < start:
        raise ValueError(f"last {end} is before first {start}")
    if (end - start).days >= MAX_DAYS:
        raise ValueError(f"{(end - start).days + 1} days asked; pull at most {MAX_DAYS} per run")
    return start, end


def koios_filename(site: str, first: dt.date, last: dt.date, page: int, status: int = 200) -> str:
    name = f"koios_{site}_{first.isoformat()}_{last.isoformat()}_p{page}.json"
    return name if status == 200 else error_name(name, status)


@dataclass
class Stored:
    """What keeping (and normalizing) the answers of one pull did."""

    raw_file_ids: list[int] = field(default_factory=list)
    new_files: int = 0
    normalized: int = 0
    rows_written: int = 0
    failures: list[str] = field(default_factory=list)  # "raw file N: why its rows did not land"


class Keeper:
    """Stores answers as raw files (``source``) and normalizes the good ones with the run's rules."""

    def __init__(self, engine: sa.Engine, store: RawStore, source: str, *, run_id: str | None = None, **rules):
        self.engine, self.store, self.source, self.run_id, self.rules = engine, store, source, run_id, rules
        self.stored = Stored()

    def keep(self, filename: str, data: bytes, *, normalize: bool, status: int | None = None) -> int:
        """Store one answer; ``status`` (not 2xx) stores it as an error answer, never normalized."""
        if status is not None and not 200 <= status < 300:
            captured, normalize = self._keep_error(filename, data, status), False
        else:
            captured = capture_bytes(self.engine, self.store, data, filename=filename, source=self.source)
        self.stored.raw_file_ids.append(captured.raw_file_id)
        self.stored.new_files += captured.new
        # The same bytes stored and normalized before (a re-run) have nothing new to give.
        if normalize and captured.status != "normalized":
            self._normalize(captured.raw_file_id)
        return captured.raw_file_id

    def _keep_error(self, filename: str, data: bytes, status: int) -> Captured:
        """Kind ``onepwr_api_error``, ``failed`` from the start (nothing to parse); no body in ``error``: it may
        quote an account, and the bytes are in the raw store anyway."""
        sha, size, uri = self.store.put_stream(io.BytesIO(data))
        with self.engine.begin() as conn:
            captured = register(conn, sha=sha, size=size, uri=uri, filename=filename, source=self.source,
                                kind=ONEPWR_API_ERROR_KIND)
            if captured.new:
                conn.execute(sa.update(raw_file).where(raw_file.c.id == captured.raw_file_id).values(
                    status="failed", error=f"HTTP {status} from {VENDOR_NAMES.get(self.source, self.source)}"))
        return captured

    def _normalize(self, raw_file_id: int) -> None:
        try:
            outcome = normalize_raw_file(self.engine, self.store, raw_file_id, run_id=self.run_id, **self.rules)
        # One answer's defect must not stop the pull: the next answers still get stored (a Koios request
        # spent is not asked again today). The run fails at the end, naming the file.
        except Exception as exc:
            self.stored.failures.append(f"raw file {raw_file_id}: {type(exc).__name__}: {exc}")
            return
        if outcome.status == "normalized":
            self.stored.normalized += 1
            self.stored.rows_written += outcome.rows_written
        else:
            self.stored.failures.append(f"raw file {raw_file_id}: {outcome.error}")


@dataclass
class OrgReport:
    """One organization's pull: ``stopped`` is ``done`` unless a site stopped otherwise (a 429 or the
    budget stops the organization; an ``http_<status>`` stops only its site)."""

    org_id: str
    stopped: str = "done"
    pages: int = 0
    rows: int = 0
    sites: dict[str, str] = field(default_factory=dict)  # site -> how it stopped, or "skipped"


def _site_keep(keeper: Keeper, site: str, first: dt.date, last: dt.date) -> Callable[[httpx.Response], None]:
    pages = itertools.count(1)

    def keep(response: httpx.Response) -> None:
        name = koios_filename(site, first, last, next(pages), response.status_code)
        keeper.keep(name, response.content, normalize=response.status_code == 200, status=response.status_code)

    return keep


def pull_koios(keeper: Keeper, client: KoiosClient, sites: list[tuple[str, str]], first: dt.date,
               last: dt.date, log: Callable[[str], None] = lambda _: None) -> dict[str, OrgReport]:
    """Every site's pages, organization by organization; returns each organization's report."""
    reports: dict[str, OrgReport] = {}
    for org, site in sites:
        report = reports.setdefault(org, OrgReport(org))
        if report.stopped in ORG_STOPS:
            report.sites[site] = "skipped"
            continue
        outcome = client.historical(org, site, first, last, _site_keep(keeper, site, first, last))
        report.pages, report.rows = report.pages + outcome.pages, report.rows + len(outcome.rows)
        report.sites[site] = outcome.stopped
        if outcome.stopped in ORG_STOPS or report.stopped == "done":
            report.stopped = outcome.stopped
        log(f"Koios org {org} site {site} {first}..{last}: {outcome.stopped}, {outcome.pages} page(s), "
            f"{len(outcome.rows)} row(s)")
    return reports


@dataclass
class TcReport:
    """One ThunderCloud pull: the snapshot's raw file, the history files stored, and what failed."""

    snapshot_raw_file_id: int | None = None
    history_listed: int = 0
    history_downloaded: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _stored_names(engine: sa.Engine, names: list[str]) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(sa.select(raw_file.c.filename).where(
            raw_file.c.source == THUNDERCLOUD_SOURCE, raw_file.c.filename.in_(names))).scalars())


def _call(report: TcReport, what: str, fn: Callable[[], object]) -> object | None:
    """One ThunderCloud call; its failure is noted (the answer, if any, is kept already) and the pull goes on."""
    try:
        return fn()
    except (ThunderCloudError, httpx.HTTPError) as exc:
        report.errors.append(f"{what}: {type(exc).__name__}: {exc}")
        return None


def pull_thundercloud(keeper: Keeper, client: ThunderCloudClient, *, history: bool = True,
                      max_history_files: int = 10) -> TcReport:
    """The customers snapshot and up to ``max_history_files`` history files not stored yet, oldest name first,
    all normalized (the history list is stored only)."""
    report, last = TcReport(), [None]

    def keep(normalize: bool):
        def keep_one(filename: str, data: bytes) -> None:
            last[0] = keeper.keep(filename, data, normalize=normalize and not is_error_name(filename),
                                  status=error_status(filename))
        return keep_one

    if _call(report, "customers", lambda: client.customers(keep(True))) is not None:
        report.snapshot_raw_file_id = last[0]
    if not history:
        return report
    names = _call(report, "history list", lambda: client.history_list(keep(False))) or []
    report.history_listed = len(names)
    stored = _stored_names(keeper.engine, [history_raw_name(n) for n in names])
    for name in [n for n in names if history_raw_name(n) not in stored][:max_history_files]:
        if _call(report, f"history file {name}", lambda n=name: client.history_file(n, keep(True))) is not None:
            report.history_downloaded.append(name)
    return report
