"""Each plan classified once, before it is stored (vendor-apis.md §2.8 b, c): COMPUTABLE, or NOT_COMPUTABLE
with the reason, or UNKNOWN when the source does not say how it is priced.

- The engine's static verdict on the structure comes first (``requirements.plan_calc_status``).
- A plan naming no utility is NOT_COMPUTABLE (``MISSING_TDSP_CODE``): its delivery charges are unknown.
- An EFL that mentions a price component no rule reads (a bill credit, a minimum usage fee, night rates…)
  is NOT_COMPUTABLE (``UNPARSED_EFL_COMPONENT``): the average check may not see it.
- An EFL plan or a WattBuy offer must reproduce its own average-price table within ±0.25 ¢/kWh
  (``EFL_VALIDATION_FAILED`` otherwise): with the TDU charges the EFL states, when it states them; else the
  tariff in force on the analysis day; else charges solved from the table (the plan's reason then says LOW
  confidence, and its estimates are LOW). Curated plans are hand-checked and their averages predate the
  tariffs in force, so they are kept as anchors, not re-checked.

Classification reads the tariffs, so ``rate_plans`` follows ``tdsp_tariffs``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass

import sqlalchemy as sa

from intelliwatt_pipelines.cdm import tariffs
from intelliwatt_pipelines.pricing.efl_validator import validate_with_fallback
from intelliwatt_pipelines.pricing.engine import Tdsp
from intelliwatt_pipelines.pricing.requirements import plan_calc_status, required_bucket_keys
from intelliwatt_pipelines.sources.efl import UNPARSED_COMPONENT, EflParse, parse_efl, plan_from_efl
from intelliwatt_pipelines.sources.rate_plans import PlanRecord, plan_from_offer

log = logging.getLogger("intelliwatt.plans")
EFL_VALIDATION_FAILED = "EFL_VALIDATION_FAILED"
UNPARSED_EFL_COMPONENT = "UNPARSED_EFL_COMPONENT"
MISSING_TDSP_CODE = "MISSING_TDSP_CODE"
# A COMPUTABLE plan's reason when its EFL only passed with TDU charges solved from its own table.
SOLVED_TDSP = "EFL_PASSED_WITH_SOLVED_TDSP (LOW confidence)"


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


def _checked(conn: sa.Connection, record: PlanRecord, status: str, reason: str | None, *, as_of: dt.date,
             efl_tdsp: Tdsp | None = None, weekend_share: float | None = None) -> tuple[str, str | None]:
    """A computable plan that states averages must reproduce them (§2.8 c); one naming no utility cannot
    be priced for anyone (its delivery charges are unknown)."""
    if status != "COMPUTABLE":
        return status, reason
    if record.tdsp_code is None:
        return "NOT_COMPUTABLE", f"{MISSING_TDSP_CODE}: the plan names no utility"
    rs = record.rate_structure
    if rs.type in ("INDEXED", "VARIABLE") or not record.avg_table:
        return status, reason
    check = validate_with_fallback(rs, record.avg_table, efl_tdsp=efl_tdsp,
                                   table_tdsp=_table_tdsp(conn, record.tdsp_code, as_of), weekend_share=weekend_share)
    points = ", ".join(f"{p.usage_kwh}: {p.modeled} vs {p.expected}" for p in check.points)
    log.info("plan %s: average-price check %s (%s; TDU from %s)", record.external_id, check.status, points,
             check.tdsp_applied_mode)
    if check.status != "PASS":
        return "NOT_COMPUTABLE", f"{EFL_VALIDATION_FAILED}: {check.reason} ({points or 'no points'})"
    if check.solved is not None:
        return status, f"{SOLVED_TDSP}: {check.solved.per_kwh_cents} ¢/kWh + {check.solved.monthly_cents:g} ¢/month"
    return status, None


def classify(conn: sa.Connection, record: PlanRecord, *, as_of: dt.date) -> PlanValues:
    """A curated plan (hand-checked: its averages predate the tariffs in force, so they are kept as anchors
    and not re-checked) or a WattBuy offer (checked against its own averages)."""
    status, reason = plan_calc_status(record.rate_structure)
    for note in record.notes:
        log.info("plan %s: %s", record.external_id, note)
    if record.source == "curated":
        status, reason = _checked(conn, dataclasses.replace(record, avg_500=None, avg_1000=None, avg_2000=None),
                                  status, reason, as_of=as_of)
    else:
        status, reason = _checked(conn, record, status, reason, as_of=as_of)
    return _values(record, status, reason)


def _table_tdsp(conn: sa.Connection, code: str | None, as_of: dt.date) -> Tdsp | None:
    charges = tariffs.charges_as_of(conn, code, as_of) if code else None
    return charges and Tdsp(charges.per_kwh_cents, charges.monthly_cents, str(charges.effective_start), code)


def efl_verdict(conn: sa.Connection, parsed: EflParse, record: PlanRecord, as_of: dt.date) -> tuple[str, str | None]:
    """The EFL plan's status: the engine's static verdict, components no rule read, then the averages."""
    status, reason = plan_calc_status(parsed.rate_structure)
    unparsed = [w for w in parsed.warnings if w.startswith(UNPARSED_COMPONENT)]
    if status == "COMPUTABLE" and unparsed:
        return "NOT_COMPUTABLE", f"{UNPARSED_EFL_COMPONENT}: " + "; ".join(w.split(": ", 1)[1] for w in unparsed)
    efl_tdsp = parsed.tdsp and Tdsp(parsed.tdsp.per_kwh_cents, parsed.tdsp.monthly_cents, None, parsed.tdsp_code)
    return _checked(conn, record, status, reason, as_of=as_of, efl_tdsp=efl_tdsp, weekend_share=parsed.weekend_share)


def classify_efl(conn: sa.Connection, text: str, *, as_of: dt.date) -> PlanValues:
    """An EFL's plan (PlanParseError when it names none), classified with its validation."""
    record = plan_from_efl(text)
    return _values(record, *efl_verdict(conn, parse_efl(text), record, as_of))


def offer_values(conn: sa.Connection, offer: dict, *, as_of: dt.date) -> PlanValues:
    return classify(conn, plan_from_offer(offer), as_of=as_of)
