"""What drives a plan's cost: its components by size and the months that cost most, as data and one
sentence, so a person can see why two plans differ without reading twelve bills."""

from __future__ import annotations

COMPONENT_NAMES = {"rep_energy": "REP energy", "rep_fixed": "REP fixed charges", "tdsp_delivery": "TDU delivery",
                   "tdsp_fixed": "TDU fixed charges", "credits": "bill credits",
                   "minimum_usage_fee": "minimum usage fees", "minimum_bill_top_up": "minimum-bill top-ups"}
TOP_MONTHS = 3


def explain(monthly: list[dict], annual_dollars: float) -> dict:
    """{"components": [...], "top_months": [...], "summary": str} from the monthly breakdown (dollars)."""
    totals = {name: round(sum(m[name] for m in monthly), 2) for name in COMPONENT_NAMES}
    base = annual_dollars or 1.0
    components = sorted(({"component": name, "dollars": value, "share": round(value / base, 4)}
                         for name, value in totals.items() if value), key=lambda c: -abs(c["dollars"]))
    months = sorted(monthly, key=lambda m: -m["total"])[:TOP_MONTHS]
    top = [{"year_month": m["year_month"], "total": m["total"], "kwh": round(m["kwh"], 3),
            "share": round(m["total"] / base, 4)} for m in months]
    parts = ", ".join(f"{COMPONENT_NAMES[c['component']]} {c['share']:.0%}" for c in components[:3])
    summary = f"{parts}; costliest months {', '.join(m['year_month'] for m in top)} " \
              f"({sum(m['share'] for m in top):.0%} of the year)" if top else parts
    return {"components": components, "top_months": top, "summary": summary}
