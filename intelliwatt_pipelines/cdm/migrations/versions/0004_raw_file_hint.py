"""Sidecar hints (ESIID, meter) recorded for inbox files that name none.

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

from intelliwatt_pipelines.cdm.tables import BigId, UTCDateTime

revision = "0004"
down_revision = "0003"


def upgrade():
    op.create_table(
        "raw_file_hint",
        sa.Column("raw_file_id", BigId, sa.ForeignKey("raw_file.id"), primary_key=True),
        sa.Column("esiid", sa.String(22)),
        sa.Column("meter", sa.String(40)),
        sa.Column("usage_points", sa.Text),
        sa.Column("origin", sa.Text, nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
    )


def downgrade():
    op.drop_table("raw_file_hint")
