"""Settings from the environment, with embedded defaults under one local folder.

Every setting is an environment variable; nothing secret lives in code. The defaults put the
SQLite warehouse, the raw store, the inbox and the Dagster home under ``INTELLIWATT_HOME``
(``./.intelliwatt``) so a fresh checkout runs with no configuration at all.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from intelliwatt_pipelines import bounds

CENTRAL_TZ = "America/Chicago"
# Which source's value a slot keeps when several deliver it (see cdm/precedence.py).
DEFAULT_SOURCE_PRECEDENCE = "smt:actual,csv:actual,green_button:*,*:estimated"


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def _list(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def rate_limit(value: str) -> tuple[int, int]:
    """``"5/30d"`` → (5 uploads, 30 days in seconds). Units: s, m, h, d."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*([smhd])\s*", value)
    if not match:
        raise ValueError(f"rate limit {value!r} is not like '5/30d' (count/window with unit s, m, h or d)")
    count, window = int(match.group(1)), int(match.group(2)) * _UNIT_SECONDS[match.group(3)]
    if count < 1 or window < 1:
        raise ValueError(f"rate limit {value!r}: count and window must be at least 1")
    return count, window


def _precedence(value: str) -> str:
    from intelliwatt_pipelines.cdm.precedence import Precedence

    Precedence.parse(value)  # a bad setting fails at start, not in the first run
    return value


@dataclass(frozen=True)
class Settings:
    home: Path
    warehouse_url: str
    raw_store_url: str
    inbox_dir: Path
    partition_start: str
    max_invalid_fraction: float
    completeness_threshold: float
    inbox_min_age_seconds: float
    inbox_batch_files: int
    sftp_host: str = ""
    sftp_port: int = 22
    sftp_user: str = ""
    sftp_key_path: str = ""
    sftp_known_hosts: str = ""
    sftp_host_key_policy: str = "reject"
    sftp_folders: tuple[str, ...] = ("/adhocusage", "/EnrollmentReports")
    sftp_patterns: tuple[str, ...] = ()
    sftp_min_age_seconds: float = 60.0
    sftp_delete_after_ingest: bool = False
    gnupghome: str = ""
    max_unpacked_bytes: int = 1 << 30
    dev_fallback_esiid: str = ""
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    admin_token: str = field(default="", repr=False)
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    upload_max_bytes: int = 100 * 1024 * 1024
    rate_limit_admin: tuple[int, int] = (50, 24 * 3600)
    rate_limit_customer: tuple[int, int] = (5, 30 * 86400)
    reconcile_tolerance_kwh: float = 0.1
    reconcile_tolerance_pct: float = 0.2
    source_precedence: str = DEFAULT_SOURCE_PRECEDENCE
    backfill_days_per_run: int = 31
    ingest_wait_seconds: float = 600.0
    reading_floor: str = bounds.READING_FLOOR
    reading_future_days: int = bounds.READING_FUTURE_DAYS
    max_span_days: int = bounds.MAX_SPAN_DAYS
    rate_limit_customer_esiid: tuple[int, int] = (5, 30 * 86400)
    rate_limit_key: tuple[int, int] = (1000, 30 * 86400)
    inbox_claim_seconds: float = 3600.0
    public_base_url: str = ""

    @classmethod
    def from_env(cls) -> "Settings":
        home = Path(_env("INTELLIWATT_HOME", ".intelliwatt")).resolve()
        return cls(
            home=home,
            warehouse_url=_env("INTELLIWATT_WAREHOUSE_URL", f"sqlite:///{home / 'warehouse.db'}"),
            raw_store_url=_env("INTELLIWATT_RAW_STORE_URL", str(home / "raw")),
            inbox_dir=Path(_env("INTELLIWATT_INBOX_DIR", str(home / "inbox"))).resolve(),
            partition_start=_env("INTELLIWATT_PARTITION_START", "2024-01-01"),
            max_invalid_fraction=float(_env("INTELLIWATT_MAX_INVALID_FRACTION", "0")),
            completeness_threshold=float(_env("INTELLIWATT_COMPLETENESS_THRESHOLD", "0.95")),
            inbox_min_age_seconds=float(_env("INTELLIWATT_INBOX_MIN_AGE_SECONDS", "2")),
            inbox_batch_files=int(_env("INTELLIWATT_INBOX_BATCH_FILES", "50")),
            sftp_host=_env("INTELLIWATT_SFTP_HOST", ""),
            sftp_port=int(_env("INTELLIWATT_SFTP_PORT", "22")),
            sftp_user=_env("INTELLIWATT_SFTP_USER", ""),
            sftp_key_path=_env("INTELLIWATT_SFTP_KEY_PATH", ""),
            sftp_known_hosts=_env("INTELLIWATT_SFTP_KNOWN_HOSTS", ""),
            sftp_host_key_policy=_env("INTELLIWATT_SFTP_HOST_KEY_POLICY", "reject"),
            sftp_folders=_list(_env("INTELLIWATT_SFTP_FOLDERS", "/adhocusage,/EnrollmentReports")),
            sftp_patterns=_list(_env("INTELLIWATT_SFTP_PATTERNS", "")),
            sftp_min_age_seconds=float(_env("INTELLIWATT_SFTP_MIN_AGE_SECONDS", "60")),
            sftp_delete_after_ingest=_env("INTELLIWATT_SFTP_DELETE_AFTER_INGEST", "false").lower() in ("1", "true", "yes"),
            gnupghome=_env("GNUPGHOME", ""),
            max_unpacked_bytes=int(_env("INTELLIWATT_MAX_UNPACKED_BYTES", str(1 << 30))),
            dev_fallback_esiid=_env("INTELLIWATT_DEV_FALLBACK_ESIID", ""),
            api_keys=_list(os.environ.get("INTELLIWATT_API_KEYS", "")),
            admin_token=os.environ.get("INTELLIWATT_ADMIN_TOKEN", "").strip(),
            api_host=_env("INTELLIWATT_API_HOST", "127.0.0.1"),
            api_port=int(_env("INTELLIWATT_API_PORT", "8000")),
            upload_max_bytes=int(_env("INTELLIWATT_UPLOAD_MAX_BYTES", str(100 * 1024 * 1024))),
            rate_limit_admin=rate_limit(_env("INTELLIWATT_RATE_LIMIT_ADMIN", "50/24h")),
            rate_limit_customer=rate_limit(_env("INTELLIWATT_RATE_LIMIT_CUSTOMER", "5/30d")),
            reconcile_tolerance_kwh=float(_env("INTELLIWATT_RECONCILE_TOLERANCE_KWH", "0.1")),
            reconcile_tolerance_pct=float(_env("INTELLIWATT_RECONCILE_TOLERANCE_PCT", "0.2")),
            source_precedence=_precedence(_env("INTELLIWATT_SOURCE_PRECEDENCE", DEFAULT_SOURCE_PRECEDENCE)),
            backfill_days_per_run=int(_env("INTELLIWATT_BACKFILL_DAYS_PER_RUN", "31")),
            ingest_wait_seconds=float(_env("INTELLIWATT_INGEST_WAIT_SECONDS", "600")),
            reading_floor=_env("INTELLIWATT_READING_FLOOR", bounds.READING_FLOOR),
            reading_future_days=int(_env("INTELLIWATT_READING_FUTURE_DAYS", str(bounds.READING_FUTURE_DAYS))),
            max_span_days=int(_env("INTELLIWATT_MAX_SPAN_DAYS", str(bounds.MAX_SPAN_DAYS))),
            rate_limit_customer_esiid=rate_limit(_env("INTELLIWATT_RATE_LIMIT_CUSTOMER_ESIID", "5/30d")),
            rate_limit_key=rate_limit(_env("INTELLIWATT_RATE_LIMIT_KEY", "1000/30d")),
            inbox_claim_seconds=float(_env("INTELLIWATT_INBOX_CLAIM_SECONDS", "3600")),
            public_base_url=_env("INTELLIWATT_PUBLIC_BASE_URL", ""),
        )
