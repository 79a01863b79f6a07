"""The platform's own settings (warehouse, raw store, SFTP, inbox, rules, API) as a pydantic dataclass,
and ``setting``, how every field states its default and meaning. ``config.vendors`` adds the vendor
APIs' settings and feature flags; ``config.Settings`` is the whole model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field
from pydantic.dataclasses import dataclass

from intelliwatt_pipelines import bounds, markets
from intelliwatt_pipelines.config.values import (
    BaseUrl,
    Count,
    Day,
    Esiid,
    Flag,
    Fraction,
    Home,
    Hours,
    Names,
    NonNegative,
    OptionalDay,
    Port,
    RateLimit,
    SourcePrecedence,
    UnderHome,
)

# Which source's value a slot keeps when several deliver it (see cdm/precedence.py).
DEFAULT_SOURCE_PRECEDENCE = "smt:actual,csv:actual,green_button:*,*:estimated"
SETTINGS_CONFIG = ConfigDict(validate_default=True, extra="forbid")


def setting(default: Any, description: str, *, shown: str | None = None, env: str | None = None,
             secret: bool = False) -> Any:
    """A field: its default, one line for the README, optionally how the README shows the default,
    a variable name other than INTELLIWATT_<NAME>, and secret (never shown in repr or errors)."""
    extra = {k: v for k, v in {"shown": shown, "env": env, "secret": secret or None}.items() if v is not None}
    factory = {"default_factory": default} if isinstance(default, UnderHome) else {"default": default}
    return Field(**factory, description=description, repr=not secret, json_schema_extra=extra or None)


@dataclass(frozen=True, config=SETTINGS_CONFIG)
class CoreSettings:
    home: Home = setting(Path(".intelliwatt"), "base folder for the embedded defaults below",
                          shown="`./.intelliwatt`")
    warehouse_url: str = setting(
        UnderHome("sqlite:///$INTELLIWATT_HOME/warehouse.db"),
        "warehouse; `postgresql://user:pass@host:5432/db` for production (psycopg 3)")
    raw_store_url: str = setting(UnderHome("$INTELLIWATT_HOME/raw"),
                                  "raw store: a folder path, `file://` URL, or `s3://bucket/prefix`")
    s3_endpoint_url: str = setting("", "S3-compatible endpoint (MinIO, DigitalOcean Spaces: "
                                        "`https://nyc3.digitaloceanspaces.com`)", shown="AWS")
    s3_region: str = setting("us-east-1", "S3 region")
    s3_addressing: Literal["path", "virtual"] = setting("path", "S3 addressing style")
    sftp_host: str = setting("", "SFTP server; setting it turns `sftp_sensor` on", shown="empty (SFTP off)")
    sftp_port: Port = setting(22, "SFTP port")
    sftp_user: str = setting("", "SFTP user")
    sftp_key_path: str = setting("", "private key file", shown="SSH agent / default keys")
    sftp_key_passphrase: str = setting("", "passphrase of that key (secret; Dagster reads it as an `EnvVar`)",
                                        secret=True)
    sftp_known_hosts: str = setting("", "known-hosts file to check the server key against",
                                     shown="system known_hosts")
    sftp_host_key_policy: Literal["reject", "accept-new", "warn-any"] = setting(
        "reject", "unknown host keys: `reject`, `accept-new` (pin on first use into "
                  "`INTELLIWATT_SFTP_KNOWN_HOSTS`, which it needs), `warn-any`")
    sftp_folders: Names = setting("/adhocusage,/EnrollmentReports", "remote folders to list")
    sftp_patterns: Names = setting("", "file-name patterns to take",
                                    shown="built-in list (`DEFAULT_PATTERNS`, transport/base.py)")
    sftp_min_age_seconds: NonNegative = setting(60.0, "a remote file this old counts as complete even before "
                                                   "a second listing")
    sftp_delete_after_ingest: Flag = setting(False, "delete remote files once their bytes are safe")
    gnupghome: str = setting("", "key ring holding the CSP's private key", env="GNUPGHOME",
                              shown="gpg's default")
    gpg_passphrase: str = setting("", "passphrase of that key (secret; Dagster reads it as an `EnvVar`)",
                                   secret=True)
    max_unpacked_bytes: Count = setting(1 << 30, "most bytes one package may expand to")
    dev_fallback_esiid: Esiid = setting("", "development only: ESIID for files that name none "
                                             "(flagged on every use)")
    inbox_dir: Home = setting(UnderHome("$INTELLIWATT_HOME/inbox"),
                               "inbox folder the sensor and `intelliwatt ingest` read")
    inbox_min_age_seconds: NonNegative = setting(2.0, "a file is taken only once its mtime is this old "
                                                   "(not still being written)")
    inbox_batch_files: Count = setting(50, "files per run")
    inbox_claim_seconds: Annotated[float, Field(gt=0, allow_inf_nan=False)] = setting(
        3600.0, "an inbox file claimed by an ingest process this long ago may be taken by another "
                "(the first one died)")
    ingest_wait_seconds: NonNegative = setting(600.0, "how long `intelliwatt ingest` waits for files still being "
                                                   "written before it leaves them and exits 1")
    partition_start: OptionalDay = setting(
        "", "first Central day of the day partitions; empty: the first of the month of the earliest day with "
            "raw data when the code location loads (with none yet, of the generated sample: 2025-10-01)",
        shown="empty (where the data starts)")
    delivery_lag_hours: Hours = setting(36.0, "how late SMT deliveries may normally be: raw_files, usage_intervals "
                                               "and billing_reads not updated for this long warn (freshness)")
    freshness_margin_hours: Hours = setting(12.0, "…and fail freshness this many hours later (a stalled feed)")
    backfill_days_per_run: Count = setting(31, "most days one backfill run rebuilds (UI backfills and "
                                                "`intelliwatt backfill` without `--esiid`)")
    partition_months_ahead: Annotated[int, Field(ge=0, le=120)] = setting(
        3, "PostgreSQL: months after the current one that `warehouse_partitions_schedule` keeps partitions of "
           "usage_interval and daily_completeness for")
    usage_retention_months: Annotated[int, Field(ge=0)] = setting(
        0, "PostgreSQL: keep this many whole months of usage_interval and daily_completeness before the current "
           "one; the daily partitions run drops older months (0 keeps everything)")
    market: Literal[tuple(markets.MARKETS)] = setting(
        markets.DEFAULT_MARKET, "the deployment's market: its service point ids and local time zone (`texas`: "
        "17/22-digit ESIIDs, America/Chicago; `lesotho`, `benin`, `zambia`: 1PWR account numbers `NNNNSSS`, "
        "Africa/Maseru, Africa/Porto-Novo, Africa/Lusaka); days, partitions, completeness and API times follow it")
    reading_floor: Day = setting(bounds.READING_FLOOR, "readings before this day are invalid rows")
    reading_future_days: Annotated[int, Field(ge=0)] = setting(
        bounds.READING_FUTURE_DAYS, "readings later than now plus this many days are invalid rows")
    max_span_days: Count = setting(bounds.MAX_SPAN_DAYS, "a file whose readings of one series span more "
                                                          "days than this fails whole")
    max_invalid_fraction: Fraction = setting(0.0, "share of invalid rows a file may have and still load")
    completeness_threshold: Fraction = setting(0.95, "below this, a day with gaps fails the completeness "
                                                      "check (warn)")
    reconcile_tolerance_kwh: NonNegative = setting(0.1, "a billing read matches its intervals within this many kWh…")
    reconcile_tolerance_pct: NonNegative = setting(0.2, "…or within this percent of the read's kWh, whichever is "
                                                     "larger")
    source_precedence: SourcePrecedence = setting(
        DEFAULT_SOURCE_PRECEDENCE, "which source's value a slot keeps when several sources deliver it "
                                   "(see Upsert rules)")
    log_salt: str = setting("intelliwatt", "salt for the hashed ESIIDs in log lines", secret=True,
                             shown="`intelliwatt`")
    account_salt: str = setting("intelliwatt-accounts", "salt for the stored upload account hashes (secret in "
                                 "production; changing it resets the rate limits)", secret=True,
                                 shown="`intelliwatt-accounts`")
    api_keys: Names = setting("", "comma-separated consumer keys for `x-api-key` (secret)", secret=True,
                               shown="— (`deploy/start` makes a local one)")
    admin_token: str = setting("", "admin token for `x-admin-token` (secret)", secret=True,
                                shown="— (`deploy/start` makes a local one)")
    api_host: str = setting("127.0.0.1", "address `intelliwatt api` listens on")
    api_port: Port = setting(8000, "port `intelliwatt api` listens on")
    public_base_url: BaseUrl = setting("", "the API's public URL; when set, `…/route/` redirects to "
                                            "`…/route` under it", shown="empty (no slash redirects)")
    upload_max_bytes: Count = setting(100 * 1024 * 1024, "largest upload (multipart file, or inline "
                                                          "content after decoding)")
    rate_limit_admin: RateLimit = setting("50/24h", "uploads per admin account per window")
    rate_limit_customer: RateLimit = setting("5/30d", "uploads per customer account per window")
    rate_limit_customer_esiid: RateLimit = setting("5/30d", "customer uploads per ESIID per window")
    rate_limit_key: RateLimit = setting("1000/30d", "uploads per API key per window, whatever the account")
    # 1PWR's IoT meters push readings one at a time (vendor-apis.md §3.1, 1): spooled, sealed hourly.
    iot_key: str = setting("", "shared secret 1PWR's IoT meters send as `X-IoT-Key` to `POST /api/v1/readings` "
                               "(secret); empty: that route answers 404 and `iot_spool_sensor` starts stopped",
                           secret=True, shown="empty (push ingestion off)")
    iot_spool: Home = setting(UnderHome("$INTELLIWATT_HOME/iot_spool"),
                              "folder where `POST /api/v1/readings` appends readings, one JSON-lines file per meter "
                              "and hour, until `iot_spool_sensor` seals closed hours into raw files (the API and "
                              "the Dagster daemon must share it)")
