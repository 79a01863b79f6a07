"""The canonical data model: tables, schemas, migrations and revision-aware writes."""
