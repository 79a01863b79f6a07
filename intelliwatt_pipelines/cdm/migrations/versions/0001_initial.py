"""Initial canonical schema: raw files, usage intervals, daily completeness, coverage, inbox entries.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

from intelliwatt_pipelines.cdm.tables import BigId, UTCDateTime

revision = "0001"
down_revision = None


def upgrade():
    op.create_table(
        "raw_file",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("filename", sa.Text, nullable=False),
        sa.Column("source", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("storage_uri", sa.Text, nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("rows_read", sa.Integer),
        sa.Column("rows_valid", sa.Integer),
        sa.Column("rows_invalid", sa.Integer),
        sa.Column("rows_skipped", sa.Integer),
        sa.Column("normalized_at", UTCDateTime),
        sa.Column("parent_id", BigId, sa.ForeignKey("raw_file.id")),
        sa.Column("run_id", sa.String(64)),
        sa.CheckConstraint("status IN ('received', 'normalized', 'failed', 'quarantined')",
                           name="ck_raw_file_status"),
    )
    op.create_table(
        "usage_interval",
        sa.Column("esiid", sa.String(22), primary_key=True),
        sa.Column("meter", sa.String(40), primary_key=True),
        sa.Column("channel", sa.String(16), primary_key=True),
        sa.Column("ts_utc", UTCDateTime, primary_key=True),
        sa.Column("interval_minutes", sa.SmallInteger, nullable=False),
        sa.Column("kwh", sa.Float, nullable=False),
        sa.Column("quality", sa.String(10), nullable=False),
        sa.Column("revised_at", UTCDateTime),
        sa.Column("source", sa.String(40), nullable=False),
        sa.Column("raw_file_id", BigId, sa.ForeignKey("raw_file.id"), nullable=False),
        sa.CheckConstraint("channel IN ('consumption', 'generation')", name="ck_usage_interval_channel"),
        sa.CheckConstraint("quality IN ('actual', 'estimated', 'filled')", name="ck_usage_interval_quality"),
    )
    op.create_table(
        "daily_completeness",
        sa.Column("esiid", sa.String(22), primary_key=True),
        sa.Column("meter", sa.String(40), primary_key=True),
        sa.Column("channel", sa.String(16), primary_key=True),
        sa.Column("local_date", sa.Date, primary_key=True),
        sa.Column("interval_minutes", sa.SmallInteger, nullable=False),
        sa.Column("expected_intervals", sa.Integer, nullable=False),
        sa.Column("actual_intervals", sa.Integer, nullable=False),
        sa.Column("estimated_intervals", sa.Integer, nullable=False),
        sa.Column("filled_intervals", sa.Integer, nullable=False),
        sa.Column("kwh_real", sa.Float, nullable=False),
        sa.Column("kwh_filled", sa.Float, nullable=False),
        sa.Column("completeness", sa.Float, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.CheckConstraint("status IN ('complete', 'partial', 'gaps')", name="ck_daily_completeness_status"),
    )
    op.create_table(
        "raw_file_coverage",
        sa.Column("raw_file_id", BigId, sa.ForeignKey("raw_file.id"), primary_key=True),
        sa.Column("esiid", sa.String(22), primary_key=True),
        sa.Column("meter", sa.String(40), primary_key=True),
        sa.Column("channel", sa.String(16), primary_key=True),
        sa.Column("first_local_date", sa.Date, nullable=False),
        sa.Column("last_local_date", sa.Date, nullable=False),
        sa.Column("intervals", sa.Integer, nullable=False),
    )
    op.create_index("ix_raw_file_coverage_esiid", "raw_file_coverage", ["esiid", "first_local_date"])
    op.create_table(
        "inbox_entry",
        sa.Column("source", sa.String(40), primary_key=True),
        sa.Column("path", sa.Text, primary_key=True),
        sa.Column("size_bytes", sa.BigInteger, primary_key=True),
        sa.Column("mtime_ns", sa.BigInteger, primary_key=True),
        sa.Column("raw_file_id", BigId, sa.ForeignKey("raw_file.id"), nullable=False),
        sa.Column("taken_at", UTCDateTime, nullable=False),
    )


def downgrade():
    for table in ("inbox_entry", "raw_file_coverage", "daily_completeness", "usage_interval", "raw_file"):
        op.drop_table(table)
