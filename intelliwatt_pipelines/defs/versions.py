"""Code and data versions, so "Unsynced" in the Dagster UI means something real.

Code versions are made of the version constants of the modules that build each asset
(``PARSER_VERSION`` in ``sources/``, ``RULES_VERSION`` in ``cdm/``, ``CAPTURE_VERSION``): bump one
and exactly the assets it feeds show as changed until their days are rebuilt.

raw_files' data version names the raw store's layout, not its content. The store only grows and a
file's bytes never change; a day's rows depend on the files covering that day, and the run that
takes a new file re-materializes those days itself. So a new delivery leaves the days it does not
cover in sync (a content version would mark every day of every home stale on each delivery).

The per-day events an ingest or rebuild run logs carry the same provenance Dagster writes for a
MaterializeResult: code version, data version, and the versions of the inputs. Day-partitioned
inputs written by the same run are recorded without an event pointer: the run wrote them together.
"""

import hashlib

import dagster as dg

from intelliwatt_pipelines import markets
from intelliwatt_pipelines.cdm import billing, completeness, normalize
from intelliwatt_pipelines.defs.keys import (
    BILLING_READS,
    DAILY_COMPLETENESS,
    RAW_FILES,
    RECONCILIATION,
    USAGE_INTERVALS,
)
from intelliwatt_pipelines.ingest import capture
from intelliwatt_pipelines.sources import (
    detect,
    green_button,
    koios,
    onepwr_iot,
    onepwr_registry,
    registers,
    smt_billing,
    smt_interval,
    smt_simple,
    thundercloud,
    thundercloud_parquet,
)

# The tags Dagster stores a materialization's provenance in (its event-log format; a test checks them
# against Dagster's own constants, which are not public API).
CODE_VERSION_TAG = "dagster/code_version"
DATA_VERSION_TAG = "dagster/data_version"
NULL_EVENT_POINTER = "NULL"


def input_data_version_tag(key: dg.AssetKey) -> str:
    return f"dagster/input_data_version/{key.to_user_string()}"


def input_event_pointer_tag(key: dg.AssetKey) -> str:
    return f"dagster/input_event_pointer/{key.to_user_string()}"


# What each asset is built from: (label, module holding the version constant, constant name).
_BUILT_FROM = {
    RAW_FILES: [("capture", capture, "CAPTURE_VERSION")],
    USAGE_INTERVALS: [("detect", detect, "PARSER_VERSION"), ("smt_interval", smt_interval, "PARSER_VERSION"),
                      ("smt_simple", smt_simple, "PARSER_VERSION"), ("green_button", green_button, "PARSER_VERSION"),
                      ("normalize", normalize, "RULES_VERSION")],
    BILLING_READS: [("detect", detect, "PARSER_VERSION"), ("smt_billing", smt_billing, "PARSER_VERSION"),
                    ("billing", billing, "RULES_VERSION")],
}
_BUILT_FROM[DAILY_COMPLETENESS] = _BUILT_FROM[USAGE_INTERVALS] + [("completeness", completeness, "RULES_VERSION")]
_BUILT_FROM[RECONCILIATION] = [("billing", billing, "RULES_VERSION"), ("normalize", normalize, "RULES_VERSION")]
# 1PWR's parsers and the register transform, in its markets only: a Texas deployment's versions stay as they
# were, so its partitions do not all turn "Unsynced" for code it never runs.
_ONEPWR = [("onepwr_iot", onepwr_iot, "PARSER_VERSION"), ("koios", koios, "PARSER_VERSION"),
           ("thundercloud", thundercloud, "PARSER_VERSION"), ("thundercloud_parquet", thundercloud_parquet,
                                                              "PARSER_VERSION"),
           ("onepwr_registry", onepwr_registry, "PARSER_VERSION"), ("registers", registers, "RULES_VERSION")]

# Each asset's inputs, as its spec declares them (deps).
INPUTS = {RAW_FILES: [], USAGE_INTERVALS: [RAW_FILES], DAILY_COMPLETENESS: [USAGE_INTERVALS],
          BILLING_READS: [RAW_FILES], RECONCILIATION: [BILLING_READS, USAGE_INTERVALS]}


def code_version(key: dg.AssetKey) -> str:
    """e.g. ``detect=1 smt_interval=1 smt_simple=1 green_button=1 normalize=1`` (read when called,
    so a test can bump a constant and build the definitions again)."""
    built = _BUILT_FROM[key] + (_ONEPWR if markets.active().key != markets.DEFAULT_MARKET and key in
                                (USAGE_INTERVALS, DAILY_COMPLETENESS, BILLING_READS) else [])
    return " ".join(f"{label}={getattr(module, name)}" for label, module, name in built)


def raw_data_version() -> dg.DataVersion:
    return dg.DataVersion(f"raw-store capture={capture.CAPTURE_VERSION}")


def day_data_version(key: dg.AssetKey, partition: str, run_id: str) -> str:
    """A day written by a run is new data: the version names the run, the day and the code."""
    text = "|".join((key.to_user_string(), partition, run_id, code_version(key)))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def provenance_tags(key: dg.AssetKey, partition: str, run_id: str) -> dict[str, str]:
    """The tags Dagster reads a materialization's provenance from, for one day logged by a run."""
    tags = {CODE_VERSION_TAG: code_version(key), DATA_VERSION_TAG: day_data_version(key, partition, run_id)}
    for parent in INPUTS[key]:
        if parent == RAW_FILES:
            tags[input_data_version_tag(parent)] = raw_data_version().value
        else:
            tags[input_data_version_tag(parent)] = day_data_version(parent, partition, run_id)
        tags[input_event_pointer_tag(parent)] = NULL_EVENT_POINTER
    return tags


def with_provenance(event: dg.AssetMaterialization, run_id: str) -> dg.AssetMaterialization:
    if event.partition is None or event.asset_key not in INPUTS:
        return event
    return dg.AssetMaterialization(event.asset_key, description=event.description, metadata=event.metadata,
                                   partition=event.partition,
                                   tags={**(event.tags or {}), **provenance_tags(event.asset_key, event.partition,
                                                                                  run_id)})
