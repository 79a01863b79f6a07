"""Keep personal identifiers out of logs: ESIIDs are shown only as a short salted hash."""

from __future__ import annotations

import hashlib
import os


def mask(value: str) -> str:
    """A stable, non-reversible token for an ESIID (or any identifier) in logs and metadata."""
    salt = os.environ.get("INTELLIWATT_LOG_SALT", "intelliwatt")
    digest = hashlib.sha256(f"{salt}:{value}".encode()).hexdigest()[:10]
    return f"esiid#{digest}"
