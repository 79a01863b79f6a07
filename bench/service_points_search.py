"""Address search latency for bench/service_points.py: misspelled queries built from loaded premises, sent to a
real API server over loopback (keep-alive httpx client, one request at a time)."""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

import httpx
import psycopg

from bench.api_bench import API_KEY, api_env
from bench.common import ApiServer, latency_summary, proc_status_kib

ROUTE = "/api/v1/service-points/search"
SPELLED_OUT = {"DR": "Drive", "ST": "Street", "LN": "Lane", "CT": "Court", "RD": "Road", "AVE": "Avenue",
               "BLVD": "Boulevard", "CIR": "Circle", "TRL": "Trail", "N": "North", "S": "South"}


def sample_premises(url: str, n: int, seed: int) -> list[tuple[str, str, str]]:
    """``n`` (esiid, address, zip5) drawn across the whole table (TABLESAMPLE, repeatable by seed)."""
    with psycopg.connect(url) as conn:
        total = conn.execute("SELECT reltuples FROM pg_class WHERE relname = 'service_point'").fetchone()[0]
        share = min(100.0, 100.0 * n * 3 / max(total, 1))
        rows = conn.execute(f"SELECT esiid, address, zip5 FROM service_point TABLESAMPLE SYSTEM ({share}) "
                            f"REPEATABLE ({seed}) WHERE address ~ '^[0-9]+ ' LIMIT {n * 3}").fetchall()
    random.Random(seed).shuffle(rows)
    return rows[:n]


def misspell(address: str, rnd: random.Random) -> str:
    """How people type an address they know: the house number right, one street word with a letter dropped,
    doubled, swapped or replaced, maybe the suffix spelled out, in any case."""
    number, *words = address.split()
    candidates = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    if candidates:
        i = rnd.choice(candidates)
        w, at = words[i], rnd.randrange(1, len(words[i]) - 1)
        words[i] = rnd.choice((w[:at] + w[at + 1:], w[:at] + w[at] + w[at:],
                               w[:at] + w[at + 1] + w[at] + w[at + 2:],
                               w[:at] + rnd.choice("AEIOURSTN") + w[at + 1:]))
    if words and rnd.random() < 0.3:
        words[-1] = SPELLED_OUT.get(words[-1], words[-1])
    text = " ".join([number, *words])
    return rnd.choice((text.lower(), text.title(), text))


def queries(premises, seed: int) -> list[dict]:
    """One query per premise; every other one with the premise's ZIP."""
    rnd = random.Random(seed)
    return [{"esiid": esiid, "params": {"q": misspell(address, rnd), **({"zip": z} if i % 2 and z else {})}}
            for i, (esiid, address, z) in enumerate(premises)]


def run_queries(client: httpx.Client, jobs: list[dict]) -> dict:
    """Send each query; latency from request to last body byte; where the premise ranked."""
    latencies, errors, first, top10 = {"zip": [], "no_zip": []}, 0, 0, 0
    for job in jobs:
        started = time.perf_counter()
        response = client.get(ROUTE, params=job["params"])
        ms = (time.perf_counter() - started) * 1000
        latencies["zip" if "zip" in job["params"] else "no_zip"].append(ms)
        if response.status_code != 200:
            errors += 1
            continue
        ranked = [r["esiid"] for r in response.json()["results"]]
        first += bool(ranked) and ranked[0] == job["esiid"]
        top10 += job["esiid"] in ranked
    everything = latencies["zip"] + latencies["no_zip"]
    return {"requests": len(jobs), "errors": errors, "all": latency_summary(everything),
            "with_zip": latency_summary(latencies["zip"]), "without_zip": latency_summary(latencies["no_zip"]),
            "premise_first_pct": round(100 * first / len(jobs), 1),
            "premise_in_results_pct": round(100 * top10 / len(jobs), 1)}


def measure_search(url: str, n: int, warmup: int, seed: int = 11) -> dict:
    """Start the API on the warehouse ``url``, warm it up, then measure ``n`` misspelled queries."""
    premises = sample_premises(url, n + warmup, seed)
    jobs = queries(premises, seed)
    with tempfile.TemporaryDirectory(prefix="intelliwatt-bench-search-") as tmp:
        with ApiServer(api_env(url, tmp), Path(tmp) / "api.log") as server:
            with httpx.Client(base_url=server.base_url, headers={"x-api-key": API_KEY}, timeout=30) as client:
                run_queries(client, jobs[:warmup])
                result = run_queries(client, jobs[warmup:])
            result["api_peak_rss_mib"] = round(proc_status_kib(server.proc.pid, "VmHWM") / 1024, 1)
    result["warmup"] = warmup
    return result
