"""Partition status as Dagster serves it, for the benchmarks: the asset status cache (what the UI and
``get_status_by_partition`` read) and the UI's own PartitionHealthQuery over GraphQL.

Bench code may use Dagster internals (``dagster._core``); the package itself does not.
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

from bench.common import ROOT
from bench.dagster_bench import open_instance, timed


@dataclass
class StatusRead:
    seconds: float
    materialized: int
    cache_bytes: int
    full_log_reads: int  # get_materialized_partitions calls without a cursor: a rebuild from the whole log
    subset: str = field(repr=False, default="")


def read_status(instance, asset_key, partitions_def) -> StatusRead:
    """The asset status cache the UI and ``get_status_by_partition`` use, updated and stored as they do;
    counts how often it had to read the whole event log (a rebuild, not an increment)."""
    from dagster._core.storage.partition_status_cache import get_and_update_asset_status_cache_value

    full = []
    original = instance.get_materialized_partitions

    def spy(key, before_cursor=None, after_cursor=None):
        if after_cursor is None:
            full.append(key)
        return original(key, before_cursor=before_cursor, after_cursor=after_cursor)

    instance.get_materialized_partitions = spy
    try:
        seconds, value = timed(get_and_update_asset_status_cache_value, instance, asset_key, partitions_def)
    finally:
        del instance.get_materialized_partitions  # back to the class's method
    subset = (value.serialized_materialized_partition_subset or "") if value else ""
    materialized = len(value.deserialize_materialized_partition_subsets(partitions_def)) if value else 0
    return StatusRead(seconds, materialized, len(subset.encode()), len(full), subset)


def stored_status_def_id(instance, asset_key) -> str | None:
    """The partitions definition id the stored status cache was built for."""
    record = next(iter(instance.get_asset_records(asset_keys=[asset_key])), None)
    cached = record.asset_entry.cached_status if record else None
    return cached.partitions_def_id if cached else None


PARTITION_HEALTH_QUERY = """
query PartitionHealthQuery($assetKey: AssetKeyInput!) {
  assetNodeOrError(assetKey: $assetKey) {
    ... on AssetNode {
      id
      partitionKeysByDimension { name type partitionKeys }
      assetPartitionStatuses {
        ... on TimePartitionStatuses { ranges { status startTime endTime startKey endKey } }
        ... on DefaultPartitionStatuses { materializedPartitions materializingPartitions failedPartitions }
        ... on MultiPartitionStatuses {
          primaryDimensionName
          ranges {
            primaryDimStartKey primaryDimEndKey primaryDimStartTime primaryDimEndTime
            secondaryDim {
              ... on TimePartitionStatuses { ranges { status startTime endTime startKey endKey } }
              ... on DefaultPartitionStatuses { materializedPartitions materializingPartitions failedPartitions }
            }
          }
        }
      }
      partitionStats { numMaterialized numPartitions numFailed numMaterializing }
    }
  }
}
"""


@contextmanager
def ui_workspace(env: dict[str, str]):
    """The webserver's view: an instance tuned as ``dagster-webserver`` tunes it (pooled connections, its
    statement timeout) and the project's code location (``intelliwatt_pipelines.defs`` in a code server
    subprocess reading the same INTELLIWATT_* environment). Yields (process context, timeout s)."""
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import ModuleTarget
    from dagster_webserver.cli import DEFAULT_DB_STATEMENT_TIMEOUT, DEFAULT_POOL_MAX_OVERFLOW, DEFAULT_POOL_RECYCLE

    with open_instance(env) as instance:
        instance.optimize_for_webserver(DEFAULT_DB_STATEMENT_TIMEOUT, DEFAULT_POOL_RECYCLE, DEFAULT_POOL_MAX_OVERFLOW)
        target = ModuleTarget(module_name="intelliwatt_pipelines.defs", attribute="defs",
                              working_directory=str(ROOT), location_name="intelliwatt_pipelines")
        with WorkspaceProcessContext(instance, target, version="") as process_context:
            errors = process_context.create_request_context().code_location_errors()
            if errors:
                raise RuntimeError(f"code location failed to load: {errors[0].message}")
            yield process_context, DEFAULT_DB_STATEMENT_TIMEOUT / 1000


def partition_health(process_context, asset_key) -> dict:
    """The UI's PartitionHealthQuery as the asset page sends it, server side: seconds, response size and
    partitionStats, or the error (e.g. the webserver's statement timeout)."""
    from dagster_graphql.test.utils import execute_dagster_graphql

    context = process_context.create_request_context()
    start = time.perf_counter()
    try:
        result = execute_dagster_graphql(context, PARTITION_HEALTH_QUERY, {"assetKey": {"path": list(asset_key.path)}})
    except Exception as exc:  # a failing query is a result here, not a crash
        return {"s": time.perf_counter() - start, "error": f"{type(exc).__name__}: {str(exc)[:120]}"}
    seconds = time.perf_counter() - start
    node = result.data["assetNodeOrError"]
    return {"s": seconds, "bytes": len(json.dumps(result.data)), "stats": node.get("partitionStats") or {}}
