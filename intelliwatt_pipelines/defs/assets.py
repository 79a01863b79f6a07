"""Assets: raw files in; canonical usage intervals, daily completeness, billing reads and their
reconciliation out, partitioned by Central day.

``raw_files`` (defs/raw_files.py) is what the inbox sensor runs: one run per batch of files, which
captures, normalizes and then reports one materialization per asset per day it wrote. The
day-partitioned assets (defs/from_raw.py), materialized directly (UI backfill, Launchpad, CLI),
rebuild their days from the stored raw bytes, for every home with raw coverage or for the ESIIDs in
their config. This module holds what every asset is described with alike.
"""

import dagster as dg
import sqlalchemy as sa

from intelliwatt_pipelines.cdm.fields import column_docs
from intelliwatt_pipelines.defs.versions import code_version

GROUP = "usage"
BILLING_GROUP = "billing"
OWNERS = ["team:intelliwatt-data"]
# The data jobs (ingest, rebuilds) run their steps in the run's process: a run is the unit spread
# over workers (Celery, Kubernetes), its steps follow each other, and a process per step would import
# the package again for each (a run of two small files: 46-66 s with step processes, 3-6 s without).
RUN_EXECUTOR = dg.in_process_executor


def described(key: dg.AssetKey, layer: str, domain: str, freshness: dg.FreshnessPolicy | None = None) -> dict:
    """Owner, tags and code version on every asset alike, and a freshness policy on those fed by
    deliveries (a stalled feed then shows in the UI)."""
    return {"owners": OWNERS, "tags": {"layer": layer, "domain": domain}, "code_version": code_version(key),
            **({"freshness_policy": freshness} if freshness else {})}


def column_schema(table: sa.Table) -> dg.TableSchema:
    """The table's columns as the Dagster UI shows them, from their declarations (cdm/fields)."""
    return dg.TableSchema(columns=[
        dg.TableColumn(name, type_, description=description,
                       constraints=dg.TableColumnConstraints(nullable=nullable, unique=unique, other=list(other)))
        for name, type_, description, nullable, unique, other in column_docs(table.name)])


def table_metadata(table: sa.Table, links: dict | None = None) -> dict:
    """The warehouse table an asset is stored in: its columns and name (and links, if any)."""
    return {"dagster/column_schema": column_schema(table), "dagster/table_name": table.name, **(links or {})}


def table_spec(key: dg.AssetKey, table: sa.Table, *, deps: list[dg.AssetKey], group: str, layer: str, domain: str,
               description: str, freshness: dg.FreshnessPolicy | None = None,
               links: dict | None = None) -> dg.AssetSpec:
    """One asset of a multi-asset rebuilt from raw with pandas into one warehouse table. Skippable:
    a run with nothing stored for its days materializes nothing."""
    return dg.AssetSpec(key, deps=deps, group_name=group, kinds={"pandas", "sql"}, skippable=True,
                        **described(key, layer, domain, freshness), description=description,
                        metadata=table_metadata(table, links))
