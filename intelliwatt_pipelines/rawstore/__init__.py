"""Content-addressed store for vendor payloads' exact bytes."""

from intelliwatt_pipelines.rawstore.local import LocalRawStore, open_raw_store, sha256_file

__all__ = ["LocalRawStore", "open_raw_store", "sha256_file"]
