"""SMT lifecycle (vendor-apis.md §2.2–2.4): agreements and subscriptions (smt_authorization), historical
interval requests (smt_backfill_request), meters (smt_meter_info) and the gap sweep's day record
(interval_day_ledger); smt_api_call gains run_id, so correlation_id holds SMT's own correlationId.

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

from intelliwatt_pipelines.cdm.tables import BigId, UTCDateTime

revision = "0009"
down_revision = "0008"


def upgrade():
    with op.batch_alter_table("smt_api_call") as batch:
        batch.add_column(sa.Column("run_id", sa.String(64)))
    # Until now correlation_id held the run id; it moves to run_id.
    op.execute("UPDATE smt_api_call SET run_id = correlation_id, correlation_id = NULL")
    op.create_index("ix_smt_api_call_run", "smt_api_call", ["run_id"])
    op.create_table(
        "smt_authorization",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("esiid", sa.String(22), nullable=False),
        sa.Column("meter_number", sa.String(40)),
        sa.Column("tdsp_code", sa.String(16)),
        sa.Column("rep_puct_number", sa.Integer),
        sa.Column("authorization_start", sa.Date),
        sa.Column("authorization_end", sa.Date),
        sa.Column("months_back", sa.SmallInteger, nullable=False),
        sa.Column("account_class", sa.String(3), nullable=False),
        sa.Column("consent_text_version", sa.String(40)),
        sa.Column("consent_at", UTCDateTime),
        sa.Column("consent_ip_hash", sa.String(64)),
        sa.Column("contact_email_enc", sa.Text),
        sa.Column("smt_agreement_number", sa.BigInteger, unique=True),
        sa.Column("smt_subscription_number", sa.String(40)),
        sa.Column("smt_subscription_status", sa.String(16)),
        sa.Column("smt_status", sa.String(16), nullable=False),
        sa.Column("smt_status_message", sa.Text),
        sa.Column("last_sync_at", UTCDateTime),
        sa.Column("archived_at", UTCDateTime),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.CheckConstraint("account_class IN ('res', 'com')", name="ck_smt_authorization_account_class"),
        sa.CheckConstraint("smt_status IN ('PENDING', 'ACTIVE', 'DECLINED', 'EXPIRED', 'ERROR')", name="ck_smt_authorization_smt_status"),
    )
    op.create_index("ix_smt_authorization_esiid", "smt_authorization", ["esiid", "smt_status"])
    op.create_table(
        "smt_backfill_request",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("esiid", sa.String(22), nullable=False),
        sa.Column("authorization_id", BigId, sa.ForeignKey("smt_authorization.id")),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("requested_start", sa.Date, nullable=False),
        sa.Column("requested_end", sa.Date, nullable=False),
        sa.Column("correlation_id", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("delivered_raw_file_ids", sa.Text),
        sa.Column("last_report_status_json", sa.Text),
        sa.Column("last_polled_at", UTCDateTime),
        sa.Column("error", sa.Text),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.CheckConstraint("status IN ('requested', 'accepted', 'delivered', 'failed', 'expired')", name="ck_smt_backfill_request_status"),
        sa.CheckConstraint("reason IN ('enrollment', 'gap')", name="ck_smt_backfill_request_reason"),
        sa.UniqueConstraint("esiid", "requested_start", "requested_end", name="uq_smt_backfill_request_window"),
    )
    op.create_index("ix_smt_backfill_request_status", "smt_backfill_request", ["status", "esiid"])
    op.create_table(
        "smt_meter_info",
        sa.Column("esiid", sa.String(22), primary_key=True),
        sa.Column("meter_number", sa.String(40), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("kwh_meter_multiplier", sa.Float),
        sa.Column("utility_meter_id", sa.Text),
        sa.Column("meter_serial_number", sa.Text),
        sa.Column("configured_channels", sa.Text),
        sa.Column("manufacturer_name", sa.Text),
        sa.Column("meter_class", sa.Text),
        sa.Column("interval_setting", sa.Text),
        sa.Column("reverse_flow_handling", sa.Text),
        sa.Column("dg_channel", sa.Text),
        sa.Column("disconnect", sa.Text),
        sa.Column("meter_status", sa.Text),
        sa.Column("meter_phases", sa.Text),
        sa.Column("meter_model", sa.Text),
        sa.Column("test_date", sa.Text),
        sa.Column("installation_date", sa.Text),
        sa.Column("initial_provision_date", sa.Text),
        sa.Column("last_updated", sa.Text),
        sa.Column("communication_indicator", sa.Text),
        sa.Column("instrument_rated", sa.Text),
        sa.Column("current_transformers_ratio", sa.Text),
        sa.Column("potential_transformers_ratio", sa.Text),
        sa.Column("esi_firmware_version", sa.Text),
        sa.Column("han_protocol", sa.Text),
        sa.Column("smart_energy_profile", sa.Text),
        sa.Column("error", sa.Text),
        sa.Column("raw_file_id", BigId, sa.ForeignKey("raw_file.id"), nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.CheckConstraint("status IN ('ok', 'api_not_enabled', 'failed')", name="ck_smt_meter_info_status"),
    )
    op.create_table(
        "interval_day_ledger",
        sa.Column("esiid", sa.String(22), primary_key=True),
        sa.Column("local_date", sa.Date, primary_key=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("repair_requested_at", UTCDateTime),
        sa.Column("repair_request_id", BigId, sa.ForeignKey("smt_backfill_request.id")),
        sa.Column("intervals_at_last_check", sa.Integer, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.CheckConstraint("status IN ('COMPLETE', 'PENDING_SMT', 'REPAIR_REQUESTED', 'INCOMPLETE_METER')", name="ck_interval_day_ledger_status"),
    )
    op.create_index("ix_interval_day_ledger_status", "interval_day_ledger", ["status", "local_date"])


def downgrade():
    op.drop_table("interval_day_ledger")
    op.drop_table("smt_meter_info")
    op.drop_table("smt_backfill_request")
    op.drop_table("smt_authorization")
    op.drop_index("ix_smt_api_call_run", "smt_api_call")
    op.execute("UPDATE smt_api_call SET correlation_id = run_id")
    with op.batch_alter_table("smt_api_call") as batch:
        batch.drop_column("run_id")
