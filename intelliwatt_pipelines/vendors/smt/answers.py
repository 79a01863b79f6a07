"""What SMT's agreement, subscription, backfill, report-status and meterInfo calls answer (vendor-apis.md
§2.2, §2.3), read as plain data: no I/O. SMT nests its records differently per call and version, so
keys are found by a depth-first walk and matched against the families the replaced system accepts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from intelliwatt_pipelines.vendors.smt.meter_fields import METER_DATA_TEXT, MULTIPLIER
from intelliwatt_pipelines.vendors.smt.requests import excerpt

AGREEMENT_KEYS = ("agreementNumber", "AgreementNumber", "agreementId", "AgreementId", "agreementID", "AgreementID",
                  "agreement_id")
STATUS_KEYS = ("status", "Status")
REASON_KEYS = ("statusReason", "StatusReason", "agreementStatus", "AgreementStatus")
ESIID_KEYS = ("esiid", "ESIID", "esiId", "ESI_ID", "esi_id", "Esiid")
SUBSCRIPTION_KEYS = ("subscriptionNumber", "SubscriptionNumber", "subscriptionId", "SubscriptionId",
                     "subscriptionID", "SubscriptionID")
CORRELATION_KEYS = ("correlationId", "correlationID", "CorrelationId")
REPORT_STATUS_KEYS = ("reportStatus", "ReportStatus", "requestStatus", "RequestStatus", "reportRequestStatus")
ALREADY_ACTIVE = "subcription is already active"  # (sic) SMT's spelling; the right one is accepted too
API_NOT_ENABLED = "API delivery not enabled (SMT error 2076); use the SFTP CSV"
MISMATCH_HINT = "the service ID must equal requestorID and the username/serviceId headers"

_EXPIRED_WORDS = ("non active", "not active", "inactive", "completed", "expire in last 45 days",
                  "terminated in last 45 days", "terminated")
_ACTIVE_WORD = re.compile(r"\bactive\b")


def _walk(data: Any) -> Iterator[dict]:
    """Every dict in ``data``, depth first, parents before children."""
    if isinstance(data, dict):
        yield data
        for value in data.values():
            yield from _walk(value)
    elif isinstance(data, list):
        for value in data:
            yield from _walk(value)


def find_all(data: Any, keys: Iterable[str]) -> list[Any]:
    """The values of any of ``keys`` in every dict of ``data``, depth first (in each dict, key order)."""
    wanted = tuple(keys)
    return [d[k] for d in _walk(data) for k in wanted if k in d]


def _load(content: bytes) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        return None


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text or None


def map_status(text: str | None) -> str:
    """SMT's agreement status text or reason code as PENDING, DECLINED, EXPIRED, ACTIVE or ERROR. The
    negative forms are tested before "active", so "Non Active - Terminated by CSP" is EXPIRED. The codes
    PEN and COM (statusReason) are read as pending and completed."""
    s = (text or "").strip().lower()
    if "pending" in s or s == "pen":
        return "PENDING"
    if "not accepted" in s or "declined" in s or "nacom" in s:
        return "DECLINED"
    if any(word in s for word in _EXPIRED_WORDS) or s == "com":
        return "EXPIRED"
    if s == "act" or _ACTIVE_WORD.search(s) or s.startswith("active"):
        return "ACTIVE"
    return "ERROR"


def agreement_status(status: str | None, reason: str | None) -> str:
    """ACTIVE when either the status or the reason says so (status "Pending" with reason ACT is active);
    otherwise the status's meaning, or the reason's when the status says nothing known."""
    mapped = [map_status(status), map_status(reason)]
    if "ACTIVE" in mapped:
        return "ACTIVE"
    return next((m for m in mapped if m != "ERROR"), "ERROR")


@dataclass(frozen=True)
class Agreement:
    """One agreement record: ``status`` mapped, ``status_text`` as SMT wrote it (status and reason)."""

    number: int | None
    esiid: str | None
    status: str
    status_text: str


def _first(record: dict, keys: tuple[str, ...]) -> Any:
    """The first of ``keys`` in ``record`` or below it, not descending into another agreement's record."""
    for key in keys:
        if _text(record.get(key)) is not None:
            return record[key]
    for value in record.values():
        children = value if isinstance(value, list) else [value]
        for child in children:
            if isinstance(child, dict) and not any(k in child for k in AGREEMENT_KEYS):
                found = _first(child, keys)
                if found is not None:
                    return found
    return None


def _agreements(data: Any, esiid: str | None) -> Iterator[Agreement]:
    """Agreement records in ``data``; ``esiid`` is the one named by an enclosing object, if any."""
    if isinstance(data, list):
        for item in data:
            yield from _agreements(item, esiid)
        return
    if not isinstance(data, dict):
        return
    own = _text(_first(data, ESIID_KEYS)) if any(k in data for k in AGREEMENT_KEYS) else _text(
        next((data[k] for k in ESIID_KEYS if k in data), None))
    esiid = own or esiid
    number = next((data[k] for k in AGREEMENT_KEYS if k in data), None)
    if number is not None:
        status, reason = _text(_first(data, STATUS_KEYS)), _text(_first(data, REASON_KEYS))
        digits = _text(number)
        yield Agreement(number=int(digits) if digits and digits.isdigit() else None, esiid=esiid,
                        status=agreement_status(status, reason),
                        status_text=" / ".join(t for t in (status, reason) if t))
    for value in data.values():
        yield from _agreements(value, esiid)


def parse_agreements(content: bytes) -> list[Agreement]:
    """Every object of a myagreements (or NewAgreement) answer that holds an agreement number."""
    data = _load(content)
    if data is None:
        raise ValueError(f"SMT agreements answer is not JSON: {excerpt(content)}")
    return list(_agreements(data, None))


def _rank(agreement: Agreement) -> tuple[bool, bool, int]:
    return agreement.status == "ACTIVE", agreement.status == "PENDING", agreement.number or -1


def best_by_esiid(agreements: Iterable[Agreement]) -> dict[str, Agreement]:
    """One agreement per ESIID: an ACTIVE one beats anything else, then PENDING, then the highest number
    (so the active 3162880 beats the terminated 3214970 of the same ESIID)."""
    best: dict[str, Agreement] = {}
    for agreement in agreements:
        if agreement.esiid and (agreement.esiid not in best or _rank(agreement) > _rank(best[agreement.esiid])):
            best[agreement.esiid] = agreement
    return best


@dataclass(frozen=True)
class SubscriptionOutcome:
    ok: bool
    status: str  # created | already_active | failed
    subscription_number: str | None
    reason: str | None


def subscription_outcome(status: int, content: bytes) -> SubscriptionOutcome:
    """2xx is created; a 400 whose ``CustomerDUNSFaultList[].reasonCode`` says the subscription is already
    active is fine too (one subscription serves the whole DUNS); anything else failed."""
    data = _load(content)
    reason = _text(next(iter(find_all(data, ("statusReason", "StatusReason"))), None))
    if 200 <= status < 300:
        number = _text(next(iter(find_all(data, SUBSCRIPTION_KEYS)), None))
        return SubscriptionOutcome(True, "created", number, reason)
    faults = [f for found in find_all(data, ("CustomerDUNSFaultList",)) if isinstance(found, list) for f in found]
    codes = [str(f.get("reasonCode") or "").lower() for f in faults if isinstance(f, dict)]
    if status == 400 and any(ALREADY_ACTIVE in c or "subscription is already active" in c for c in codes):
        return SubscriptionOutcome(True, "already_active", None, "Subscription already active for this DUNS")
    return SubscriptionOutcome(False, "failed", None, reason or f"HTTP {status}")


def correlation_id(content: bytes, fallback_trans_id: str) -> str:
    """A backfill's job id: the answer's correlationId, else the request's trans_id."""
    found = [t for t in map(_text, find_all(_load(content), CORRELATION_KEYS)) if t]
    return found[0] if found else fallback_trans_id


@dataclass(frozen=True)
class ReportStatus:
    text: str  # as SMT wrote it ("" when it wrote none)
    state: str  # accepted | delivered | failed | pending


# Word stems, failure first: "rejected, not delivered" is failed. Matched at word starts.
_REPORT_STATES = (("failed", re.compile(r"\b(fail|error|reject|invalid|cancel|expired)")),
                  ("delivered", re.compile(r"\b(complete|deliver|success|sent)")),
                  ("accepted", re.compile(r"\b(accept|received|submitted|queued)")))
_NEGATED = re.compile(r"\b(not|no|un)\b")


def parse_report_status(content: bytes) -> ReportStatus:
    """The report-status answer's status word as a backfill state: failure words first, then delivered
    (unless negated: "not completed" is still pending), then accepted; anything else is pending. The
    report's own status keys win over a generic status or reason anywhere in the answer."""
    data = _load(content)
    if data is None:
        return ReportStatus(excerpt(content, 120), "failed")
    groups = (REPORT_STATUS_KEYS, STATUS_KEYS, REASON_KEYS)
    text = next((t for keys in groups for t in map(_text, find_all(data, keys)) if t), "")
    lowered = text.lower()
    for state, words in _REPORT_STATES:
        if words.search(lowered) and not (state == "delivered" and _NEGATED.search(lowered)):
            return ReportStatus(text, state)
    return ReportStatus(text, "pending")


def mismatch_hint(status: int, content: bytes) -> str | None:
    """For a 401 "Username/ServiceID Mismatch…" answer, a message quoting it with the fix; else None."""
    body = excerpt(content)
    if status != 401 or "mismatch" not in body.lower():
        return None
    return (f"SMT refused the call (HTTP 401): {body} Check the settings: {MISMATCH_HINT} "
            "(INTELLIWATT_SMT_SERVICE_ID, else INTELLIWATT_SMT_USERNAME).")


@dataclass(frozen=True)
class MeterInfoAnswer:
    status: str  # ok | api_not_enabled | failed
    rows: list[dict] = field(default_factory=list)
    error: str | None = None


# MeterData's fields (declared once, in meter_fields) as the row keys; SMT's key is compared lower-case
# (utilityMeterId, KWHMeterMultiplier, DGChannel, LastUpdated, HANProtocol, …).
_METER_FIELDS = tuple((name, smt.lower()) for name, smt in (*METER_DATA_TEXT[:2], MULTIPLIER, *METER_DATA_TEXT[2:]))
METER_INFO_FIELDS = ("esiid", "meter_number", *(name for name, _ in _METER_FIELDS))


def _float(value: Any) -> float | None:
    try:
        return float(str(value).strip())
    except (TypeError, ValueError):
        return None


def meter_row(meter: dict, esiid: str | None) -> dict[str, Any]:
    """One MeterData object as a row keyed by METER_INFO_FIELDS (text, the multiplier a float)."""
    lowered = {str(k).lower(): v for k, v in meter.items()}
    row: dict[str, Any] = {"esiid": _text(next((meter[k] for k in ESIID_KEYS if k in meter), None)) or esiid}
    for name, key in _METER_FIELDS:
        row[name] = _float(lowered.get(key)) if name == "kwh_meter_multiplier" else _text(lowered.get(key))
    row["meter_number"] = row["utility_meter_id"] or row["meter_serial_number"] or _text(lowered.get("meternumber"))
    return {name: row[name] for name in METER_INFO_FIELDS}


def _meters(data: Any, esiid: str | None) -> Iterator[dict]:
    """``MeterData`` objects (one or a list) anywhere in ``data``, each with the nearest ESIID."""
    if isinstance(data, list):
        for item in data:
            yield from _meters(item, esiid)
    elif isinstance(data, dict):
        esiid = _text(next((data[k] for k in ESIID_KEYS if k in data), None)) or esiid
        for key, value in data.items():
            if key.lower() == "meterdata":
                yield from (meter_row(m, esiid) for m in (value if isinstance(value, list) else [value])
                            if isinstance(m, dict))
            else:
                yield from _meters(value, esiid)


def _is_2076(data: Any, content: bytes) -> bool:
    text = content.decode("utf-8", "replace").lower()
    if "api integration is not done" in text:
        return True
    codes = ("errorCode", "ErrorCode", "errorcode", "statusCode", "code", "errCode")
    return any(_text(code) == "2076" for code in find_all(data, codes))


def parse_meter_info(status: int, content: bytes) -> MeterInfoAnswer:
    """A meterInfo answer: its MeterData rows; SMT error 2076 (API delivery not set up for this CSP) as
    ``api_not_enabled``, to be recorded and not retried; anything else unusable as ``failed``."""
    data = _load(content)
    if _is_2076(data, content):
        return MeterInfoAnswer("api_not_enabled", [], API_NOT_ENABLED)
    if not 200 <= status < 300:
        return MeterInfoAnswer("failed", [], f"HTTP {status}: {excerpt(content)}")
    rows = list(_meters(data, None))
    if not rows:
        return MeterInfoAnswer("failed", [], f"no MeterData in the answer: {excerpt(content)}")
    return MeterInfoAnswer("ok", rows, None)
