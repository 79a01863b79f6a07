"""The estimate inputs hash (vendor-apis.md §2.8 e, the replaced system's ``estimateInputsKey.ts``).

Everything the engine reads goes in: months, annual kWh to 6 dp, the TDU charges and their date, the rate
structure's own hash, the buckets (``usage_sha``) and the mode. Equal hashes mean an equal result, so a
stored estimate is reused and never updated in place.
"""

from __future__ import annotations

import functools
import hashlib
import json

from intelliwatt_pipelines.pricing.engine import ENGINE_VERSION, EngineInputs

VERSION = "estimate_v1"


def usage_sha(buckets: dict[str, dict[str, float]]) -> str:
    """``ym:<months>|keys:<sorted keys>|vals:`` then ``<ym>{key=value(6 dp);…}`` per month, hashed."""
    months = sorted(buckets)
    keys = sorted({k for m in buckets.values() for k in m})
    text = f"ym:{','.join(months)}|keys:{','.join(keys)}|vals:"
    for ym in months:
        text += ym + "{" + "".join(f"{k}={buckets[ym][k]:.6f};" for k in keys if k in buckets[ym]) + "}"
    return hashlib.sha256(text.encode()).hexdigest()


def inputs_sha256(inputs: EngineInputs, *, context: dict | None = None, usage: str | None = None) -> str:
    """The hash of everything an estimate is computed from. Beyond the replaced system's fields: the engine's
    version (a rule change is a new estimate) and ``context``, what the caller decides with besides the
    engine (the plan's classification, the home's utility). ``usage`` is ``usage_sha`` of the buckets when
    the caller has it already."""
    tdsp = inputs.tdsp
    payload = {"v": VERSION, "engine": ENGINE_VERSION, "context": context,
               "months_count": inputs.months, "annual_kwh": f"{inputs.total_kwh:.6f}",
               "tdsp": None if tdsp is None else {"per": tdsp.per_kwh_cents, "monthly": tdsp.monthly_cents,
                                                  "effective_date": tdsp.effective_date},
               "rs_sha": _structure_sha(inputs.rate_structure), "usage_sha": usage or usage_sha(inputs.usage_buckets_by_month),
               "estimate_mode": inputs.estimate_mode}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@functools.lru_cache(maxsize=8192)
def _structure_sha(rs) -> str | None:
    """A structure's hash, once per process (dumping the model per (home, plan) would dominate a run)."""
    return rs.sha256() if rs is not None else None
