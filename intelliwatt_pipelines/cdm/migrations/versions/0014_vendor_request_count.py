"""vendor_request_count: requests per vendor organization and UTC day, so Koios' daily budget (30,000 per
organization) holds over every run of the day, not only within one.

Revision ID: 0014
Revises: 0013
"""
import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"


def upgrade():
    op.create_table(
        "vendor_request_count",
        sa.Column("vendor", sa.String(16), primary_key=True),
        sa.Column("organization", sa.String(64), primary_key=True),
        sa.Column("utc_day", sa.Date, primary_key=True),
        sa.Column("requests", sa.Integer, nullable=False),
    )


def downgrade():
    op.drop_table("vendor_request_count")
