"""Dagster resources: thin handles on the warehouse, the raw store and the inbox."""


from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from intelliwatt_pipelines.cdm.warehouse import engine_for, migrate
from intelliwatt_pipelines.rawstore import LocalRawStore, open_raw_store

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
    """Content-addressed raw bytes (``INTELLIWATT_RAW_STORE_URL``)."""

    url: str

    def store(self) -> LocalRawStore:
        return open_raw_store(self.url)


class InboxResource(dg.ConfigurableResource):
    """The local inbox folder (``INTELLIWATT_INBOX_DIR``) and how the sensor takes files from it."""

    path: str
    min_age_seconds: float = 2.0
    batch_files: int = 50

    @property
    def root(self) -> Path:
        return Path(self.path)


class IngestRulesResource(dg.ConfigurableResource):
    """Data rules: how many invalid rows a file may have, and the completeness alert threshold."""

    max_invalid_fraction: float = 0.0
    completeness_threshold: float = 0.95
