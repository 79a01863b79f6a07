"""Launching runs in-process and reading their results: the Dagster instance the commands record
runs in, the console log level, and what a finished run materialized. Dagster is imported only
inside these functions (the commands that launch nothing start without it)."""

from __future__ import annotations

import os

from intelliwatt_pipelines.config import Settings


def dagster_logs(run_config: dict, verbose: bool) -> dict:
    """Dagster's console logger at WARNING: its per-event DEBUG lines (and our INFO ones) would drown
    the summary. ``--verbose`` shows the whole event stream (DEBUG)."""
    level = "DEBUG" if verbose else "WARNING"
    return {**run_config, "loggers": {"console": {"config": {"log_level": level}}}}


def instance(settings: Settings):
    """The Dagster instance under DAGSTER_HOME (default ``$INTELLIWATT_HOME/dagster_home``, made with
    telemetry off on first use)."""
    import dagster as dg

    if not os.environ.get("DAGSTER_HOME"):
        home = settings.home / "dagster_home"
        home.mkdir(parents=True, exist_ok=True)
        if not (home / "dagster.yaml").exists():
            (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        os.environ["DAGSTER_HOME"] = str(home)
    return dg.DagsterInstance.get()


def days_of(result) -> set[str]:
    """The Central days a run recorded materializations on."""
    return {e.event_specific_data.materialization.partition for e in result.get_asset_materialization_events()
            if e.event_specific_data.materialization.partition}


def materializations(result, key) -> list:
    """The materializations of one asset a run recorded."""
    return [e.event_specific_data.materialization for e in result.get_asset_materialization_events()
            if e.event_specific_data.materialization.asset_key == key]


def meta_int(materialization, key: str) -> int:
    value = materialization.metadata.get(key)
    return int(getattr(value, "value", value) or 0)
