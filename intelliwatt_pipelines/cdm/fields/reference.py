"""Columns of the reference data (vendor-apis.md §2.5–2.7): ercot_extract_file and service_point (ERCOT's
TDSP ESIID extracts), esiid_lookup (WattBuy's address -> ESIID answers), retail_offer (WattBuy's plans),
and the delivery tariffs tdsp_tariff_version and tdsp_tariff_component."""

from __future__ import annotations

from intelliwatt_pipelines.cdm.fields.base import ESIID, RAW_FILE_ID, Field, values

# raw_file.kind of WattBuy's answers: 2xx (a 204 or empty one kept as a wrapper JSON), and any other status.
WATTBUY_ANSWER_KIND = "wattbuy_answer"
WATTBUY_ERROR_KIND = "wattbuy_error"
TDSP_CODES = {"ONCOR": "Oncor Electric Delivery", "CENTERPOINT": "CenterPoint Energy Houston Electric",
              "AEP_NORTH": "AEP Texas North", "AEP_CENTRAL": "AEP Texas Central",
              "TNMP": "Texas-New Mexico Power", "LUBBOCK": "Lubbock Power & Light", "NUECES": "Nueces Electric Coop",
              "ENTERGY": "Entergy Texas", "SHARYLAND": "Sharyland Utilities", "SWEPCO": "SWEPCO",
              "AEP_TEXAS_SP": "AEP Texas (SP)"}
TDSP_CODE = Field("tdsp_code", "varchar(16)", "the utility (TDSP) serving the premise", allowed=TDSP_CODES)
EXTRACT_KINDS = {"FUL": "a TDSP's full list (monthly)", "DAILY": "the day's adds, changes and retirements"}
EXTRACT_STATUSES = {"listed": "known from the document list, not yet downloaded", "stored": "its bytes are a raw file",
                    "applied": "its rows are in `service_point`", "failed": "reason in `error`",
                    "superseded": "older than the TDSP's applied full file: never applied"}

ERCOT_EXTRACT_FILE = (
    Field("doc_id", "varchar(72)", "ERCOT's DocID (or `local:<sha256>` for a file dropped in the ERCOT folder)"),
    Field("constructed_name", "text", "ERCOT's ConstructedName, e.g. "
          "`ext.00000203.0000000000000000.20260603.055219164.ONCOR_ELEC___DAILY.zip`"),
    Field("friendly_name", "varchar(40)", "e.g. `ONCOR_ELEC___DAILY`"),
    Field("tdsp", "varchar(16)", "the TDSP token of the friendly name, e.g. `ONCOR_ELEC`"),
    Field("kind", "varchar(8)", "full list or daily changes", allowed=EXTRACT_KINDS, sql_check=True),
    Field("publish_date", "timestamptz", "ERCOT's PublishDate: files of a TDSP apply in this order"),
    Field("content_size", "bigint", "size ERCOT lists", nullable=True, unit="bytes", ge=0),
    RAW_FILE_ID.but(description="the raw file holding the ZIP", nullable=True),
    Field("rows_read", "bigint", "data rows in the file", nullable=True, unit="rows", ge=0),
    Field("rows_applied", "bigint", "rows that changed `service_point`", nullable=True, unit="rows", ge=0),
    Field("rows_invalid", "bigint", "rows refused (reasons in `error`)", nullable=True, unit="rows", ge=0),
    Field("status", "varchar(16)", "where it stands", allowed=EXTRACT_STATUSES, sql_check=True),
    Field("error", "text", "why it failed, or its refused rows by line number", nullable=True),
    Field("listed_at", "timestamptz", "when it was first seen"),
    Field("applied_at", "timestamptz", "when its rows were applied", nullable=True),
)

SP_STATUSES = values("Active", "Inactive", "De-Energized")
SERVICE_POINT = (
    ESIID.but(description="ESI ID (17 or 22 digits, as ERCOT lists it)"),
    TDSP_CODE,
    Field("duns", "varchar(16)", "the TDSP's DUNS number", nullable=True),
    Field("address", "text", "premise street address, as listed"),
    Field("address_overflow", "text", "apartment, suite…", nullable=True),
    Field("city", "text", "city", nullable=True),
    Field("state", "varchar(2)", "state", nullable=True),
    Field("zip5", "varchar(5)", "5-digit ZIP code", nullable=True),
    Field("zip4", "varchar(4)", "ZIP+4 extension, when listed", nullable=True),
    Field("county", "text", "county (22-column layout only)", nullable=True),
    Field("meter_read_cycle", "varchar(8)", "meter read cycle", nullable=True),
    Field("status", "varchar(16)", "ERCOT's premise status", allowed=SP_STATUSES),
    Field("premise_type", "varchar(40)", "Residential, Small or Large Non-Residential", nullable=True),
    Field("power_region", "varchar(16)", "e.g. ERCOT", nullable=True),
    Field("station_code", "varchar(16)", "substation code", nullable=True),
    Field("station_name", "text", "substation name", nullable=True),
    Field("metered", "boolean", "whether the premise is metered", nullable=True),
    Field("open_service_orders", "text", "open service orders, as listed (e.g. `06/01/2026,Move In`)", nullable=True),
    Field("polr_customer_class", "varchar(40)", "POLR customer class", nullable=True),
    Field("settlement_ams_indicator", "varchar(8)", "settlement AMS indicator", nullable=True),
    Field("tdsp_ams_indicator", "varchar(8)", "TDSP AMS indicator (meter type, e.g. `AMSM`)", nullable=True),
    Field("switch_hold_indicator", "varchar(8)", "switch hold indicator", nullable=True),
    Field("metered_service_type", "varchar(16)", "metered service type code", nullable=True),
    Field("metered_service_type_desc", "text", "its description", nullable=True),
    Field("norm_line1", "text", "the address normalized for search: upper case, spaces collapsed, USPS suffixes "
          "and directions abbreviated (`address.normalize_line`)"),
    Field("source_doc_id", "varchar(72)", "the `ercot_extract_file` its values come from"),
    Field("publish_date", "timestamptz", "that file's PublishDate: a row changes only for a later one"),
    RAW_FILE_ID.but(description="that file's raw file"),
    Field("retired_at", "timestamptz", "when it left the TDSP's list (absent from a later full file) or turned "
          "Inactive; null while listed", nullable=True),
    Field("updated_at", "timestamptz", "when the row last changed"),
)

ESIID_LOOKUP = (
    Field("address_hash", "varchar(64)", "salted SHA-256 of the normalized address asked (the address itself is "
          "only in the raw answer)"),
    ESIID.but(description="the ESI ID WattBuy gave for it"),
    TDSP_CODE.but(nullable=True),
    Field("utility_name", "text", "the utility as WattBuy names it", nullable=True),
    Field("utility_id", "varchar(16)", "WattBuy's utility id", nullable=True),
    Field("zip5", "varchar(5)", "ZIP code asked", nullable=True),
    RAW_FILE_ID.but(description="the raw file holding WattBuy's answer"),
    Field("first_seen", "timestamptz", "when this address first gave this ESIID"),
    Field("last_seen", "timestamptz", "when it last did"),
    Field("conflict_note", "text", "set when the address gave another ESIID before (both kept: the newest wins "
          "in lookups)", nullable=True),
)

RETAIL_OFFER = (
    Field("source", "varchar(16)", "where the offer comes from", allowed={"wattbuy": "WattBuy `/offers`"}),
    Field("external_id", "varchar(80)", "the source's offer id (WattBuy `offer_id`)"),
    Field("offer_name", "text", "plan name"),
    Field("supplier", "text", "retail provider (REP)", nullable=True),
    Field("puct_registration", "varchar(16)", "the REP's PUCT certificate number", nullable=True),
    TDSP_CODE.but(nullable=True),
    Field("zip5", "varchar(5)", "ZIP code the offer was listed for", nullable=True),
    Field("term_months", "smallint", "contract term; null for month-to-month or when not given", nullable=True,
          unit="months", ge=0),
    Field("rate_type", "varchar(16)", "fixed, variable, indexed…", nullable=True),
    Field("is_green", "boolean", "renewable", nullable=True),
    Field("green_percentage", "float", "renewable share", nullable=True, unit="%", ge=0, le=100),
    Field("kwh500_cents", "float", "advertised average price at 500 kWh/month (TDU included)", nullable=True,
          unit="¢/kWh", ge=0),
    Field("kwh1000_cents", "float", "…at 1,000 kWh/month", nullable=True, unit="¢/kWh", ge=0),
    Field("kwh2000_cents", "float", "…at 2,000 kWh/month", nullable=True, unit="¢/kWh", ge=0),
    Field("efl_url", "text", "Electricity Facts Label (allowed document hosts only)", nullable=True),
    Field("tos_url", "text", "terms of service", nullable=True),
    Field("yrac_url", "text", "your rights as a customer", nullable=True),
    Field("offer_json", "text", "the offer object as the source sent it (for rebuilding)"),
    RAW_FILE_ID.but(description="the raw file of the answer it was last seen in"),
    Field("first_seen", "timestamptz", "when first listed"),
    Field("last_seen", "timestamptz", "when last listed"),
)

TARIFF_SOURCE_KINDS = {"CURATED_JSON": "the checked-in JSON feed (or a file given as the asset's `path` config)",
                       "PUCT_RATE_REPORT": "text of a PUCT monthly rate report", "EFL": "an EFL's TDU line"}
TDSP_TARIFF_VERSION = (
    Field("id", "bigserial", "surrogate key"),
    TDSP_CODE,
    Field("effective_start", "date", "first day it applies"),
    Field("effective_end", "date", "first day it no longer applies; null while current (closed when a later "
          "version arrives)", nullable=True),
    Field("source_url", "text", "where it was read", nullable=True),
    Field("source_key", "varchar(96)", "SHA-256 of the source document (`<sha>:AEP_CENTRAL` for AEP Central, which "
          "shares AEP North's report)", unique=True),
    Field("source_kind", "varchar(20)", "what kind of source", allowed=TARIFF_SOURCE_KINDS),
    Field("notes", "text", "notes from the source", nullable=True),
    Field("created_at", "timestamptz", "when it was recorded (versions are never changed but closed)"),
)
TDSP_TARIFF_COMPONENT = (
    Field("version_id", "id", "the `tdsp_tariff_version`"),
    Field("charge_name", "varchar(60)", "e.g. `Customer Charge`, `Metering Charge`, `Volumetric Charge`"),
    Field("charge_type", "varchar(10)", "", allowed=values("CUSTOMER", "DELIVERY"), sql_check=True),
    Field("unit", "varchar(10)", "", allowed={"PER_MONTH": "¢ per month", "PER_KWH": "¢ per kWh"}, sql_check=True),
    Field("rate_cents", "float", "the charge, in cents (4 decimals)", unit="¢", ge=0),
    Field("min_kwh", "integer", "applies from this monthly usage", nullable=True, unit="kWh", ge=0),
    Field("max_kwh", "integer", "up to this monthly usage", nullable=True, unit="kWh", ge=0),
    Field("raw_source_json", "text", "the source's entry for it", nullable=True),
)
