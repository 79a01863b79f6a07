"""usage_interval.raw_file_id without a foreign key.

PostgreSQL checks a foreign key with one lookup per inserted row: loading a home-year (35,040
rows) took 2.3x as long with it as without. Every interval is written by the normalizer from the
raw_file row it is normalizing, and raw_file rows are never deleted, so the reference holds by
construction; the column stays NOT NULL and indexed by nothing but the primary key.

Revision ID: 0005
Revises: 0004
"""
from alembic import op

revision = "0005"
down_revision = "0004"

# SQLite's foreign keys are unnamed: name them on reflection so batch mode can drop this one.
NAMING = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("usage_interval_raw_file_id_fkey", "usage_interval", type_="foreignkey")
        return
    with op.batch_alter_table("usage_interval", naming_convention=NAMING) as batch:
        batch.drop_constraint("fk_usage_interval_raw_file_id_raw_file", type_="foreignkey")


def downgrade():
    with op.batch_alter_table("usage_interval") as batch:
        batch.create_foreign_key("usage_interval_raw_file_id_fkey", "raw_file", ["raw_file_id"], ["id"])
