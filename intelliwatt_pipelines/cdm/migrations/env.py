"""Alembic environment: the connection is handed in by ``warehouse.migrate``."""

from alembic import context

from intelliwatt_pipelines.cdm.tables import metadata

connection = context.config.attributes["connection"]
# Our own version table: Dagster's PostgreSQL storage keeps its own "alembic_version" and may share
# the database.
VERSION_TABLE = "intelliwatt_schema_version"
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True,
                  version_table=VERSION_TABLE)
with context.begin_transaction():
    context.run_migrations()
