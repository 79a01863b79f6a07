"""The clients of the API latency benchmark: keep-alive httpx threads timing each request to its last
byte (beside the time the API logs for it), and wrk, a C load generator, on the same queries."""

from __future__ import annotations

import calendar
import json
import os
import random
import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx
import orjson

from bench.api_bench import API_KEY
from bench.api_dataset import ESIID_BASE, YEAR
from bench.common import ApiServer, CpuSample, cpu_split, latency_summary

MIN_ROWS = 2500
ROUTE = "/api/v1/esiids/{esiid}/intervals"


def month_queries(n: int, esiids: int, seed: int) -> list[tuple[str, dict]]:
    """n (path, params) pairs: a random ESIID and a random month of the year."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        month = rng.randint(1, 12)
        last = calendar.monthrange(YEAR, month)[1]
        esiid = str(ESIID_BASE + rng.randint(1, esiids))
        out.append((f"/api/v1/esiids/{esiid}/intervals",
                    {"start": f"{YEAR}-{month:02d}-01", "end": f"{YEAR}-{month:02d}-{last:02d}"}))
    return out


def worker(base_url: str, jobs: list, results: list, start: threading.Barrier) -> None:
    """One keep-alive connection; times each request to the last byte, checks it afterwards."""
    with httpx.Client(base_url=base_url, headers={"x-api-key": API_KEY}, timeout=60) as client:
        client.get("/api/v1/health")  # open the connection before the clock starts
        start.wait()
        for path, params in jobs:
            t0 = time.perf_counter()
            response = client.get(path, params=params)
            body = response.content
            elapsed_ms = (time.perf_counter() - t0) * 1000
            count, complete = None, False
            if response.status_code == 200:
                payload = orjson.loads(body)
                count, complete = payload["count"], payload["next_cursor"] is None
            results.append({"ms": elapsed_ms, "status": response.status_code, "count": count,
                            "complete": complete, "bytes": len(body)})


def run_load(base_url: str, jobs: list, concurrency: int) -> tuple[list[dict], float]:
    """Split the jobs over ``concurrency`` threads; returns the per-request results and the wall time."""
    results: list[dict] = []
    barrier = threading.Barrier(concurrency + 1)
    threads = [threading.Thread(target=worker, args=(base_url, jobs[i::concurrency], results, barrier))
               for i in range(concurrency)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return results, time.perf_counter() - started


def server_side_ms(log_path: Path, offset: int) -> tuple[list[float], int]:
    """The in-app ``ms`` the API logged for interval requests after ``offset`` in its log."""
    with open(log_path, "rb") as fh:
        fh.seek(offset)
        data = fh.read()
    out = []
    for line in data.splitlines():
        if line.startswith(b"{") and b'"event": "request"' in line:
            record = json.loads(line)
            if record.get("route") == ROUTE:
                out.append(record["ms"])
    return out, offset + len(data)


def measure(server: ApiServer, jobs: list, concurrency: int, log_offset: int) -> tuple[dict, int]:
    load_before = os.getloadavg()[0]
    before = CpuSample.take(server.proc.pid)
    results, wall = run_load(server.base_url, jobs, concurrency)
    after = CpuSample.take(server.proc.pid)
    in_app, log_offset = server_side_ms(server.log_path, log_offset)
    ok = [r for r in results if r["status"] == 200 and r["count"] and r["count"] > MIN_ROWS and r["complete"]]
    counts = [r["count"] for r in ok]
    phase = {
        "concurrency": concurrency, "requests": len(results), "ok": len(ok),
        "errors": len(results) - len(ok), "statuses": sorted({r["status"] for r in results}),
        "wall_s": round(wall, 2), "req_per_s": round(len(results) / wall, 1),
        **{k: round(v, 2) for k, v in latency_summary([r["ms"] for r in results]).items()},
        "rows_per_response": {"min": min(counts, default=0), "mean": round(sum(counts) / max(len(counts), 1), 1),
                              "max": max(counts, default=0)},
        "bytes_per_response_mean": round(sum(r["bytes"] for r in results) / len(results)),
        "in_app_ms": {k: round(v, 2) for k, v in latency_summary(in_app).items()} if in_app else None,
        "cpu_pct_of_one_core": cpu_split(before, after),
        "loadavg_1m_before": round(load_before, 2),
    }
    return phase, log_offset


WRK_SCRIPT = """
math.randomseed(%(seed)d)
local days = {31,28,31,30,31,30,31,31,30,31,30,31}
request = function()
  local m = math.random(1, 12)
  -- ESIIDs exceed 2^53: Lua numbers cannot add to them exactly, so build the digits as text.
  local e = "%(prefix)s" .. string.format("%%0%(width)dd", math.random(1, %(esiids)d))
  local path = string.format("/api/v1/esiids/%%s/intervals?start=%(year)d-%%02d-01&end=%(year)d-%%02d-%%02d", e, m, m, days[m])
  return wrk.format("GET", path, {["x-api-key"] = "%(key)s"})
end
"""


def wrk_phase(base_url: str, esiids: int, connections: int, seconds: int, seed: int) -> dict | None:
    """The same random one-month queries from wrk, a C load generator: the client's own cost (a
    Python client spends a few ms per 200 KiB response here) stays out of the latency."""
    wrk = shutil.which("wrk")
    if not wrk:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        prefix = str(ESIID_BASE)[:7]  # 1044372, then 10 digits of the ESIID number
        fh.write(WRK_SCRIPT % {"seed": seed, "prefix": prefix, "width": len(str(ESIID_BASE)) - len(prefix),
                               "esiids": esiids, "year": YEAR, "key": API_KEY})
    try:
        out = subprocess.run([wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", fh.name, base_url],
                             capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    finally:
        os.unlink(fh.name)
    pct = {m.group(1): _wrk_ms(m.group(2)) for m in re.finditer(r"^\s+(50|75|90|99)%\s+(\S+)$", out, re.M)}
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"connections": connections, "seconds": seconds,
            "requests": int(re.search(r"(\d+) requests in", out).group(1)),
            "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
            "req_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            **{f"p{k}_ms": v for k, v in pct.items()}}


def _wrk_ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return round(float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit], 2)
