"""Dagster resources: thin handles on the warehouse, the raw store, the inboxes and the rules."""

from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from intelliwatt_pipelines import bounds
from intelliwatt_pipelines.cdm.billing import Tolerance
from intelliwatt_pipelines.cdm.precedence import DEFAULT as DEFAULT_PRECEDENCE
from intelliwatt_pipelines.cdm.precedence import Precedence
from intelliwatt_pipelines.cdm.warehouse import engine_for, migrate
from intelliwatt_pipelines.ingest.inbox import IngestOptions
from intelliwatt_pipelines.ingest.unpack import UnpackLimits
from intelliwatt_pipelines.kinds import GREEN_BUTTON
from intelliwatt_pipelines.rawstore import RawStore, open_raw_store
from intelliwatt_pipelines.sources.frames import ReadingWindow
from intelliwatt_pipelines.transport import LocalInbox, SftpInbox, SftpSettings
from intelliwatt_pipelines.transport.base import DEFAULT_PATTERNS

_migrated: set[str] = set()


class WarehouseResource(dg.ConfigurableResource):
    """The canonical warehouse (``INTELLIWATT_WAREHOUSE_URL``). Migrated on first use per process."""

    url: str

    def engine(self) -> sa.Engine:
        engine = engine_for(self.url)
        if self.url not in _migrated:
            migrate(engine)
            _migrated.add(self.url)
        return engine


class RawStoreResource(dg.ConfigurableResource):
    """Content-addressed raw bytes (``INTELLIWATT_RAW_STORE_URL``: a folder or ``s3://bucket/prefix``)."""

    url: str

    def store(self) -> RawStore:
        return open_raw_store(self.url)


class InboxResource(dg.ConfigurableResource):
    """The local inbox folder (``INTELLIWATT_INBOX_DIR``) and how the sensor takes files from it."""

    path: str
    min_age_seconds: float = 2.0
    batch_files: int = 50
    claim_seconds: float = 3600.0  # a claim on an entry (this or the SFTP inbox) older than this may be taken over

    @property
    def root(self) -> Path:
        return Path(self.path)

    def inbox(self) -> LocalInbox:
        return LocalInbox(self.path)


class SftpResource(dg.ConfigurableResource):
    """The vendor SFTP server (``INTELLIWATT_SFTP_*``). An empty host turns SFTP off."""

    host: str = ""
    port: int = 22
    username: str = ""
    private_key_path: str = ""
    key_passphrase: str = ""
    known_hosts_path: str = ""
    host_key_policy: str = "reject"
    folders: list[str] = ["/adhocusage", "/EnrollmentReports"]
    patterns: list[str] = list(DEFAULT_PATTERNS)
    min_age_seconds: float = 60.0
    batch_files: int = 50
    delete_after_ingest: bool = False

    def inbox(self) -> SftpInbox:
        if not self.host:
            raise dg.Failure("SFTP is not configured: set INTELLIWATT_SFTP_HOST")
        return SftpInbox(SftpSettings(
            host=self.host, port=self.port, username=self.username, private_key_path=self.private_key_path or None,
            known_hosts_path=self.known_hosts_path or None, host_key_policy=self.host_key_policy,
            folders=tuple(self.folders), patterns=tuple(self.patterns), key_passphrase=self.key_passphrase or None))


class IngestRulesResource(dg.ConfigurableResource):
    """Data rules and unpacking: invalid-row tolerance, completeness threshold, PGP key ring and limits."""

    max_invalid_fraction: float = 0.0
    completeness_threshold: float = 0.95
    gnupghome: str = ""
    gpg_passphrase: str = ""
    max_unpacked_bytes: int = 1 << 30
    dev_fallback_esiid: str = ""
    reconcile_tolerance_kwh: float = 0.1
    reconcile_tolerance_pct: float = 0.2
    source_precedence: str = DEFAULT_PRECEDENCE
    reading_floor: str = bounds.READING_FLOOR
    reading_future_days: int = bounds.READING_FUTURE_DAYS
    max_span_days: int = bounds.MAX_SPAN_DAYS
    green_button_enabled: bool = True  # INTELLIWATT_FLAG_GREEN_BUTTON

    def window(self) -> ReadingWindow:
        return ReadingWindow.from_settings(self)

    def precedence(self) -> Precedence:
        return Precedence.parse(self.source_precedence)

    def tolerance(self) -> Tolerance:
        return Tolerance(kwh=self.reconcile_tolerance_kwh, pct=self.reconcile_tolerance_pct)

    def refused(self) -> dict[str, str]:
        """File kinds whose feature flag is off, with the reason their files fail."""
        return {} if self.green_button_enabled else {GREEN_BUTTON: "Green Button disabled by "
                                                                   "INTELLIWATT_FLAG_GREEN_BUTTON"}

    def options(self, *, delete_after_ingest: bool = False) -> IngestOptions:
        return IngestOptions(refused=self.refused(),
            max_invalid_fraction=self.max_invalid_fraction, gnupghome=self.gnupghome or None,
            gpg_passphrase=self.gpg_passphrase or None, limits=UnpackLimits(max_unpacked_bytes=self.max_unpacked_bytes),
            dev_fallback_esiid=self.dev_fallback_esiid or None, delete_after_ingest=delete_after_ingest,
            tolerance=self.tolerance(), precedence=self.precedence(), window=self.window())
