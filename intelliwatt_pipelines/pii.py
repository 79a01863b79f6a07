"""Keep personal identifiers out of logs: ESIIDs are shown only as a short salted hash."""

from __future__ import annotations

import hashlib
import os

from intelliwatt_pipelines.esiid import ESIID_IN_TEXT


def mask(value: str) -> str:
    """A stable, non-reversible token for an ESIID (or any identifier) in logs and metadata."""
    salt = os.environ.get("INTELLIWATT_LOG_SALT", "intelliwatt")
    digest = hashlib.sha256(f"{salt}:{value}".encode()).hexdigest()[:10]
    return f"esiid#{digest}"



def redact(text: str) -> str:
    """Replace any ESIID-looking digit run (17 or 22 digits) in free text, e.g. a file name."""
    return ESIID_IN_TEXT.sub(lambda m: mask(m.group(1)), text)
