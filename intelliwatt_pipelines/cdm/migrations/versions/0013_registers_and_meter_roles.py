"""1PWR markets (vendor-apis.md §3): register_read (cumulative kWh registers as read) and meter_role
(primary, check and backup meters of an account).

Revision ID: 0013
Revises: 0012
"""
import sqlalchemy as sa
from alembic import op

from intelliwatt_pipelines.cdm.tables import BigId, UTCDateTime

revision = "0013"
down_revision = "0012"


def upgrade():
    op.create_table(
        "register_read",
        sa.Column("esiid", sa.String(22), primary_key=True),
        sa.Column("meter", sa.String(40), primary_key=True),
        sa.Column("ts_utc", UTCDateTime, primary_key=True),
        sa.Column("register_kwh", sa.Float, nullable=False),
        sa.Column("source", sa.String(40), nullable=False),
        sa.Column("raw_file_id", BigId, sa.ForeignKey("raw_file.id"), nullable=False),
    )
    op.create_table(
        "meter_role",
        sa.Column("esiid", sa.String(22), primary_key=True),
        sa.Column("meter", sa.String(40), primary_key=True),
        sa.Column("role", sa.String(10), nullable=False),
        sa.Column("raw_file_id", BigId, sa.ForeignKey("raw_file.id"), nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.CheckConstraint("role IN ('primary', 'check', 'backup')", name="ck_meter_role_role"),
    )
    op.create_index("ix_meter_role_meter", "meter_role", ["meter"])


def downgrade():
    op.drop_index("ix_meter_role_meter", table_name="meter_role")
    op.drop_table("meter_role")
    op.drop_table("register_read")
