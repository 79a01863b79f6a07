"""Columns of the SMT API bookkeeping (vendor-apis.md §2.1–2.4): smt_api_call (one audit row per call),
smt_authorization (a customer's agreement and subscription), smt_backfill_request (historical interval
requests), smt_meter_info (meters SMT describes) and interval_day_ledger (the gap sweep's day record)."""

from __future__ import annotations

from intelliwatt_pipelines.cdm.fields.base import ESIID, METER, RAW_FILE_ID, Field
from intelliwatt_pipelines.vendors.smt.meter_fields import METER_DATA_TEXT  # MeterData's text fields (§2.3)

# raw_file.source of every SMT API answer, and raw_file.kind of an answer that is not 2xx.
SMT_API_SOURCE = "smt_api"
SMT_API_ERROR_KIND = "smt_api_error"
# raw_file.kind of a 2xx answer about agreements, subscriptions, backfill requests or meters (no usage in it).
SMT_API_ANSWER_KIND = "smt_api_answer"

SMT_API_CALL = (
    Field("id", "bigserial", "surrogate key"),
    Field("called_at", "timestamptz", "when the call was made (its first attempt)"),
    Field("endpoint", "varchar(100)", "the SMT path called, e.g. `/v2/energydata/`"),
    Field("trans_id", "varchar(32)", "the request's `trans_id` (the same on every retry of the call)",
          nullable=True),
    Field("http_status", "integer", "status of the last answer; null when none came (timeouts, network errors)",
          nullable=True),
    Field("attempts", "integer", "attempts made: 5xx answers and timeouts are retried within one call, and only "
          "the last answer is stored", unit="attempts", ge=1),
    Field("request_redacted", "text", "the request as JSON (method, URL, headers, body), password, token, "
          "e-mail and ESIIDs redacted"),
    RAW_FILE_ID.but(description="the raw file holding the answer's bytes (`source` `smt_api`); null when no "
                    "answer came", nullable=True),
    Field("correlation_id", "varchar(64)", "SMT's `correlationId` when the answer carries one (a backfill "
          "request and its report status)", nullable=True),
    ESIID.but(description="the ESI ID the call was about", nullable=True),
    Field("error", "text", "why the call failed (an answer that is not 2xx, none at all, or unparseable rows)",
          nullable=True),
    Field("run_id", "varchar(64)", "the Dagster run that made the call", nullable=True),
)

AGREEMENT_STATUSES = {
    "PENDING": "waiting for the customer to confirm SMT's e-mail", "ACTIVE": "authorized: data may be pulled",
    "DECLINED": "the customer did not accept", "EXPIRED": "terminated, completed or expired",
    "ERROR": "SMT answered with a status the mapping does not know (in `smt_status_message`)"}
SUBSCRIPTION_STATUSES = {"created": "", "already_active": "SMT already delivers this ESIID's intervals",
                         "failed": "reason in `smt_status_message`", "unsubscribed": ""}

SMT_AUTHORIZATION = (
    Field("id", "bigserial", "surrogate key"),
    ESIID.but(description="ESI ID the customer authorized (17 or 22 digits, kept whole)"),
    METER.but(name="meter_number", description="meter number sent with the agreement (from `smt_meter_info`)",
              nullable=True),
    Field("tdsp_code", "varchar(16)", "the home's utility, when known", nullable=True),
    Field("rep_puct_number", "integer", "the customer's retail electric provider's PUCT certificate number "
          "(never a TDSP number)", nullable=True),
    Field("authorization_start", "date", "first day of the agreement", nullable=True),
    Field("authorization_end", "date", "last day of the agreement (start plus its duration)", nullable=True),
    Field("months_back", "smallint", "months of history the backfill asks for: 12 residential, 24 commercial",
          unit="months", ge=1, le=24),
    Field("account_class", "varchar(3)", "residential or commercial", allowed={"res": "", "com": ""},
          sql_check=True),
    Field("consent_text_version", "varchar(40)", "version of the consent text the customer accepted",
          nullable=True),
    Field("consent_at", "timestamptz", "when the customer consented", nullable=True),
    Field("consent_ip_hash", "varchar(64)", "salted SHA-256 of the consenting IP address", nullable=True),
    Field("contact_email_enc", "text", "the customer's e-mail (Terminate needs it), Fernet-encrypted with "
          "INTELLIWATT_SMT_EMAIL_KEY; never stored or logged in clear", nullable=True),
    Field("smt_agreement_number", "bigint", "SMT's agreement number", nullable=True, unique=True),
    Field("smt_subscription_number", "varchar(40)", "SMT's subscription number", nullable=True),
    Field("smt_subscription_status", "varchar(16)", "outcome of the subscription call",
          allowed=SUBSCRIPTION_STATUSES, nullable=True),
    Field("smt_status", "varchar(16)", "the agreement's status, mapped from SMT's words (§2.2)",
          allowed=AGREEMENT_STATUSES, sql_check=True),
    Field("smt_status_message", "text", "SMT's own status words, or why a call failed", nullable=True),
    Field("last_sync_at", "timestamptz", "when `/v2/myagreements/` last reported it", nullable=True),
    Field("archived_at", "timestamptz", "when it was terminated or superseded", nullable=True),
    Field("created_at", "timestamptz", "when the row was created"),
    Field("updated_at", "timestamptz", "when the row last changed"),
)

BACKFILL_STATUSES = {
    "requested": "sent; SMT has not confirmed it", "accepted": "SMT accepted it (its `correlation_id`)",
    "delivered": "an ingested file's coverage spans the window", "failed": "SMT refused it or reported a failure",
    "expired": "not delivered in time"}
BACKFILL_REASONS = {"enrollment": "history after an agreement turned active", "gap": "a day the gap sweep found"}

SMT_BACKFILL_REQUEST = (
    Field("id", "bigserial", "surrogate key"),
    ESIID.but(description="ESI ID whose intervals are requested"),
    Field("authorization_id", "id", "the `smt_authorization` it was made for", nullable=True),
    Field("reason", "varchar(16)", "why it was requested", allowed=BACKFILL_REASONS, sql_check=True),
    Field("requested_start", "date", "first day asked for (America/Chicago)"),
    Field("requested_end", "date", "last day asked for"),
    Field("correlation_id", "varchar(64)", "SMT's `correlationId` (else the call's `trans_id`)", nullable=True),
    Field("status", "varchar(16)", "where it stands", allowed=BACKFILL_STATUSES, sql_check=True),
    Field("delivered_raw_file_ids", "text", "comma-separated raw files whose coverage delivered the window",
          nullable=True),
    Field("last_report_status_json", "text", "SMT's last report-status answer (redacted)", nullable=True),
    Field("last_polled_at", "timestamptz", "when the report status was last asked", nullable=True),
    Field("error", "text", "why it failed", nullable=True),
    Field("created_at", "timestamptz", "when it was requested"),
    Field("updated_at", "timestamptz", "when it last changed"),
)

METER_INFO_STATUSES = {"ok": "", "api_not_enabled": "SMT error 2076: the meter data comes by SFTP CSV instead",
                       "failed": "reason in `error`"}
SMT_METER_INFO = (
    ESIID.but(description="ESI ID the meter serves"),
    METER.but(name="meter_number", description="the meter number (`utilityMeterId`, else `meterSerialNumber`); "
              "`unknown` on a row that only records a status"),
    Field("status", "varchar(16)", "what SMT answered", allowed=METER_INFO_STATUSES, sql_check=True),
    Field("kwh_meter_multiplier", "float", "SMT's `KWHMeterMultiplier`", nullable=True),
    *(Field(name, "text", f"SMT's `{smt}`", nullable=True) for name, smt in METER_DATA_TEXT),
    Field("error", "text", "why no meter data came", nullable=True),
    RAW_FILE_ID.but(description="the raw file (API answer or SFTP CSV) it was read from"),
    Field("updated_at", "timestamptz", "when it was last written"),
)

LEDGER_STATUSES = {
    "COMPLETE": "every expected interval is a real reading", "PENDING_SMT": "inside SMT's delivery lag: wait",
    "REPAIR_REQUESTED": "a backfill request was sent for it (`repair_request_id`)",
    "INCOMPLETE_METER": "still incomplete after its one repair: the meter did not record it"}

INTERVAL_DAY_LEDGER = (
    ESIID.but(description="ESI ID"),
    Field("local_date", "date", "the day (America/Chicago)"),
    Field("status", "varchar(20)", "what the gap sweep decided", allowed=LEDGER_STATUSES, sql_check=True),
    Field("repair_requested_at", "timestamptz", "when its repair was requested", nullable=True),
    Field("repair_request_id", "id", "the `smt_backfill_request` sent for it", nullable=True),
    Field("intervals_at_last_check", "integer", "real consumption intervals stored at the last sweep",
          unit="intervals", ge=0),
    Field("updated_at", "timestamptz", "when it last changed"),
)
