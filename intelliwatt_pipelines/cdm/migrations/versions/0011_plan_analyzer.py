"""Plan analyzer (vendor-apis.md §2.8): monthly usage buckets per home (usage_bucket, usage_bucket_home),
plans in the engine's model (rate_plan), and estimates, immutable by inputs hash (plan_estimate) with the
pointer to each home's current one per plan (plan_estimate_current).

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

from intelliwatt_pipelines.cdm.tables import BigId, UTCDateTime

revision = "0011"
down_revision = "0010"


def upgrade():
    op.create_table(
        "usage_bucket",
        sa.Column("esiid", sa.String(22), primary_key=True),
        sa.Column("year_month", sa.String(7), primary_key=True),
        sa.Column("bucket_key", sa.String(64), primary_key=True),
        sa.Column("kwh", sa.Float, nullable=False),
        sa.Column("intervals", sa.Integer, nullable=False),
        sa.Column("complete_days", sa.SmallInteger, nullable=False),
        sa.Column("expected_days", sa.SmallInteger, nullable=False),
        sa.Column("computed_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "usage_bucket_home",
        sa.Column("esiid", sa.String(22), primary_key=True),
        sa.Column("keys_sha256", sa.String(64), nullable=False),
        sa.Column("through_normalized_at", UTCDateTime),
        sa.Column("months", sa.SmallInteger, nullable=False),
        sa.Column("usable_months", sa.SmallInteger, nullable=False),
        sa.Column("computed_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "rate_plan",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("external_id", sa.String(120), nullable=False),
        sa.Column("supplier", sa.Text),
        sa.Column("supplier_puct", sa.String(16)),
        sa.Column("plan_name", sa.Text, nullable=False),
        sa.Column("term_months", sa.SmallInteger),
        sa.Column("tdsp_code", sa.String(16)),
        sa.Column("rate_type", sa.String(16), nullable=False),
        sa.Column("rate_structure", sa.Text, nullable=True),
        sa.Column("rate_structure_sha256", sa.String(64), nullable=True),
        sa.Column("avg_500", sa.Float),
        sa.Column("avg_1000", sa.Float),
        sa.Column("avg_2000", sa.Float),
        sa.Column("efl_url", sa.Text),
        sa.Column("efl_sha256", sa.String(64), unique=True),
        sa.Column("plan_calc_status", sa.String(16), nullable=False),
        sa.Column("plan_calc_reason", sa.Text),
        sa.Column("required_bucket_keys", sa.Text, nullable=False),
        sa.Column("raw_file_id", BigId, sa.ForeignKey("raw_file.id")),
        sa.Column("valid_from", UTCDateTime, nullable=False),
        sa.Column("valid_to", UTCDateTime),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.CheckConstraint("plan_calc_status IN ('COMPUTABLE', 'NOT_COMPUTABLE', 'UNKNOWN')", name="ck_rate_plan_plan_calc_status"),
        sa.CheckConstraint("source IN ('curated', 'efl', 'wattbuy')", name="ck_rate_plan_source"),
        sa.UniqueConstraint("source", "external_id", name="uq_rate_plan_source_external_id"),
    )
    op.create_index("ix_rate_plan_tdsp", "rate_plan", ["tdsp_code"])
    op.create_table(
        "plan_estimate",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("esiid", sa.String(22), nullable=False),
        sa.Column("rate_plan_id", sa.BigInteger, sa.ForeignKey("rate_plan.id"), nullable=False),
        sa.Column("inputs_sha256", sa.String(64), nullable=False),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("estimate_mode", sa.String(32), nullable=False),
        sa.Column("usage_months", sa.Text, nullable=False),
        sa.Column("annual_kwh", sa.Float, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("annual_cost_dollars", sa.Float),
        sa.Column("monthly_cost_dollars", sa.Float),
        sa.Column("effective_cents_per_kwh", sa.Float),
        sa.Column("confidence", sa.String(8)),
        sa.Column("components_v2", sa.Text),
        sa.Column("tdsp_applied", sa.Text),
        sa.Column("monthly_breakdown", sa.Text),
        sa.Column("drivers", sa.Text),
        sa.Column("notes", sa.Text),
        sa.Column("computed_at", UTCDateTime, nullable=False),
        sa.CheckConstraint("status IN ('OK', 'APPROXIMATE', 'NOT_COMPUTABLE', 'NOT_IMPLEMENTED')", name="ck_plan_estimate_status"),
        sa.UniqueConstraint("esiid", "rate_plan_id", "inputs_sha256", name="uq_plan_estimate_inputs"),
    )
    op.create_table(
        "plan_estimate_current",
        sa.Column("esiid", sa.String(22), primary_key=True),
        sa.Column("rate_plan_id", sa.BigInteger, sa.ForeignKey("rate_plan.id"), primary_key=True),
        sa.Column("estimate_id", sa.BigInteger, sa.ForeignKey("plan_estimate.id"), nullable=False),
        sa.Column("selected_at", UTCDateTime, nullable=False),
    )


def downgrade():
    for table in ("plan_estimate_current", "plan_estimate", "rate_plan", "usage_bucket_home", "usage_bucket"):
        op.drop_table(table)
