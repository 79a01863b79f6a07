"""Vendor formats: bytes in, typed interval frames out. Pure: no Dagster, no database."""

from intelliwatt_pipelines.model import INTERVAL_COLUMNS
from intelliwatt_pipelines.sources.detect import parse_usage_file
from intelliwatt_pipelines.sources.errors import ParseError
from intelliwatt_pipelines.sources.frames import ParsedIntervals, ParsedMeterRoles, ParsedRegisterReads

__all__ = ["INTERVAL_COLUMNS", "ParseError", "ParsedIntervals", "parse_usage_file"]
# 1PWR (vendor-apis.md §3): register reads and meter roles, beside intervals
__all__ += ["ParsedMeterRoles", "ParsedRegisterReads"]
