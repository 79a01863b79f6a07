"""smt_api_call: one audit row per SMT API call (endpoint, trans_id, status, redacted request, the raw
file holding the answer, the run that made it), so lineage reads API call -> raw file -> rows.

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

from intelliwatt_pipelines.cdm.tables import BigId, UTCDateTime

revision = "0008"
down_revision = "0007"


def upgrade():
    op.create_table(
        "smt_api_call",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("called_at", UTCDateTime, nullable=False),
        sa.Column("endpoint", sa.String(100), nullable=False),
        sa.Column("trans_id", sa.String(32)),
        sa.Column("http_status", sa.Integer),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("request_redacted", sa.Text, nullable=False),
        sa.Column("raw_file_id", BigId, sa.ForeignKey("raw_file.id")),
        sa.Column("correlation_id", sa.String(64)),
        sa.Column("esiid", sa.String(22)),
        sa.Column("error", sa.Text),
        sa.Index("ix_smt_api_call_esiid", "esiid", "called_at"),
        sa.Index("ix_smt_api_call_correlation", "correlation_id"),
    )


def downgrade():
    op.drop_table("smt_api_call")
