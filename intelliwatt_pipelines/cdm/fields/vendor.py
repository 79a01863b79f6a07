"""Columns of the vendor API bookkeeping: smt_api_call (one audit row per SMT API call)."""

from __future__ import annotations

from intelliwatt_pipelines.cdm.fields.base import ESIID, RAW_FILE_ID, Field

# raw_file.source of every SMT API answer, and raw_file.kind of an answer that is not 2xx.
SMT_API_SOURCE = "smt_api"
SMT_API_ERROR_KIND = "smt_api_error"

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
    Field("request_redacted", "text", "the request as JSON (method, URL, headers, body), password, token and "
          "ESIIDs redacted"),
    RAW_FILE_ID.but(description="the raw file holding the answer's bytes (`source` `smt_api`); null when no "
                    "answer came", nullable=True),
    Field("correlation_id", "varchar(64)", "the Dagster run id of the call", nullable=True),
    ESIID.but(description="the ESI ID the call was about", nullable=True),
    Field("error", "text", "why the call failed (an answer that is not 2xx, none at all, or unparseable rows)",
          nullable=True),
)
