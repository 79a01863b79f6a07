"""The column facts of every canonical table, declared once (as PUDL's ``metadata/fields.py``).

Each table's columns in order, with type, nullability, unit, allowed values, bounds and meaning.
Derived from these: the SQL columns and CHECK constraints (``cdm.tables``), the pandera checks
(``cdm.schemas``), the Dagster column schemas (``defs``) and the README's column tables
(``python -m intelliwatt_pipelines.cdm.fields --markdown``). ``test_fields`` fails when any disagrees.
Pure: no SQLAlchemy, pandas or Dagster.
"""

from __future__ import annotations

from intelliwatt_pipelines.cdm.fields.base import TYPES, Field, Pattern
from intelliwatt_pipelines.cdm.fields.billing import (
    BILLING_READ,
    BILLING_READ_COVERAGE,
    BILLING_RECONCILIATION,
)
from intelliwatt_pipelines.cdm.fields.intake import (
    INBOX_CLAIM,
    INBOX_ENTRY,
    RAW_FILE_HINT,
    UPLOAD,
    UPLOAD_ESIID,
)
from intelliwatt_pipelines.cdm.fields.meters import METER_ROLE, REGISTER_READ, VENDOR_REQUEST_COUNT
from intelliwatt_pipelines.cdm.fields.plans import (
    PLAN_ESTIMATE,
    PLAN_ESTIMATE_CURRENT,
    RATE_PLAN,
    USAGE_BUCKET,
    USAGE_BUCKET_HOME,
)
from intelliwatt_pipelines.cdm.fields.reference import (
    ERCOT_EXTRACT_FILE,
    ESIID_LOOKUP,
    RETAIL_OFFER,
    SERVICE_POINT,
    TDSP_TARIFF_COMPONENT,
    TDSP_TARIFF_VERSION,
)
from intelliwatt_pipelines.cdm.fields.usage import (
    DAILY_COMPLETENESS,
    RAW_FILE,
    RAW_FILE_COVERAGE,
    USAGE_INTERVAL,
)
from intelliwatt_pipelines.cdm.fields.vendor import (
    INTERVAL_DAY_LEDGER,
    SMT_API_CALL,
    SMT_AUTHORIZATION,
    SMT_BACKFILL_REQUEST,
    SMT_METER_INFO,
)

__all__ = ["TABLES", "TYPES", "Field", "Pattern", "column", "column_docs", "constraints", "type_label"]

# table name -> its columns, in the order the migrations create the columns
TABLES: dict[str, tuple[Field, ...]] = {
    "raw_file": RAW_FILE,
    "usage_interval": USAGE_INTERVAL,
    "daily_completeness": DAILY_COMPLETENESS,
    "raw_file_coverage": RAW_FILE_COVERAGE,
    "billing_read": BILLING_READ,
    "billing_read_coverage": BILLING_READ_COVERAGE,
    "billing_reconciliation": BILLING_RECONCILIATION,
    "inbox_entry": INBOX_ENTRY,
    "inbox_claim": INBOX_CLAIM,
    "upload": UPLOAD,
    "upload_esiid": UPLOAD_ESIID,
    "raw_file_hint": RAW_FILE_HINT,
    "smt_api_call": SMT_API_CALL,
    "smt_authorization": SMT_AUTHORIZATION,
    "smt_backfill_request": SMT_BACKFILL_REQUEST,
    "smt_meter_info": SMT_METER_INFO,
    "interval_day_ledger": INTERVAL_DAY_LEDGER,
    "ercot_extract_file": ERCOT_EXTRACT_FILE,
    "service_point": SERVICE_POINT,
    "esiid_lookup": ESIID_LOOKUP,
    "retail_offer": RETAIL_OFFER,
    "tdsp_tariff_version": TDSP_TARIFF_VERSION,
    "tdsp_tariff_component": TDSP_TARIFF_COMPONENT,
    "usage_bucket": USAGE_BUCKET,
    "usage_bucket_home": USAGE_BUCKET_HOME,
    "rate_plan": RATE_PLAN,
    "plan_estimate": PLAN_ESTIMATE,
    "plan_estimate_current": PLAN_ESTIMATE_CURRENT,
    "register_read": REGISTER_READ,
    "meter_role": METER_ROLE,
    "vendor_request_count": VENDOR_REQUEST_COUNT,
}


def column(table: str, name: str) -> Field:
    return next(f for f in TABLES[table] if f.name == name)


def type_label(f: Field) -> str:
    """The type as the docs and the Dagster UI show it (an ``id`` column is a bigint)."""
    return "bigint" if f.type == "id" else f.type


def _number(x: float) -> str:
    return f"{x:,g}" if abs(x) < 1e6 else f"{x:,.0f}"


def constraints(f: Field, code=lambda text: f"`{text}`") -> list[str]:
    """What a column's values may be, in words: unit, bounds, allowed values, pattern (``code``
    marks literal values: backticks for Markdown)."""
    out = [f.unit] if f.unit else []
    out += ["unique"] if f.unique else []
    if limits := [f"{op} {_number(x)}" for op, x in (("≥", f.ge), ("≤", f.le), ("<", f.lt)) if x is not None]:
        out.append(" and ".join(limits))
    if f.allowed:
        out.append("one of " + ", ".join(code(v) + (f" ({meaning})" if meaning else "")
                                         for v, meaning in f.allowed.items()))
        out += ["checked by the database"] if f.sql_check else []
    if f.pattern:
        out.append(f.pattern.label)
    return out


def column_docs(table: str) -> list[tuple[str, str, str, bool, bool, tuple[str, ...]]]:
    """(name, type, description, nullable, unique, constraints in words) per column: what the Dagster
    column schema shows, as plain tuples (``defs`` turns them into ``dg.TableColumn``)."""
    return [(f.name, type_label(f), f.description, f.nullable, f.unique, tuple(constraints(f, code=str)))
            for f in TABLES[table]]
