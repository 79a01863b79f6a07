"""ESI IDs: 17 digits (Oncor and others) or 22 digits (CenterPoint). ASCII digits only."""

import re

ESIID_RE = re.compile(r"^(?:[0-9]{17}|[0-9]{22})$")
ESIID_IN_TEXT = re.compile(r"(?<![0-9])([0-9]{22}|[0-9]{17})(?![0-9])")
