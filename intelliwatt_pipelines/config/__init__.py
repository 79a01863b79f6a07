"""Settings: one typed model of every variable the package reads, with type, default, bounds and meaning.

Every setting is an environment variable; nothing secret lives in code. The defaults put the
SQLite warehouse, the raw store, the inbox and the Dagster home under ``INTELLIWATT_HOME``
(``./.intelliwatt``) so a fresh checkout runs with no configuration at all. An empty variable
means its default. A bad value fails at start with ``SettingsError``, one line per variable naming
it and what it expects; the README's configuration table is rendered from the same fields
(``python -m intelliwatt_pipelines.config --markdown``).

``Settings`` is a pydantic dataclass, so code and tests derive variants with ``dataclasses.replace``
(validated like the environment); pydantic-settings reads the environment. The value types (what
each kind of variable accepts) are in ``config.values``, the README table's rendering in ``config.table``.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

from annotated_types import Ge, Gt, Le
from pydantic import ConfigDict, Field, TypeAdapter, ValidationError, create_model
from pydantic.dataclasses import dataclass
from pydantic_settings import BaseSettings, SettingsConfigDict

from intelliwatt_pipelines import bounds
from intelliwatt_pipelines.config.values import (
    BaseUrl,
    Count,
    Day,
    Esiid,
    Expects,
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

CENTRAL_TZ = bounds.CENTRAL_TZ  # stated once, in bounds; kept here for its importers
# Which source's value a slot keeps when several deliver it (see cdm/precedence.py).
DEFAULT_SOURCE_PRECEDENCE = "smt:actual,csv:actual,green_button:*,*:estimated"
PREFIX = "INTELLIWATT_"


class SettingsError(ValueError):
    """Bad settings: one line per variable, naming it and what it expects."""


def _setting(default: Any, description: str, *, shown: str | None = None, env: str | None = None,
             secret: bool = False) -> Any:
    """A field: its default, one line for the README, optionally how the README shows the default,
    a variable name other than INTELLIWATT_<NAME>, and secret (never shown in repr or errors)."""
    extra = {k: v for k, v in {"shown": shown, "env": env, "secret": secret or None}.items() if v is not None}
    factory = {"default_factory": default} if isinstance(default, UnderHome) else {"default": default}
    return Field(**factory, description=description, repr=not secret, json_schema_extra=extra or None)


@dataclass(frozen=True, config=ConfigDict(validate_default=True, extra="forbid"))
class Settings:
    home: Home = _setting(Path(".intelliwatt"), "base folder for the embedded defaults below",
                          shown="`./.intelliwatt`")
    warehouse_url: str = _setting(
        UnderHome("sqlite:///$INTELLIWATT_HOME/warehouse.db"),
        "warehouse; `postgresql://user:pass@host:5432/db` for production (psycopg 3)")
    raw_store_url: str = _setting(UnderHome("$INTELLIWATT_HOME/raw"),
                                  "raw store: a folder path, `file://` URL, or `s3://bucket/prefix`")
    s3_endpoint_url: str = _setting("", "S3-compatible endpoint (MinIO, DigitalOcean Spaces: "
                                        "`https://nyc3.digitaloceanspaces.com`)", shown="AWS")
    s3_region: str = _setting("us-east-1", "S3 region")
    s3_addressing: Literal["path", "virtual"] = _setting("path", "S3 addressing style")
    sftp_host: str = _setting("", "SFTP server; setting it turns `sftp_sensor` on", shown="empty (SFTP off)")
    sftp_port: Port = _setting(22, "SFTP port")
    sftp_user: str = _setting("", "SFTP user")
    sftp_key_path: str = _setting("", "private key file", shown="SSH agent / default keys")
    sftp_key_passphrase: str = _setting("", "passphrase of that key (secret; Dagster reads it as an `EnvVar`)",
                                        secret=True)
    sftp_known_hosts: str = _setting("", "known-hosts file to check the server key against",
                                     shown="system known_hosts")
    sftp_host_key_policy: Literal["reject", "accept-new", "warn-any"] = _setting(
        "reject", "unknown host keys: `reject`, `accept-new` (pin on first use into "
                  "`INTELLIWATT_SFTP_KNOWN_HOSTS`, which it needs), `warn-any`")
    sftp_folders: Names = _setting("/adhocusage,/EnrollmentReports", "remote folders to list")
    sftp_patterns: Names = _setting("", "file-name patterns to take",
                                    shown="built-in list (`DEFAULT_PATTERNS`, transport/base.py)")
    sftp_min_age_seconds: NonNegative = _setting(60.0, "a remote file this old counts as complete even before "
                                                   "a second listing")
    sftp_delete_after_ingest: Flag = _setting(False, "delete remote files once their bytes are safe")
    gnupghome: str = _setting("", "key ring holding the CSP's private key", env="GNUPGHOME",
                              shown="gpg's default")
    gpg_passphrase: str = _setting("", "passphrase of that key (secret; Dagster reads it as an `EnvVar`)",
                                   secret=True)
    max_unpacked_bytes: Count = _setting(1 << 30, "most bytes one package may expand to")
    dev_fallback_esiid: Esiid = _setting("", "development only: ESIID for files that name none "
                                             "(flagged on every use)")
    inbox_dir: Home = _setting(UnderHome("$INTELLIWATT_HOME/inbox"),
                               "inbox folder the sensor and `intelliwatt ingest` read")
    inbox_min_age_seconds: NonNegative = _setting(2.0, "a file is taken only once its mtime is this old "
                                                   "(not still being written)")
    inbox_batch_files: Count = _setting(50, "files per run")
    inbox_claim_seconds: Annotated[float, Field(gt=0, allow_inf_nan=False)] = _setting(
        3600.0, "an inbox file claimed by an ingest process this long ago may be taken by another "
                "(the first one died)")
    ingest_wait_seconds: NonNegative = _setting(600.0, "how long `intelliwatt ingest` waits for files still being "
                                                   "written before it leaves them and exits 1")
    partition_start: OptionalDay = _setting(
        "", "first Central day of the day partitions; empty: the first of the month of the earliest day with "
            "raw data when the code location loads (with none yet, of the generated sample: 2025-10-01)",
        shown="empty (where the data starts)")
    delivery_lag_hours: Hours = _setting(36.0, "how late SMT deliveries may normally be: raw_files, usage_intervals "
                                               "and billing_reads not updated for this long warn (freshness)")
    freshness_margin_hours: Hours = _setting(12.0, "…and fail freshness this many hours later (a stalled feed)")
    backfill_days_per_run: Count = _setting(31, "most days one backfill run rebuilds (UI backfills and "
                                                "`intelliwatt backfill` without `--esiid`)")
    reading_floor: Day = _setting(bounds.READING_FLOOR, "readings before this day are invalid rows")
    reading_future_days: Annotated[int, Field(ge=0)] = _setting(
        bounds.READING_FUTURE_DAYS, "readings later than now plus this many days are invalid rows")
    max_span_days: Count = _setting(bounds.MAX_SPAN_DAYS, "a file whose readings of one series span more "
                                                          "days than this fails whole")
    max_invalid_fraction: Fraction = _setting(0.0, "share of invalid rows a file may have and still load")
    completeness_threshold: Fraction = _setting(0.95, "below this, a day with gaps fails the completeness "
                                                      "check (warn)")
    reconcile_tolerance_kwh: NonNegative = _setting(0.1, "a billing read matches its intervals within this many kWh…")
    reconcile_tolerance_pct: NonNegative = _setting(0.2, "…or within this percent of the read's kWh, whichever is "
                                                     "larger")
    source_precedence: SourcePrecedence = _setting(
        DEFAULT_SOURCE_PRECEDENCE, "which source's value a slot keeps when several sources deliver it "
                                   "(see Upsert rules)")
    log_salt: str = _setting("intelliwatt", "salt for the hashed ESIIDs in log lines", secret=True,
                             shown="`intelliwatt`")
    account_salt: str = _setting("intelliwatt-accounts", "salt for the stored upload account hashes (secret in "
                                 "production; changing it resets the rate limits)", secret=True,
                                 shown="`intelliwatt-accounts`")
    api_keys: Names = _setting("", "comma-separated consumer keys for `x-api-key` (secret)", secret=True,
                               shown="— (`deploy/start` makes a local one)")
    admin_token: str = _setting("", "admin token for `x-admin-token` (secret)", secret=True,
                                shown="— (`deploy/start` makes a local one)")
    api_host: str = _setting("127.0.0.1", "address `intelliwatt api` listens on")
    api_port: Port = _setting(8000, "port `intelliwatt api` listens on")
    public_base_url: BaseUrl = _setting("", "the API's public URL; when set, `…/route/` redirects to "
                                            "`…/route` under it", shown="empty (no slash redirects)")
    upload_max_bytes: Count = _setting(100 * 1024 * 1024, "largest upload (multipart file, or inline "
                                                          "content after decoding)")
    rate_limit_admin: RateLimit = _setting("50/24h", "uploads per admin account per window")
    rate_limit_customer: RateLimit = _setting("5/30d", "uploads per customer account per window")
    rate_limit_customer_esiid: RateLimit = _setting("5/30d", "customer uploads per ESIID per window")
    rate_limit_key: RateLimit = _setting("1000/30d", "uploads per API key per window, whatever the account")
    # Smart Meter Texas REST API (vendors/smt; vendor-apis.md §2.1). Off until enabled.
    smt_api_enabled: Flag = _setting(False, "call the Smart Meter Texas REST API")
    smt_api_base_url: BaseUrl = _setting("https://services.smartmetertexas.net",
                                         "SMT API base URL (UAT: `https://uatservices.smartmetertexas.net`)")
    smt_username: str = _setting("", "SMT API service ID the token is requested for (not a portal login)")
    smt_password: str = _setting("", "password of that service ID (secret; Dagster reads it as an `EnvVar`)",
                                 secret=True)
    smt_requestor_auth_id: str = _setting("", "the CSP's DUNS number, sent as `requesterAuthenticationID`")
    smt_service_id: str = _setting("", "`requestorID` and the `username`/`serviceId` headers of agreement "
                                       "and subscription calls", shown="the username")
    smt_proxy_url: BaseUrl = _setting("", "send every SMT call to this proxy base URL on a whitelisted host "
                                          "instead", shown="empty (call SMT directly)")
    smt_proxy_token: str = _setting("", "the proxy's shared secret, sent as `x-proxy-token` (secret)",
                                    secret=True)
    smt_timeout_s: Annotated[float, Field(gt=0, allow_inf_nan=False)] = _setting(
        60.0, "seconds one SMT HTTP request may take before it is retried")

    @classmethod
    def from_env(cls) -> Settings:
        """The settings from the environment; SettingsError names every bad variable."""
        raw = _Environment().model_dump(exclude_none=True)
        given = {name: value.strip() for name, value in raw.items() if value.strip()}
        try:
            return cls(**given)
        except ValidationError as error:
            raise SettingsError(_lines(error, given)) from None


FIELDS = Settings.__pydantic_fields__


def env_name(name: str) -> str:
    """The environment variable of a field."""
    return (FIELDS[name].json_schema_extra or {}).get("env", PREFIX + name.upper())


def expects(name: str) -> str:
    """What a field's value must look like, in words."""
    info = FIELDS[name]
    words = next((m.text for m in info.metadata if isinstance(m, Expects)), None)
    if words:
        return words
    if get_origin(info.annotation) is Literal:
        return "one of " + ", ".join(get_args(info.annotation))
    noun = {int: "an integer", float: "a number", Path: "a path"}.get(info.annotation, "text")
    low = next((f"{m.ge:g}" for m in info.metadata if isinstance(m, Ge)), None)
    above = next((f"{m.gt:g}" for m in info.metadata if isinstance(m, Gt)), None)
    high = next((f"{m.le:g}" for m in info.metadata if isinstance(m, Le)), None)
    if low is not None and high is not None:
        return f"{noun} between {low} and {high}"
    if low is not None:
        return f"{noun} of at least {low}"
    return f"{noun} above {above}" if above is not None else noun


def _secret(name: str) -> bool:
    return bool((FIELDS[name].json_schema_extra or {}).get("secret"))


def _lines(error: ValidationError, given: dict[str, str], field: str | None = None) -> str:
    """One line per bad field; ``field`` when the error is of that one field's value alone."""
    lines: dict[str, str] = {}
    for item in error.errors():
        name = field or str(item["loc"][0])
        if item["type"] == "default_factory_not_called":
            continue  # a consequence of another field's error, reported on its own line
        value = "" if _secret(name) else f"={str(given.get(name, item.get('input')))[:80]!r}"
        lines.setdefault(name, f"bad setting {env_name(name)}{value}: expected {expects(name)}")
    return "\n".join(lines.values())


class _EnvironmentBase(BaseSettings):
    # Case-sensitive like os.environ; an empty variable means the default.
    model_config = SettingsConfigDict(case_sensitive=True, env_ignore_empty=True, extra="ignore")


# Every field's variable as raw text: pydantic-settings reads the environment, Settings validates.
_Environment = create_model("_Environment", __base__=_EnvironmentBase, **{
    name: (str | None, Field(None, validation_alias=env_name(name))) for name in FIELDS})


@cache
def _adapter(name: str) -> TypeAdapter:
    info = FIELDS[name]
    return TypeAdapter(Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation)


def current(name: str) -> Any:
    """One setting as the environment has it now, validated by its field: for code that holds no
    Settings (log masking, a raw store opened inside a Dagster resource). Fields with a plain default."""
    value = os.environ.get(env_name(name), "").strip()
    try:
        return _adapter(name).validate_python(value or FIELDS[name].default)
    except ValidationError as error:
        raise SettingsError(_lines(error, {name: value}, name)) from None
