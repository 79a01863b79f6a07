"""What a run tells Dagster: one materialization per asset per Central day it touched.

Events stay proportional to days, never to homes × days: a 50-file run over a year of history is
365 events per asset, a daily delivery for 100,000 homes is one or two. Each day's metadata says what
a data engineer wants to know about that day: homes written, how complete they are, intervals, kWh,
and the homes that fall shortest (masked ESIIDs). The facts are computed in ``cdm.day_summaries``;
this module only makes them events.
"""

import dagster as dg
import pandas as pd

from intelliwatt_pipelines.cdm.day_summaries import (
    billing_day_facts,
    read_day_facts,
    reconciliation_day_facts,
    usage_day_facts,
)
from intelliwatt_pipelines.defs.keys import BILLING_READS, DAILY_COMPLETENESS, RECONCILIATION, USAGE_INTERVALS
from intelliwatt_pipelines.defs.versions import with_provenance

# Written as text below the wiring; shown as markdown tables in the UI.
MARKDOWN_FACTS = ("homes_falling_shortest",)


def day_events(key: dg.AssetKey, facts: list[tuple[str, dict]]) -> list[dg.AssetMaterialization]:
    """One materialization of ``key`` per (day, facts)."""
    return [dg.AssetMaterialization(key, partition=day, metadata={
        name: dg.MetadataValue.md(value) if name in MARKDOWN_FACTS else value for name, value in meta.items()})
        for day, meta in facts]


def usage_day_events(completeness: pd.DataFrame, invalid_by_day: dict[str, int], valid_days: set[str],
                     extra: dict | None = None) -> list[dg.AssetMaterialization]:
    """usage_intervals and daily_completeness events, one per asset per day, from completeness rows."""
    events = []
    for day, usage, complete in usage_day_facts(completeness, invalid_by_day, valid_days, extra):
        events += day_events(USAGE_INTERVALS, [(day, usage)]) + day_events(DAILY_COMPLETENESS, [(day, complete)])
    return events


def billing_day_events(reads: pd.DataFrame, valid_days: set[str], extra: dict | None = None) -> list:
    return day_events(BILLING_READS, billing_day_facts(reads, valid_days, extra))


def reconciliation_day_events(per_day: pd.DataFrame, valid_days: set[str], extra: dict | None = None) -> list:
    """billing_reconciliation events from ``reconciliation_by_day`` rows."""
    return day_events(RECONCILIATION, reconciliation_day_facts(per_day, valid_days, extra))


def rebuilt_read_events(per_day: pd.DataFrame, valid_days: set[str], extra: dict) -> list:
    """billing_reads events of a homes rebuild, from its reconciliation per day."""
    return day_events(BILLING_READS, read_day_facts(per_day, valid_days, extra))


def log_events(context, events: list[dg.AssetMaterialization]) -> None:
    """Log the day events with their provenance (code, data and input versions), as Dagster
    records it for a MaterializeResult: without it every day looks stale after the next delivery."""
    for event in events:
        context.log_event(with_provenance(event, context.run_id))
