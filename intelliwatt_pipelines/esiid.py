"""ESI IDs: 17 digits (Oncor and others) or 22 digits (CenterPoint). ASCII digits only."""

import re

ESIID_RE = re.compile(r"^(?:[0-9]{17}|[0-9]{22})$")
ESIID_IN_TEXT = re.compile(r"(?<![0-9])([0-9]{22}|[0-9]{17})(?![0-9])")


def esiid_from_filename(filename: str) -> str | None:
    """The ESIID a file name carries (a 17- or 22-digit run not inside a longer one), or None."""
    match = ESIID_IN_TEXT.search(filename)
    return match.group(1) if match else None
