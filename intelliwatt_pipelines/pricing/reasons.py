"""The engine's failure reasons (vendor-apis.md §2.8 d). A reason starts with its code; a detail may follow."""

from __future__ import annotations

MISSING_USAGE_BUCKETS = "MISSING_USAGE_BUCKETS"
USAGE_BUCKET_SUM_MISMATCH = "USAGE_BUCKET_SUM_MISMATCH"
UNSUPPORTED_COMBINED_STRUCTURES = "UNSUPPORTED_COMBINED_STRUCTURES"
UNSUPPORTED_CREDIT_COMBINATION = "UNSUPPORTED_CREDIT_COMBINATION"
UNSUPPORTED_CREDIT_DIMENSION = "UNSUPPORTED_CREDIT_DIMENSION"
NON_DETERMINISTIC_PRICING_INDEXED = "NON_DETERMINISTIC_PRICING_INDEXED"
MISSING_ENERGY_RATE = "MISSING_ENERGY_RATE"
AMBIGUOUS_ENERGY_RATE = "AMBIGUOUS_ENERGY_RATE"
AMBIGUOUS_BASE_CHARGE = "AMBIGUOUS_BASE_CHARGE"
INVALID_USAGE_TIERS = "INVALID_USAGE_TIERS"
MISSING_TOU_PERIODS = "MISSING_TOU_PERIODS"
TOU_PERIODS_DO_NOT_TILE_DAY = "TOU_PERIODS_DO_NOT_TILE_DAY"
TOU_DAYS_NOT_IN_BUCKETS = "TOU_DAYS_NOT_IN_BUCKETS"
MISSING_TDSP_TARIFF = "MISSING_TDSP_TARIFF"
MAX_CENTS_PER_KWH = 200.0  # a per-kWh price above this is a parse error, not a price


class Unpriceable(ValueError):
    """The engine cannot price this structure or usage; ``reason`` starts with a code above. ``status`` is
    NOT_COMPUTABLE, or NOT_IMPLEMENTED for a structure that is valid but that this path does not price."""

    def __init__(self, reason: str, status: str = "NOT_COMPUTABLE"):
        super().__init__(reason)
        self.reason = reason
        self.status = status
