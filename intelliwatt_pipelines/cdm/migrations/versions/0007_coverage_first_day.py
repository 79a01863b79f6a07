"""Indexes for what the UI and the status page ask on every load.

- The first local day of raw coverage: the day partitions start where the data starts
  (INTELLIWATT_PARTITION_START unset), and the code location asks for min(first_local_date) each
  time it loads. Without an index that scans every coverage row (one per file per series: tens of
  millions at 100,000 homes).
- The gap days of daily_completeness (a partial index, WHERE status = 'gaps'): the status page
  lists the homes with gaps in the latest month, reading only those rows.

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade():
    op.create_index("ix_raw_file_coverage_first_day", "raw_file_coverage", ["first_local_date"])
    op.create_index("ix_billing_read_coverage_first_day", "billing_read_coverage", ["first_local_date"])
    gaps = sa.text("status = 'gaps'")
    op.create_index("ix_daily_completeness_gaps", "daily_completeness", ["local_date", "esiid"],
                    sqlite_where=gaps, postgresql_where=gaps)


def downgrade():
    op.drop_index("ix_daily_completeness_gaps", "daily_completeness")
    op.drop_index("ix_billing_read_coverage_first_day", "billing_read_coverage")
    op.drop_index("ix_raw_file_coverage_first_day", "raw_file_coverage")
