"""Reference data (vendor-apis.md §2.5–2.7): ERCOT's extract files and the premises they list
(ercot_extract_file, service_point, with a trigram index for address search on PostgreSQL), WattBuy's
address -> ESIID answers (esiid_lookup) and offers (retail_offer), and the delivery tariffs
(tdsp_tariff_version, tdsp_tariff_component).

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

from intelliwatt_pipelines.cdm.tables import BigId, UTCDateTime

revision = "0010"
down_revision = "0009"


def upgrade():
    op.create_table(
        "ercot_extract_file",
        sa.Column("doc_id", sa.String(72), primary_key=True),
        sa.Column("constructed_name", sa.Text, nullable=False),
        sa.Column("friendly_name", sa.String(40), nullable=False),
        sa.Column("tdsp", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("publish_date", UTCDateTime, nullable=False),
        sa.Column("content_size", sa.BigInteger),
        sa.Column("raw_file_id", BigId, sa.ForeignKey("raw_file.id")),
        sa.Column("rows_read", sa.BigInteger),
        sa.Column("rows_applied", sa.BigInteger),
        sa.Column("rows_invalid", sa.BigInteger),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("listed_at", UTCDateTime, nullable=False),
        sa.Column("applied_at", UTCDateTime),
        sa.CheckConstraint("kind IN ('FUL', 'DAILY')", name="ck_ercot_extract_file_kind"),
        sa.CheckConstraint("status IN ('listed', 'stored', 'applied', 'failed', 'superseded')", name="ck_ercot_extract_file_status"),
    )
    op.create_index("ix_ercot_extract_file_tdsp", "ercot_extract_file", ["tdsp", "publish_date"])
    op.create_table(
        "service_point",
        sa.Column("esiid", sa.String(22), primary_key=True),
        sa.Column("tdsp_code", sa.String(16), nullable=False),
        sa.Column("duns", sa.String(16)),
        sa.Column("address", sa.Text, nullable=False),
        sa.Column("address_overflow", sa.Text),
        sa.Column("city", sa.Text),
        sa.Column("state", sa.String(2)),
        sa.Column("zip5", sa.String(5)),
        sa.Column("zip4", sa.String(4)),
        sa.Column("county", sa.Text),
        sa.Column("meter_read_cycle", sa.String(8)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("premise_type", sa.String(40)),
        sa.Column("power_region", sa.String(16)),
        sa.Column("station_code", sa.String(16)),
        sa.Column("station_name", sa.Text),
        sa.Column("metered", sa.Boolean),
        sa.Column("open_service_orders", sa.Text),
        sa.Column("polr_customer_class", sa.String(40)),
        sa.Column("settlement_ams_indicator", sa.String(8)),
        sa.Column("tdsp_ams_indicator", sa.String(8)),
        sa.Column("switch_hold_indicator", sa.String(8)),
        sa.Column("metered_service_type", sa.String(16)),
        sa.Column("metered_service_type_desc", sa.Text),
        sa.Column("norm_line1", sa.Text, nullable=False),
        sa.Column("source_doc_id", sa.String(72), nullable=False),
        sa.Column("publish_date", UTCDateTime, nullable=False),
        sa.Column("raw_file_id", BigId, sa.ForeignKey("raw_file.id"), nullable=False),
        sa.Column("retired_at", UTCDateTime),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_service_point_zip5", "service_point", ["zip5"])
    op.create_index("ix_service_point_tdsp", "service_point", ["tdsp_code"])
    op.create_table(
        "esiid_lookup",
        sa.Column("address_hash", sa.String(64), primary_key=True),
        sa.Column("esiid", sa.String(22), primary_key=True),
        sa.Column("tdsp_code", sa.String(16)),
        sa.Column("utility_name", sa.Text),
        sa.Column("utility_id", sa.String(16)),
        sa.Column("zip5", sa.String(5)),
        sa.Column("raw_file_id", BigId, sa.ForeignKey("raw_file.id"), nullable=False),
        sa.Column("first_seen", UTCDateTime, nullable=False),
        sa.Column("last_seen", UTCDateTime, nullable=False),
        sa.Column("conflict_note", sa.Text),
    )
    op.create_index("ix_esiid_lookup_esiid", "esiid_lookup", ["esiid"])
    op.create_table(
        "retail_offer",
        sa.Column("source", sa.String(16), primary_key=True),
        sa.Column("external_id", sa.String(80), primary_key=True),
        sa.Column("offer_name", sa.Text, nullable=False),
        sa.Column("supplier", sa.Text),
        sa.Column("puct_registration", sa.String(16)),
        sa.Column("tdsp_code", sa.String(16)),
        sa.Column("zip5", sa.String(5)),
        sa.Column("term_months", sa.SmallInteger),
        sa.Column("rate_type", sa.String(16)),
        sa.Column("is_green", sa.Boolean),
        sa.Column("green_percentage", sa.Float),
        sa.Column("kwh500_cents", sa.Float),
        sa.Column("kwh1000_cents", sa.Float),
        sa.Column("kwh2000_cents", sa.Float),
        sa.Column("efl_url", sa.Text),
        sa.Column("tos_url", sa.Text),
        sa.Column("yrac_url", sa.Text),
        sa.Column("offer_json", sa.Text, nullable=False),
        sa.Column("raw_file_id", BigId, sa.ForeignKey("raw_file.id"), nullable=False),
        sa.Column("first_seen", UTCDateTime, nullable=False),
        sa.Column("last_seen", UTCDateTime, nullable=False),
    )
    op.create_index("ix_retail_offer_tdsp_zip", "retail_offer", ["tdsp_code", "zip5"])
    op.create_table(
        "tdsp_tariff_version",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("tdsp_code", sa.String(16), nullable=False),
        sa.Column("effective_start", sa.Date, nullable=False),
        sa.Column("effective_end", sa.Date),
        sa.Column("source_url", sa.Text),
        sa.Column("source_key", sa.String(96), nullable=False, unique=True),
        sa.Column("source_kind", sa.String(20), nullable=False),
        sa.Column("notes", sa.Text),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_tdsp_tariff_version_asof", "tdsp_tariff_version", ["tdsp_code", "effective_start"])
    op.create_table(
        "tdsp_tariff_component",
        sa.Column("version_id", BigId, sa.ForeignKey("tdsp_tariff_version.id"), primary_key=True),
        sa.Column("charge_name", sa.String(60), primary_key=True),
        sa.Column("charge_type", sa.String(10), nullable=False),
        sa.Column("unit", sa.String(10), primary_key=True),
        sa.Column("rate_cents", sa.Float, nullable=False),
        sa.Column("min_kwh", sa.Integer),
        sa.Column("max_kwh", sa.Integer),
        sa.Column("raw_source_json", sa.Text),
        sa.CheckConstraint("unit IN ('PER_MONTH', 'PER_KWH')", name="ck_tdsp_tariff_component_unit"),
        sa.CheckConstraint("charge_type IN ('CUSTOMER', 'DELIVERY')", name="ck_tdsp_tariff_component_charge_type"),
    )
    # Address search (cdm.service_point_search). By house number first: LIKE '206 %' on a btree
    # (text_pattern_ops: whatever the collation); on 5 million premises the trigram index alone takes
    # 0.1-1 s, since common trigrams (those of "DR") list millions of rows. Then by trigram similarity:
    # a GIN index (pg_trgm, a trusted extension the database owner may create). On SQLite both are
    # plain indexes (it searches by tokens).
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_index("ix_service_point_norm_line1_prefix", "service_point", ["norm_line1"],
                    postgresql_ops={"norm_line1": "text_pattern_ops"})
    op.create_index("ix_service_point_norm_line1_trgm", "service_point", ["norm_line1"], postgresql_using="gin",
                    postgresql_ops={"norm_line1": "gin_trgm_ops"})


def downgrade():
    for table in ("tdsp_tariff_component", "tdsp_tariff_version", "retail_offer", "esiid_lookup", "service_point",
                  "ercot_extract_file"):
        op.drop_table(table)
