"""Vendor API clients: what is sent to a vendor and what comes back, with no Dagster and no database.

The Dagster resources in ``defs`` build these clients; storing responses is the caller's job. Vendors
import only the leaf modules (config, pii, esiid, bounds): see pyproject's import-linter contracts.
"""
