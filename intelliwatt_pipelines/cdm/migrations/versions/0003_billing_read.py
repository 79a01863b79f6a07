"""Billing reads (SMT daily and monthly meter reads), their raw-file coverage, and reconciliation.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

from intelliwatt_pipelines.cdm.tables import BigId, UTCDateTime

revision = "0003"
down_revision = "0002"


def _period_key():
    return [
        sa.Column("esiid", sa.String(22), primary_key=True),
        sa.Column("meter", sa.String(40), primary_key=True),
        sa.Column("channel", sa.String(16), primary_key=True),
        sa.Column("read_start", UTCDateTime, primary_key=True),
        sa.Column("read_end", UTCDateTime, primary_key=True),
        sa.Column("source", sa.String(40), primary_key=True),
    ]


def upgrade():
    op.create_table(
        "billing_read", *_period_key(),
        sa.Column("bill_date", sa.Date),
        sa.Column("kwh_total", sa.Float, nullable=False),
        sa.Column("kwh_billed", sa.Float),
        sa.Column("start_reading", sa.Float),
        sa.Column("end_reading", sa.Float),
        sa.Column("tdsp_code", sa.String(40)),
        sa.Column("tdsp_name", sa.String(120)),
        sa.Column("quality", sa.String(10), nullable=False),
        sa.Column("revised_at", UTCDateTime),
        sa.Column("raw_file_id", BigId, sa.ForeignKey("raw_file.id"), nullable=False),
        sa.CheckConstraint("channel IN ('consumption', 'generation')", name="ck_billing_read_channel"),
        sa.CheckConstraint("quality IN ('actual', 'estimated')", name="ck_billing_read_quality"),
        sa.CheckConstraint("read_end > read_start", name="ck_billing_read_period"),
    )
    op.create_index("ix_billing_read_esiid_end", "billing_read", ["esiid", "read_end"])
    op.create_table(
        "billing_read_coverage",
        sa.Column("raw_file_id", BigId, sa.ForeignKey("raw_file.id"), primary_key=True),
        sa.Column("esiid", sa.String(22), primary_key=True),
        sa.Column("first_local_date", sa.Date, nullable=False),
        sa.Column("last_local_date", sa.Date, nullable=False),
        sa.Column("reads", sa.Integer, nullable=False),
    )
    op.create_index("ix_billing_read_coverage_esiid", "billing_read_coverage", ["esiid", "first_local_date"])
    op.create_table(
        "billing_reconciliation", *_period_key(),
        sa.Column("local_date", sa.Date, nullable=False),
        sa.Column("billing_kwh", sa.Float, nullable=False),
        sa.Column("interval_kwh", sa.Float, nullable=False),
        sa.Column("difference_kwh", sa.Float, nullable=False),
        sa.Column("tolerance_kwh", sa.Float, nullable=False),
        sa.Column("interval_meters", sa.Text, nullable=False),
        sa.Column("intervals_found", sa.Integer, nullable=False),
        sa.Column("minutes_covered", sa.Integer, nullable=False),
        sa.Column("minutes_expected", sa.Integer, nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("checked_at", UTCDateTime, nullable=False),
        sa.CheckConstraint("status IN ('match', 'mismatch', 'insufficient_intervals')",
                           name="ck_billing_reconciliation_status"),
    )
    op.create_index("ix_billing_reconciliation_esiid_date", "billing_reconciliation", ["esiid", "local_date"])


def downgrade():
    op.drop_table("billing_reconciliation")
    op.drop_table("billing_read_coverage")
    op.drop_table("billing_read")
