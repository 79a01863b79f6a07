"""The versioned read API (v1) over the canonical tables, and the upload relay."""

from intelliwatt_pipelines.api.app import create_app

__all__ = ["create_app"]
