"""The Dagster code location: ``dagster dev -m intelliwatt_pipelines.defs`` or ``workspace.yaml``."""

from intelliwatt_pipelines.config import Settings
from intelliwatt_pipelines.defs.definitions import build_defs
from intelliwatt_pipelines.pii import install_redaction

# Every process that loads the code location (run workers, code servers) logs through the filter.
install_redaction()
defs = build_defs(Settings.from_env())
