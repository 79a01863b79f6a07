"""Plausibility bounds and identifier patterns shared by every layer.

The parsers, the pandera schema, the settings (as defaults) and the README all read these, so a
bound is stated once. Pure constants: importing this module pulls in nothing else of the package.
"""

from __future__ import annotations

import re

# SMT reports local days in US Central time; days, partitions and reading windows follow it.
CENTRAL_TZ = "America/Chicago"

# One interval's energy at or above this is a typo, not a reading (a large home draws < 100 kWh/15 min).
MAX_INTERVAL_KWH = 1_000.0

# Interval lengths (minutes) a parser accepts and the warehouse stores.
INTERVAL_LENGTHS = (5, 15, 30, 60)

# Meter ids and other free-text identifiers: what the API's filters accept is what ingest stores.
METER_PATTERN = r"[A-Za-z0-9._\-]{1,40}"
METER_RE = re.compile(rf"^{METER_PATTERN}$")

# Reading dates: none before the floor (no Texas smart meter delivered data before it), none later
# than now plus a day (a vendor clock a little ahead), and no series spanning more than this per file
# (SMT exports reach 24 months; a longer span is a broken file, not history).
READING_FLOOR = "2005-01-01"
READING_FUTURE_DAYS = 1
MAX_SPAN_DAYS = 800
