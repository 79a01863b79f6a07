"""Columns of the plan analyzer (vendor-apis.md §2.8): usage_bucket (monthly kWh per home per bucket key),
usage_bucket_home (what each home's buckets were computed from), rate_plan (plans in the engine's model),
plan_estimate (one immutable row per home, plan and inputs hash) and plan_estimate_current (which of them
is a home's estimate for a plan now)."""

from __future__ import annotations

import re

from intelliwatt_pipelines.cdm.fields.base import ESIID, RAW_FILE_ID, Field, Pattern, values
from intelliwatt_pipelines.cdm.fields.reference import TDSP_CODE

# raw_file.kind of a curated plan JSON and of an EFL's text; raw_file.source of files read from the plans folder.
RATE_PLAN_JSON_KIND = "rate_plan_json"
EFL_TEXT_KIND = "efl_text"
PLANS_SOURCE = "plans"

YEAR_MONTH = Field("year_month", "varchar(7)", "local calendar month (America/Chicago), `YYYY-MM`",
                   pattern=Pattern(re.compile(r"\d{4}-(0[1-9]|1[0-2])"), "`YYYY-MM`"))
BUCKET_KEY = Field("bucket_key", "varchar(64)", "what is summed: `kwh.m.<all|weekday|weekend>.<HHMM-HHMM|total>`, "
                   "windows by the local start of each reading (see Plan analyzer)")

USAGE_BUCKET = (
    ESIID,
    YEAR_MONTH,
    BUCKET_KEY,
    Field("kwh", "float", "kWh of the real readings (actual or estimated, never placeholders) in the bucket",
          unit="kWh", ge=0),
    Field("intervals", "integer", "readings counted (an hourly reading split across a window boundary counts in "
          "both)", unit="readings", ge=0),
    Field("complete_days", "smallint", "local days of the month whose completeness status is `complete`",
          unit="days", ge=0),
    Field("expected_days", "smallint", "local days in the month", unit="days", ge=28, le=31),
    Field("computed_at", "timestamptz", "when the value was last written (a recomputation that finds the same "
          "value writes nothing)"),
)

USAGE_BUCKET_HOME = (
    ESIID,
    Field("keys_sha256", "varchar(64)", "SHA-256 of the sorted bucket keys computed (core keys plus those the "
          "plans need): a new key recomputes the home"),
    Field("through_normalized_at", "timestamptz", "latest `raw_file.normalized_at` of the home's interval files "
          "when computed: a later one recomputes the home", nullable=True),
    Field("months", "smallint", "months with readings", unit="months", ge=0),
    Field("usable_months", "smallint", "months complete enough to price (INTELLIWATT_PLAN_MONTH_MIN_COMPLETE)",
          unit="months", ge=0),
    Field("computed_at", "timestamptz", "when the home's buckets were last computed"),
)

PLAN_SOURCES = {"curated": "a curated plan JSON (package data or INTELLIWATT_PLANS_DIR)",
                "efl": "an EFL's text (`*.txt` in INTELLIWATT_PLANS_DIR), parsed by deterministic rules",
                "wattbuy": "a `retail_offer` from WattBuy"}
CALC_STATUSES = {"COMPUTABLE": "the engine can price it", "NOT_COMPUTABLE": "reason in `plan_calc_reason`",
                 "UNKNOWN": "not yet classified"}
RATE_PLAN = (
    Field("id", "bigserial", "surrogate key; estimates point here"),
    Field("source", "varchar(16)", "where the plan comes from", allowed=PLAN_SOURCES, sql_check=True),
    Field("external_id", "varchar(120)", "the source's id: the curated `key`, `efl:<sha256>`, WattBuy's offer id"),
    Field("supplier", "text", "retail provider (REP)", nullable=True),
    Field("supplier_puct", "varchar(16)", "the REP's PUCT certificate number", nullable=True),
    Field("plan_name", "text", "plan name"),
    Field("term_months", "smallint", "contract term; null when not given (never written as 0)", nullable=True,
          unit="months", ge=0),
    TDSP_CODE.but(nullable=True, description="the utility whose customers it is offered to"),
    Field("rate_type", "varchar(16)", "engine rate type", allowed=values("FIXED", "VARIABLE", "INDEXED",
                                                                           "TIME_OF_USE", "UNKNOWN")),
    Field("rate_structure", "text", "the engine's rate structure, JSON (see Plan costs); null exactly when "
          "`rate_type` is UNKNOWN (the source does not say how the plan is priced)", nullable=True),
    Field("rate_structure_sha256", "varchar(64)", "SHA-256 of the canonical JSON of `rate_structure` (part of "
          "every estimate's inputs hash); null with it", nullable=True),
    Field("avg_500", "float", "the EFL's average price at 500 kWh/month", nullable=True, unit="¢/kWh", ge=0),
    Field("avg_1000", "float", "…at 1,000 kWh/month", nullable=True, unit="¢/kWh", ge=0),
    Field("avg_2000", "float", "…at 2,000 kWh/month", nullable=True, unit="¢/kWh", ge=0),
    Field("efl_url", "text", "Electricity Facts Label", nullable=True),
    Field("efl_sha256", "varchar(64)", "SHA-256 of the EFL text it was parsed from", nullable=True, unique=True),
    Field("plan_calc_status", "varchar(16)", "whether the engine can price it", allowed=CALC_STATUSES,
          sql_check=True),
    Field("plan_calc_reason", "text", "why not (an engine reason code and detail)", nullable=True),
    Field("required_bucket_keys", "text", "JSON list of the bucket keys pricing it needs"),
    RAW_FILE_ID.but(description="the raw file it was read from (curated JSON, EFL text, WattBuy answer)",
                    nullable=True),
    Field("valid_from", "timestamptz", "when this version of the plan was first read"),
    Field("valid_to", "timestamptz", "when the source stopped listing it; null while listed", nullable=True),
    Field("updated_at", "timestamptz", "when the row last changed"),
)

ESTIMATE_STATUSES = {"OK": "priced exactly", "APPROXIMATE": "priced from EFL anchors (indexed or variable plans)",
                     "NOT_COMPUTABLE": "reason in `reason`", "NOT_IMPLEMENTED": "a structure the engine lacks"}
PLAN_ESTIMATE = (
    Field("id", "bigserial", "surrogate key"),
    ESIID,
    Field("rate_plan_id", "bigint", "the `rate_plan`"),
    Field("inputs_sha256", "varchar(64)", "SHA-256 of everything the estimate depends on (usage, rate structure, "
          "tariff, mode): identical inputs reuse this row"),
    Field("as_of", "date", "analysis date: the delivery tariff in force that day was applied"),
    Field("estimate_mode", "varchar(32)", "engine mode", allowed=values("DEFAULT", "INDEXED_EFL_ANCHOR_APPROX")),
    Field("usage_months", "text", "JSON list of the months priced (`YYYY-MM`)"),
    Field("annual_kwh", "float", "kWh over those months", unit="kWh", ge=0),
    Field("status", "varchar(16)", "outcome", allowed=ESTIMATE_STATUSES, sql_check=True),
    Field("reason", "text", "reason code and detail when not OK", nullable=True),
    Field("annual_cost_dollars", "float", "cost over the months priced", nullable=True, unit="$", ge=0),
    Field("monthly_cost_dollars", "float", "its monthly average", nullable=True, unit="$", ge=0),
    Field("effective_cents_per_kwh", "float", "annual cost / annual kWh", nullable=True, unit="¢/kWh", ge=0),
    Field("confidence", "varchar(8)", "how far to trust it", nullable=True, allowed=values("HIGH", "MEDIUM", "LOW")),
    Field("components_v2", "text", "JSON: rep{energy,fixed,total}, tdsp{delivery,fixed,total}, credits, "
          "minimum_usage_fee, minimum_bill_top_up, total (dollars)", nullable=True),
    Field("tdsp_applied", "text", "JSON: the delivery tariff applied {tdsp, per_kwh_cents, monthly_cents, "
          "effective_date}", nullable=True),
    Field("monthly_breakdown", "text", "JSON list per month: kWh and each component in dollars", nullable=True),
    Field("drivers", "text", "JSON: the months and components that drive the cost", nullable=True),
    Field("notes", "text", "JSON list of the engine's notes", nullable=True),
    Field("computed_at", "timestamptz", "when it was computed (rows are never updated)"),
)

PLAN_ESTIMATE_CURRENT = (
    ESIID,
    Field("rate_plan_id", "bigint", "the `rate_plan`"),
    Field("estimate_id", "bigint", "the `plan_estimate` whose inputs are the home's and plan's current ones"),
    Field("selected_at", "timestamptz", "when it became current"),
)
