"""Uploads through the API; also the durable log the upload rate limits count.

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

from intelliwatt_pipelines.cdm.tables import BigId, UTCDateTime

revision = "0002"
down_revision = "0001"


def upgrade():
    op.create_table(
        "upload",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("raw_file_id", BigId, sa.ForeignKey("raw_file.id"), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("account_hash", sa.String(64), nullable=False),
        sa.Column("esiid", sa.String(22)),
        sa.Column("meter", sa.String(40)),
        sa.Column("filename", sa.Text, nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("via", sa.String(16), nullable=False),
        sa.Column("binds_hints", sa.Boolean, nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("correlation_id", sa.String(64)),
        sa.CheckConstraint("role IN ('admin', 'customer')", name="ck_upload_role"),
    )
    op.create_index("ix_upload_account", "upload", ["role", "account_hash", "received_at"])
    op.create_index("ix_upload_raw_file", "upload", ["raw_file_id"])


def downgrade():
    op.drop_table("upload")
