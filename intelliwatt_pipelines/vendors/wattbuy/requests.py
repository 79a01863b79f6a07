"""WattBuy requests and responses as plain data (vendor-apis.md §2.5): the query of each endpoint, the URL
as it may be logged (every query value ``***``: the query holds the customer's address), the response as
it is stored, and the wrapper that makes an empty, 204 or non-JSON answer a JSON raw file. No I/O here;
``client`` does the HTTP.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from intelliwatt_pipelines.address import zip5
from intelliwatt_pipelines.esiid import ESIID_IN_TEXT

BASE_URL = "https://apis.wattbuy.com/v3"
INFO_PATH = "/electricity/info"
ESI_PATH = "/electricity/info/esi"
ELECTRICITY_PATH = "/electricity"
RETAIL_RATES_PATH = "/electricity/retail-rates"
OFFERS_PATH = "/offers"
# Response headers kept with every answer (WattBuy support asks for the request id).
CAPTURED_HEADERS = ("x-amzn-requestid", "x-documentation-url", "x-amz-apigw-id", "content-type", "content-length")
API_KEY_HEADER = "x-api-key"
REDACTED = "[redacted]"
MASK = "***"
NON_JSON_MARKER = "__wattbuyNonJsonOrEmpty"
FORBIDDEN_HINT = "Upstream forbidden. Verify WattBuy API key scope and plan coverage."
# Offers are asked by address and ZIP only: sending an ESIID to /offers breaks WattBuy's compliance terms.
_ESIID_KEYS = frozenset({"esiid", "esi_id", "esi", "esiids"})


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _state(state: str | None) -> str:
    """WattBuy wants the state lower case (``tx``); an upper-case ``TX`` finds nothing on some routes."""
    value = (state or "").strip().lower()
    if len(value) != 2 or not value.isalpha():
        raise ValueError("state: a two-letter code, e.g. tx")
    return value


def _zip(zip_code: str | None) -> str:
    found = zip5(zip_code)
    if found is None:
        raise ValueError("zip is required for WattBuy electricity endpoints (5 digits)")
    return found


def address_params(address: str, city: str, state: str, zip_code: str) -> dict[str, str]:
    """``address, city, state, zip`` as every address endpoint takes them."""
    if not (address or "").strip():
        raise ValueError("address is required")
    return {"address": address.strip(), "city": (city or "").strip(), "state": _state(state), "zip": _zip(zip_code)}


def info_params(address: str, city: str, state: str, zip_code: str, *, housing_chars: bool = False,
                utility_list: bool = True) -> dict[str, str]:
    """``/electricity/info``: the address plus ``housing_chars`` and ``utility_list`` flags."""
    return {**address_params(address, city, state, zip_code), "housing_chars": _flag(housing_chars),
            "utility_list": _flag(utility_list)}


def esi_params(address: str, city: str, state: str, zip_code: str) -> dict[str, str]:
    """``/electricity/info/esi``: the address only."""
    return address_params(address, city, state, zip_code)


def retail_rates_params(utility_id: int | str, state: str, zip_code: str | None = None, *,
                        page: int | None = None, page_size: int | None = None) -> dict[str, str]:
    """``/electricity/retail-rates``: ``utilityID`` is camelCase (WattBuy ignores ``utility_id``)."""
    if not str(utility_id).strip().isdigit():
        raise ValueError("utility_id: WattBuy's numeric utility id, e.g. 44372 (Oncor)")
    params = {"utilityID": str(int(str(utility_id).strip())), "state": _state(state)}
    if zip_code is not None:
        params["zip"] = _zip(zip_code)
    params.update({k: str(v) for k, v in (("page", page), ("page_size", page_size)) if v is not None})
    return params


def offers_params(zip_code: str, *, address: str | None = None, city: str | None = None, state: str = "tx",
                  utility: str | None = None, is_renter: bool = False) -> dict[str, str]:
    """``/offers`` for a ZIP (and optionally an address): English, every plan. Never an ESIID."""
    params = {"zip": _zip(zip_code)}
    params.update({k: v.strip() for k, v in (("address", address), ("city", city)) if v and v.strip()})
    params["state"] = _state(state)
    if utility:
        params["utility"] = utility.strip()
    params.update({"language": "en", "all": "true", "is_renter": _flag(is_renter)})
    check_no_esiid(OFFERS_PATH, params)
    return params


def check_no_esiid(path: str, params: Mapping[str, str]) -> None:
    """Refuse an /offers query that carries an ESIID, by name or as a 17/22-digit value."""
    if path != OFFERS_PATH:
        return
    if _ESIID_KEYS & {k.lower() for k in params} or any(ESIID_IN_TEXT.search(str(v)) for v in params.values()):
        raise ValueError("WattBuy /offers must never be sent an ESIID")


def masked_params(params: Mapping[str, Any]) -> dict[str, str]:
    """The query names with every value ``***``: what a log or a stored request may show."""
    return {k: MASK for k in params}


def masked_url(base_url: str, path: str, params: Mapping[str, Any]) -> str:
    """``https://apis.wattbuy.com/v3/electricity/info?address=***&city=***…``"""
    query = "&".join(f"{quote(str(k))}={MASK}" for k in params)
    return base_url.rstrip("/") + path + (f"?{query}" if query else "")


def params_sha8(params: Mapping[str, Any], salt: str = "") -> str:
    """Eight hex digits naming a query in file names; salted, since a query may be an address."""
    text = json.dumps(dict(params), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{salt}\n{text}".encode()).hexdigest()[:8]


def endpoint_name(path: str) -> str:
    """``/electricity/info/esi`` -> ``electricity_info_esi``."""
    return path.strip("/").replace("/", "_").replace("-", "_") or "root"


def raw_filename(path: str, params: Mapping[str, Any], salt: str = "") -> str:
    """``wattbuy_<endpoint>_<sha8 of params>.json``"""
    return f"wattbuy_{endpoint_name(path)}_{params_sha8(params, salt)}.json"


def captured_headers(headers: Mapping[str, str]) -> dict[str, str]:
    lower = {k.lower(): v for k, v in headers.items()}
    return {name: lower[name] for name in CAPTURED_HEADERS if name in lower}


@dataclass(frozen=True)
class RedactedRequest:
    """What was sent, as it may be logged or stored: the key redacted, every query value ``***``."""

    method: str
    url: str
    headers: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        return {"method": self.method, "url": self.url, "headers": self.headers}


def redacted_request(base_url: str, path: str, params: Mapping[str, Any], headers: Mapping[str, str]) -> RedactedRequest:
    shown = {k: REDACTED if k.lower() == API_KEY_HEADER else v for k, v in headers.items()}
    return RedactedRequest("GET", masked_url(base_url, path, params), shown)


@dataclass(frozen=True)
class WattBuyResponse:
    """One call's answer: the bytes verbatim, the status, the captured headers and the redacted request.
    ``params`` (which may hold an address) stay out of repr; ``raw_bytes`` is what the raw store keeps."""

    path: str
    status: int
    content: bytes = field(repr=False)
    headers: dict[str, str]
    request: RedactedRequest
    params: dict[str, str] = field(repr=False, default_factory=dict)
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def data(self) -> Any:
        """The parsed JSON body; None when empty or not JSON."""
        if not self.content.strip():
            return None
        try:
            return json.loads(self.content)
        except ValueError:
            return None

    def raw_bytes(self) -> bytes:
        """The body verbatim when it is JSON; else the non-JSON/empty wrapper (§2.5)."""
        return self.content if self.data() is not None else non_json_wrapper(self)


def non_json_wrapper(response: WattBuyResponse) -> bytes:
    """``{"__wattbuyNonJsonOrEmpty": true, ok, status, headers, text, path, params}``, params masked."""
    return json.dumps({NON_JSON_MARKER: True, "ok": response.ok, "status": response.status,
                       "headers": response.headers, "text": response.content.decode("utf-8", "replace"),
                       "path": response.path, "params": masked_params(response.params)}, sort_keys=True).encode()


def body_excerpt(response: WattBuyResponse, limit: int = 200) -> str:
    """The body's first ``limit`` characters, any query value echoed in it (an address) and any ESIID
    replaced by ``***``: fit for the 403 hint."""
    text = response.content.decode("utf-8", "replace")
    for value in sorted(response.params.values(), key=len, reverse=True):
        if len(value) >= 3:
            text = text.replace(value, MASK)
    return ESIID_IN_TEXT.sub(MASK, text)[:limit]


def forbidden_hint(response: WattBuyResponse) -> dict[str, Any]:
    """The 403 support artifact: route, status, hint, masked URL, body excerpt. No key, no address."""
    return {"route": response.path, "status": response.status, "hint": FORBIDDEN_HINT,
            "url": response.request.url, "body_excerpt": body_excerpt(response)}
