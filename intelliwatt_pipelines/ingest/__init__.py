"""Ingest without Dagster: capture raw bytes, normalize them into the canonical tables, rebuild."""

from intelliwatt_pipelines.ingest.capture import capture_file
from intelliwatt_pipelines.ingest.normalize import normalize_raw_file
from intelliwatt_pipelines.ingest.pipeline import FileOutcome
from intelliwatt_pipelines.ingest.rebuild import rebuild_esiid_days

__all__ = ["FileOutcome", "capture_file", "normalize_raw_file", "rebuild_esiid_days"]
