"""WattBuy answers into the warehouse (vendor-apis.md §2.5). Every answer, whatever its status (error,
empty, 204, not JSON), is first a raw file (``source`` ``wattbuy``, ``wattbuy_<endpoint>_<sha8>.json``;
the §2.5 wrapper JSON when the body is not JSON), then read: ``lookup_esiids`` (``/electricity/info``,
then ``/electricity/info/esi`` when that names no ESIID) into ``esiid_lookup``, ``refresh_offers``
(``/offers`` per ZIP) into ``retail_offer``. Addresses are kept only as a salted hash (and in the raw
answers); log lines name ESIIDs by their mask.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

import sqlalchemy as sa

from intelliwatt_pipelines import address
from intelliwatt_pipelines.cdm import esiid_lookups, retail_offers
from intelliwatt_pipelines.cdm.esiid_lookups import LookupRow
from intelliwatt_pipelines.cdm.fields.reference import WATTBUY_ANSWER_KIND, WATTBUY_ERROR_KIND
from intelliwatt_pipelines.cdm.raw_files import register
from intelliwatt_pipelines.cdm.tables import raw_file
from intelliwatt_pipelines.pii import mask
from intelliwatt_pipelines.rawstore import RawStore
from intelliwatt_pipelines.vendors.wattbuy.answers import EsiidFound, normalize_offers, parse_esi, parse_info
from intelliwatt_pipelines.vendors.wattbuy.client import WattBuyClient, WattBuyError
from intelliwatt_pipelines.vendors.wattbuy.requests import WattBuyResponse, body_excerpt, raw_filename

log = logging.getLogger("intelliwatt.wattbuy")
WATTBUY_SOURCE = "wattbuy"


@dataclass(frozen=True)
class LookupRequest:
    """One address to look up. ``address_ref`` is the caller's own reference (never the address);
    the address parts stay out of repr."""

    address_ref: str
    address: str = field(repr=False)
    city: str = field(repr=False)
    state: str
    zip: str


@dataclass(frozen=True)
class LookupResult:
    """How one lookup ended: ``new``, ``seen``, ``conflict``, ``not_found`` or ``failed`` (see ``error``)."""

    address_ref: str
    outcome: str
    esiids_masked: tuple[str, ...] = ()
    tdsp_code: str | None = None
    raw_file_ids: tuple[int, ...] = ()
    error: str | None = None


def http_error(response: WattBuyResponse) -> str:
    return f"HTTP {response.status} from WattBuy {response.path}: {body_excerpt(response)}"


def store_answer(engine: sa.Engine, store: RawStore, response: WattBuyResponse, *, salt: str = "") -> int:
    """The answer as a raw file (the same bytes again: the same row); its raw_file id."""
    content = response.raw_bytes()
    sha, size, uri = store.put_stream(io.BytesIO(content))
    kind = WATTBUY_ANSWER_KIND if response.ok else WATTBUY_ERROR_KIND
    with engine.begin() as conn:
        captured = register(conn, sha=sha, size=size, uri=uri, source=WATTBUY_SOURCE, kind=kind,
                            filename=raw_filename(response.path, response.params, salt))
        if captured.new and not response.ok:
            conn.execute(sa.update(raw_file).where(raw_file.c.id == captured.raw_file_id).values(
                status="failed", error=http_error(response)))
    return captured.raw_file_id


def settle(conn: sa.Connection, raw_file_id: int) -> None:
    """An answer once read: ``normalized`` unless it failed (a file stored before keeps its outcome)."""
    conn.execute(sa.update(raw_file).where(raw_file.c.id == raw_file_id, raw_file.c.status == "received").values(
        status="normalized", normalized_at=dt.datetime.now(dt.timezone.utc)))


def _ask(engine, store, client: WattBuyClient, request: LookupRequest, salt: str):
    """``/electricity/info``, then ``/electricity/info/esi`` when it names no ESIID (not after a 403: the
    key is refused everywhere). The ESIIDs found, the raw files and the last error."""
    parts = (request.address, request.city, request.state, request.zip)
    found: list[EsiidFound] = []
    ids: list[int] = []
    error = None
    for call, parse in ((client.electricity_info, parse_info), (client.info_esi, parse_esi)):
        response = call(*parts)
        ids.append(store_answer(engine, store, response, salt=salt))
        found = parse(response.data()) if response.ok else []
        error = None if response.ok else http_error(response)
        if found or response.status == 403:
            break
    return found, ids, error


def lookup_one(engine: sa.Engine, store: RawStore, client: WattBuyClient, request: LookupRequest,
               salt: str) -> LookupResult:
    """One address: its answers stored, each ESIID found an ``esiid_lookup`` row under the address hash."""
    hashed = address.address_hash(request.address, request.city, request.state, request.zip, salt)
    found, ids, error = _ask(engine, store, client, request, salt)
    if not found:
        with engine.begin() as conn:
            for raw_file_id in ids:
                settle(conn, raw_file_id)
        return LookupResult(request.address_ref, "failed" if error else "not_found", raw_file_ids=tuple(ids),
                            error=error)
    now = dt.datetime.now(dt.timezone.utc)
    with engine.begin() as conn:
        outcomes = [esiid_lookups.upsert_lookup(conn, LookupRow(
            address_hash=hashed, esiid=f.esiid, raw_file_id=ids[-1], tdsp_code=f.tdsp_code,
            utility_name=f.utility_name, utility_id=f.utility_id, zip5=address.zip5(request.zip)), now) for f in found]
        for raw_file_id in ids:
            settle(conn, raw_file_id)
    outcome = next((o for o in ("conflict", "new") if o in outcomes), "seen")
    return LookupResult(request.address_ref, outcome, tuple(mask(f.esiid) for f in found), found[0].tdsp_code,
                        tuple(ids))


def lookup_esiids(engine: sa.Engine, store: RawStore, client: WattBuyClient, requests: Iterable[LookupRequest],
                  salt: str) -> list[LookupResult]:
    """Every request in turn; one that fails (no answer, an error status, a bad ZIP) spares the others.
    ``salt``: the address-hash salt (the platform passes ``account_salt``)."""
    results = []
    for request in requests:
        try:
            result = lookup_one(engine, store, client, request, salt)
        except (WattBuyError, ValueError) as error:
            result = LookupResult(request.address_ref, "failed", error=str(error))
        log.info("WattBuy lookup %s: %s %s", request.address_ref, result.outcome,
                 ", ".join(result.esiids_masked) or "-")
        results.append(result)
    return results


def refresh_offers(engine: sa.Engine, store: RawStore, client: WattBuyClient, zips: Iterable[str]) -> dict:
    """``/offers`` per ZIP into ``retail_offer``; counts, and the ZIPs that failed with why."""
    counts = {"zips": 0, "new": 0, "changed": 0, "seen": 0, "failed": []}
    for zip_code in dict.fromkeys(zips):
        counts["zips"] += 1
        try:
            response = client.offers(zip_code)
        except (WattBuyError, ValueError) as error:
            counts["failed"].append({"zip": zip_code, "error": str(error)})
            continue
        raw_file_id = store_answer(engine, store, response)
        if not response.ok:
            counts["failed"].append({"zip": zip_code, "error": http_error(response)})
            continue
        offers = normalize_offers(response.data(), address.zip5(zip_code))
        with engine.begin() as conn:
            done = retail_offers.upsert_offers(conn, offers, source=WATTBUY_SOURCE, raw_file_id=raw_file_id,
                                               seen_at=dt.datetime.now(dt.timezone.utc))
            settle(conn, raw_file_id)
        counts.update({k: counts[k] + v for k, v in done.items()})
        log.info("WattBuy offers for %s: %d new, %d changed, %d unchanged", zip_code, done["new"],
                 done["changed"], done["seen"])
    return counts


def known_zips(engine: sa.Engine) -> list[str]:
    """The ZIPs the nightly refresh covers: those offers were listed for and those lookups asked about."""
    with engine.connect() as conn:
        return sorted(set(retail_offers.known_zips(conn)) | set(esiid_lookups.known_zips(conn)))
