"""The Dagster code location: ``dagster dev -m intelliwatt_pipelines.defs`` or ``workspace.yaml``."""

from intelliwatt_pipelines.config import Settings
from intelliwatt_pipelines.defs.definitions import build_defs

defs = build_defs(Settings.from_env())
