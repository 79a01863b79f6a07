"""Each plan classified once, before it is stored (vendor-apis.md §2.8 b, c): COMPUTABLE, or NOT_COMPUTABLE
with the engine's reason, or UNKNOWN when the source does not say how it is priced.

An EFL plan must also reproduce its own average-price table within ±0.25 ¢/kWh with the TDU charges the
EFL states, else the tariff in force on the analysis day, else charges solved from the table (LOW
confidence); one that does not is NOT_COMPUTABLE (``EFL_VALIDATION_FAILED``): its parse is not trusted.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import sqlalchemy as sa

from intelliwatt_pipelines.cdm import tariffs
from intelliwatt_pipelines.pricing.efl_validator import validate_with_fallback
from intelliwatt_pipelines.pricing.engine import Tdsp
from intelliwatt_pipelines.pricing.requirements import plan_calc_status, required_bucket_keys
from intelliwatt_pipelines.sources.efl import EflParse, parse_efl, plan_from_efl
from intelliwatt_pipelines.sources.rate_plans import PlanRecord, plan_from_offer

log = logging.getLogger("intelliwatt.plans")
EFL_VALIDATION_FAILED = "EFL_VALIDATION_FAILED"


@dataclass
class PlanValues:
    """A plan ready for ``rate_plans.upsert_plan``."""

    source: str
    external_id: str
    values: dict


def _values(record: PlanRecord, status: str, reason: str | None) -> PlanValues:
    rs = record.rate_structure
    values = {"supplier": record.supplier, "supplier_puct": record.supplier_puct, "plan_name": record.plan_name,
              "term_months": record.term_months, "tdsp_code": record.tdsp_code, "rate_type": record.rate_type,
              "rate_structure": rs.canonical_json() if rs else None, "rate_structure_sha256": rs.sha256() if rs else None,
              "avg_500": record.avg_500, "avg_1000": record.avg_1000, "avg_2000": record.avg_2000,
              "efl_url": record.efl_url, "efl_sha256": record.efl_sha256, "plan_calc_status": status,
              "plan_calc_reason": reason, "required_bucket_keys": list(required_bucket_keys(rs)) if rs else [],
              "raw_file_id": None}
    return PlanValues(record.source, record.external_id, values)


def classify(conn: sa.Connection, record: PlanRecord, *, as_of: dt.date) -> PlanValues:
    """A curated or offer plan: the engine's static verdict on its structure."""
    status, reason = plan_calc_status(record.rate_structure)
    for note in record.notes:
        log.info("plan %s: %s", record.external_id, note)
    return _values(record, status, reason)


def _table_tdsp(conn: sa.Connection, code: str | None, as_of: dt.date) -> Tdsp | None:
    charges = tariffs.charges_as_of(conn, code, as_of) if code else None
    return charges and Tdsp(charges.per_kwh_cents, charges.monthly_cents, str(charges.effective_start), code)


def efl_verdict(conn: sa.Connection, parsed: EflParse, as_of: dt.date) -> tuple[str, str | None]:
    """The EFL plan's status: the engine's static verdict, then the average-price check."""
    status, reason = plan_calc_status(parsed.rate_structure)
    if status != "COMPUTABLE" or parsed.rate_structure.type in ("INDEXED", "VARIABLE"):
        return status, reason
    efl_tdsp = parsed.tdsp and Tdsp(parsed.tdsp.per_kwh_cents, parsed.tdsp.monthly_cents, None, parsed.tdsp_code)
    check = validate_with_fallback(parsed.rate_structure, parsed.avg_table, efl_tdsp=efl_tdsp,
                                   table_tdsp=_table_tdsp(conn, parsed.tdsp_code, as_of),
                                   weekend_share=parsed.weekend_share)
    points = ", ".join(f"{p.usage_kwh}: {p.modeled} vs {p.expected}" for p in check.points)
    log.info("EFL %s: validation %s (%s; TDU from %s)", parsed.plan_name, check.status, points, check.tdsp_applied_mode)
    if check.status != "PASS":
        return "NOT_COMPUTABLE", f"{EFL_VALIDATION_FAILED}: {check.reason} ({points or 'no points'})"
    return status, None


def classify_efl(conn: sa.Connection, text: str, *, as_of: dt.date) -> PlanValues:
    """An EFL's plan (PlanParseError when it names none), classified with its validation."""
    record = plan_from_efl(text)
    return _values(record, *efl_verdict(conn, parse_efl(text), as_of))


def offer_values(conn: sa.Connection, offer: dict, *, as_of: dt.date) -> PlanValues:
    return classify(conn, plan_from_offer(offer), as_of=as_of)
