"""Index the first local day of raw coverage, so the earliest day with data is one index probe.

The day partitions start where the data starts (INTELLIWATT_PARTITION_START unset): the code
location asks for min(first_local_date) each time it loads, which without an index scans every
coverage row (one per file per series: tens of millions at 100,000 homes).

Revision ID: 0007
Revises: 0006
"""
from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade():
    op.create_index("ix_raw_file_coverage_first_day", "raw_file_coverage", ["first_local_date"])
    op.create_index("ix_billing_read_coverage_first_day", "billing_read_coverage", ["first_local_date"])


def downgrade():
    op.drop_index("ix_billing_read_coverage_first_day", "billing_read_coverage")
    op.drop_index("ix_raw_file_coverage_first_day", "raw_file_coverage")
