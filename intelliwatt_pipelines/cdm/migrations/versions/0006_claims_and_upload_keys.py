"""Inbox claims (one taker per inbox entry) and upload limits keyed on what is authenticated.

inbox_claim: a process inserts a row before taking an entry; a second process finding the row
skips the entry. upload.key_hash: the API key an upload came with (hashed); upload_esiid: the
ESIIDs an upload concerns, so the per-ESIID limit can count them.

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

from intelliwatt_pipelines.cdm.tables import BigId, UTCDateTime

revision = "0006"
down_revision = "0005"


def upgrade():
    op.create_table(
        "inbox_claim",
        sa.Column("source", sa.String(40), primary_key=True),
        sa.Column("path", sa.Text, primary_key=True),
        sa.Column("size_bytes", sa.BigInteger, primary_key=True),
        sa.Column("mtime_ns", sa.BigInteger, primary_key=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("claimed_at", UTCDateTime, nullable=False),
    )
    with op.batch_alter_table("upload") as batch:
        batch.add_column(sa.Column("key_hash", sa.String(64)))
        batch.create_index("ix_upload_key", ["key_hash", "received_at"])
    op.create_table(
        "upload_esiid",
        sa.Column("upload_id", BigId, sa.ForeignKey("upload.id"), primary_key=True),
        sa.Column("esiid", sa.String(22), primary_key=True),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Index("ix_upload_esiid_esiid", "esiid", "received_at"),
    )


def downgrade():
    op.drop_table("upload_esiid")
    with op.batch_alter_table("upload") as batch:
        batch.drop_index("ix_upload_key")
        batch.drop_column("key_hash")
    op.drop_table("inbox_claim")
