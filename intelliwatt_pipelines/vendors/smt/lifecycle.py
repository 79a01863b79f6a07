"""SMT agreement, subscription, backfill, report-status and meterInfo request bodies (vendor-apis.md
§2.2, §2.3) as plain data: no I/O, so every rule is a unit test. ``calls`` sends them; ``answers`` reads
what comes back.

Three defects of the replaced system are refused here rather than copied: ESIIDs are never padded or
cut, a TDSP-keyed number is not a REP's PUCT certificate, and no placeholder meter number is sent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from intelliwatt_pipelines.vendors.smt.requests import checked_esiids, mdy

NEW_AGREEMENT_PATH = "/v2/NewAgreement/"
NEW_SUBSCRIPTION_PATH = "/v2/NewSubscription/"
MY_AGREEMENTS_PATH = "/v2/myagreements/"
AGREEMENT_ESIIDS_PATH = "/v2/AgreementESIIDs/"
TERMINATE_PATH = "/v2/Terminateagreement/"
MY_SUBSCRIPTIONS_PATH = "/v2/Mysubscriptions/"
UNSUBSCRIBE_PATH = "/v2/UnSubscription/"
INTERVAL_BACKFILL_PATH = "/v2/15minintervalreads/"
REPORT_STATUS_PATH = "/v2/reportrequeststatus/"
METER_INFO_PATH = "/v2/meterInfo/"

AGREEMENT_DURATIONS = (1, 3, 6, 9, 12, 24, 36)
HISTORICAL_DURATIONS = (3, 6, 9, 12, 24)
SUBSCRIPTION_TYPES = ("CSPENROLL", "SCHEDULE", "SCHEDULES", "REPENROLL")
REPORT_FORMATS = ("LSE", "CSV", "JSON", "XML")
DATA_TYPES = ("DAILY", "INTERVAL", "MONTHLY")
DELIVERY_MODES = ("FTP", "EML", "API")
STATUS_REASONS = ("PEN", "ACT", "COM", "NACOM")
LANGUAGES = ("ENGLISH", "SPANISH")
# PUCT numbers the replaced system fell back to per TDSP (CNP, ONCOR, AEP_CENTRAL, AEP_NORTH, TNMP):
# they name the wire company, not the customer's REP, so SMT would file the agreement under the wrong REP.
TDSP_PUCT_NUMBERS = frozenset({10007, 10004, 10005, 10002, 10006})
METER_UNKNOWN = "meter number unknown; run meter info first"
# What the replaced system and hand-filled forms put where the meter number belongs.
_PLACEHOLDER_METERS = frozenset({"unknown", "n/a", "na", "none", "null", "tbd", "placeholder", "-", "?", "x"})


def nearest(value: int, choices: Sequence[int]) -> int:
    """The choice closest to ``value``; a tie goes to the first candidate in list order (30 → 24 of
    (…, 24, 36)), because ``min`` keeps the first of equal keys."""
    if not choices:
        raise ValueError("no choices")
    return min(choices, key=lambda choice: abs(choice - value))


def _months(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: a whole number of months, at least 1 (got {value!r})")
    return value


def _one_of(value: str, allowed: Sequence[str], name: str) -> str:
    if value not in allowed:
        raise ValueError(f"{name} {value!r} is not one of {', '.join(allowed)}")
    return value


def checked_meter_number(meter_number: str | None) -> str:
    """The meter number as SMT needs it; empty, None or a placeholder fails (SMT requires the real one,
    from meterInfo or a validated bill)."""
    text = "" if meter_number is None else str(meter_number).strip()
    if not text or text.lower() in _PLACEHOLDER_METERS or set(text) == {"0"}:
        raise ValueError(METER_UNKNOWN)
    return text


def checked_rep_puct_number(number: int, *, allow_tdsp_number: bool = False) -> int:
    """The customer's REP PUCT certificate number: a positive int, and not one of the TDSP-keyed numbers
    unless ``allow_tdsp_number`` (an explicit operator override) says so."""
    if isinstance(number, bool) or not isinstance(number, int) or number <= 0:
        raise ValueError(f"rep_puct_number: the REP's PUCT certificate number, a positive int (got {number!r})")
    if number in TDSP_PUCT_NUMBERS and not allow_tdsp_number:
        raise ValueError(f"rep_puct_number {number} is one of the TDSP numbers {sorted(TDSP_PUCT_NUMBERS)}, "
                         "not a REP certificate: give the customer's REP PUCT number (or allow_tdsp_number=True)")
    return number


def _email(email: str) -> str:
    text = (email or "").strip()
    if "@" not in text:  # the message never quotes it: an e-mail is personal
        raise ValueError("retailCustomerEmail: an e-mail address is required")
    return text


def _base(trans_id: str, requestor_id: str, requestor_auth_id: str, *, csp: bool = False) -> dict[str, Any]:
    """The keys every §2.2 body starts with; ``csp`` adds ``requesterType`` where SMT wants it."""
    if not trans_id or not requestor_id or not requestor_auth_id:
        raise ValueError("trans_id, requestorID (service ID) and requesterAuthenticationID (DUNS) are required")
    body: dict[str, Any] = {"trans_id": trans_id, "requestorID": requestor_id}
    if csp:
        body["requesterType"] = "CSP"
    body["requesterAuthenticationID"] = requestor_auth_id
    return body


def _done(body: dict[str, Any]) -> dict[str, Any]:
    body["SMTTermsandConditions"] = "Y"
    return body


def _one_esiid(esiid: str) -> str:
    return checked_esiids([esiid])[0]


def new_agreement_body(*, trans_id: str, requestor_id: str, requestor_auth_id: str, esiid: str,
                       meter_number: str | None, rep_puct_number: int, email: str, months: int = 12,
                       language: str = "ENGLISH", allow_tdsp_number: bool = False) -> dict[str, Any]:
    """``/v2/NewAgreement/``: the agreement duration is the allowed one nearest to ``months``."""
    meter = {"ESIID": _one_esiid(esiid), "meterNumber": checked_meter_number(meter_number),
             "PUCTRORNumber": checked_rep_puct_number(rep_puct_number, allow_tdsp_number=allow_tdsp_number)}
    body = _base(trans_id, requestor_id, requestor_auth_id)
    body |= {"retailCustomerEmail": _email(email),
             "agreementDuration": nearest(_months(months, "months"), AGREEMENT_DURATIONS),
             "customerLanguagePreference": _one_of(language, LANGUAGES, "customerLanguagePreference"),
             "customerMeterList": [meter]}
    return _done(body)


def new_subscription_body(*, trans_id: str, requestor_id: str, requestor_auth_id: str, historical_months: int,
                          subscription_type: str = "CSPENROLL", report_format: str = "CSV",
                          data_type: str = "INTERVAL", delivery_mode: str = "FTP") -> dict[str, Any]:
    """``/v2/NewSubscription/``: the historical duration is the allowed one nearest to ``historical_months``."""
    body = _base(trans_id, requestor_id, requestor_auth_id, csp=True)
    body |= {"subscriptionType": _one_of(subscription_type, SUBSCRIPTION_TYPES, "subscriptionType"),
             "historicalSubscriptionDuration": nearest(_months(historical_months, "historical_months"),
                                                       HISTORICAL_DURATIONS),
             "reportFormat": _one_of(report_format, REPORT_FORMATS, "reportFormat"),
             "dataType": _one_of(data_type, DATA_TYPES, "dataType"),
             "deliveryMode": _one_of(delivery_mode, DELIVERY_MODES, "deliveryMode")}
    return _done(body)


def _agreement_number(number: int) -> int:
    if isinstance(number, bool) or not isinstance(number, int) or number <= 0:
        raise ValueError(f"agreementNumber: a positive int (got {number!r})")
    return number


def my_agreements_body(*, trans_id: str, requestor_id: str, requestor_auth_id: str,
                       agreement_number: int | None = None, status_reason: str | None = None) -> dict[str, Any]:
    """``/v2/myagreements/``: every agreement of the CSP, or one number, or one status reason."""
    body = _base(trans_id, requestor_id, requestor_auth_id)
    if agreement_number is not None:
        body["agreementNumber"] = _agreement_number(agreement_number)
    if status_reason is not None:
        body["statusReason"] = _one_of(status_reason, STATUS_REASONS, "statusReason")
    return _done(body)


def agreement_esiids_body(*, trans_id: str, requestor_id: str, requestor_auth_id: str,
                          agreement_number: int) -> dict[str, Any]:
    """``/v2/AgreementESIIDs/``: the ESIIDs one agreement covers."""
    body = _base(trans_id, requestor_id, requestor_auth_id)
    body["agreementNumber"] = _agreement_number(agreement_number)
    return _done(body)


def terminate_body(*, trans_id: str, requestor_id: str, requestor_auth_id: str, agreement_numbers: Iterable[int],
                   email: str) -> dict[str, Any]:
    """``/v2/Terminateagreement/``: SMT matches each agreement with the customer's e-mail."""
    numbers = [_agreement_number(n) for n in agreement_numbers]
    if not numbers:
        raise ValueError("no agreement number to terminate")
    address = _email(email)
    body = _base(trans_id, requestor_id, requestor_auth_id)
    body["agreementList"] = [{"agreementNumber": n, "retailCustomerEmail": address} for n in numbers]
    return _done(body)


def my_subscriptions_body(*, trans_id: str, requestor_id: str, requestor_auth_id: str) -> dict[str, Any]:
    """``/v2/Mysubscriptions/``: every subscription of the CSP."""
    return _done(_base(trans_id, requestor_id, requestor_auth_id))


def unsubscribe_body(*, trans_id: str, requestor_id: str, requestor_auth_id: str,
                     subscription_number: str | int) -> dict[str, Any]:
    """``/v2/UnSubscription/``. The number is sent as text, as ``answers`` reads it back."""
    text = str(subscription_number).strip()
    if not text:
        raise ValueError("subscriptionNumber is required")
    body = _base(trans_id, requestor_id, requestor_auth_id)
    body["subscriptionNumber"] = text
    return _done(body)


def interval_backfill_body(*, trans_id: str, requestor_id: str, requestor_auth_id: str, esiid: str,
                           start: dt.date, end: dt.date) -> dict[str, Any]:
    """``/v2/15minintervalreads/``: one ESIID's 15-minute consumption reads for ``start``..``end``, all
    revisions, delivered as CSV over SFTP (the inbox ingests them)."""
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    body = _base(trans_id, requestor_id, requestor_auth_id, csp=True)
    body |= {"startDate": mdy(start), "endDate": mdy(end), "deliveryMode": "FTP", "reportFormat": "CSV",
             "version": "A", "readingType": "C", "esiid": [_one_esiid(esiid)]}
    return _done(body)


def report_status_body(*, trans_id: str, requestor_id: str, requestor_auth_id: str, correlation_id: str,
                       service_type: str | None = None) -> dict[str, Any]:
    """``/v2/reportrequeststatus/``: where a request (backfill, meterInfo CSV) stands."""
    if not str(correlation_id or "").strip():
        raise ValueError("correlationId is required")
    body = _base(trans_id, requestor_id, requestor_auth_id)
    body["correlationId"] = str(correlation_id).strip()
    if service_type is not None:
        body["serviceType"] = service_type
    return _done(body)


def meter_info_body(*, trans_id: str, requestor_id: str, requestor_auth_id: str,
                    esiids: Iterable[str]) -> dict[str, Any]:
    """``/v2/meterInfo/``: JSON in the answer for one ESIID; for several SMT delivers a CSV over SFTP."""
    ids = checked_esiids(esiids)
    body = _base(trans_id, requestor_id, requestor_auth_id, csp=True)
    body |= {"reportFormat": "JSON" if len(ids) == 1 else "CSV", "version": "L",
             "ESIIDMeterList": [{"esiid": e} for e in ids]}
    return _done(body)
