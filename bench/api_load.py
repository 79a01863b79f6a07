"""Sustained API load: a mix of every consumer read route for 60 s from concurrent connections.

Uses the API latency benchmark's PostgreSQL database (30.1M intervals; filled on first use, see
api_latency.py). wrk drives, from one thread, random ESIIDs and months over: a month of intervals
(JSON), the month as CSV, daily completeness, the summary, billing reads and reconciliation. The
check is that nothing fails: every response is 2xx and no socket errors or timeouts happen.
Writes the ``api_load`` section of BENCHMARKS.md.

Run (from the project root)::

    .venv/bin/python bench/api_load.py [--seconds 60] [--connections 8]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench.* and the package, from any cwd

from bench.api_bench import API_KEY, api_env
from bench.api_dataset import ESIID_BASE, YEAR, db_url, prepare_database
from bench.common import ROOT, ApiServer, code_label, code_version, machine_facts, markdown_table, write_section

LUA = """
math.randomseed(%(seed)d)
local days = {31,28,31,30,31,30,31,31,30,31,30,31}
local routes = {"intervals", "intervals_csv", "completeness", "summary", "billing", "reconciliation"}
request = function()
  local e = "%(prefix)s" .. string.format("%%0%(width)dd", math.random(1, %(esiids)d))
  local m = math.random(1, 12)
  local window = string.format("start=%(year)d-%%02d-01&end=%(year)d-%%02d-%%02d", m, m, days[m])
  local r = routes[math.random(1, #routes)]
  local path
  if r == "intervals" then path = "/api/v1/esiids/" .. e .. "/intervals?" .. window
  elseif r == "intervals_csv" then path = "/api/v1/esiids/" .. e .. "/intervals?format=csv&" .. window
  elseif r == "completeness" then path = "/api/v1/esiids/" .. e .. "/daily-completeness?" .. window
  elseif r == "summary" then path = "/api/v1/esiids/" .. e .. "/summary"
  elseif r == "billing" then path = "/api/v1/esiids/" .. e .. "/billing-reads?" .. window
  else path = "/api/v1/esiids/" .. e .. "/reconciliation?" .. window end
  return wrk.format("GET", path, {["x-api-key"] = "%(key)s"})
end
"""


def run_wrk(base_url: str, esiids: int, connections: int, seconds: int) -> dict:
    wrk = shutil.which("wrk")
    if not wrk:
        raise SystemExit("wrk is needed (apt-get install wrk)")
    prefix = str(ESIID_BASE)[:7]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(LUA % {"seed": 7, "prefix": prefix, "width": len(str(ESIID_BASE)) - len(prefix), "esiids": esiids,
                        "year": YEAR, "key": API_KEY})
    try:
        out = subprocess.run([wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "--latency",
                              "-s", fh.name, base_url], capture_output=True, text=True, check=True,
                             timeout=seconds + 120).stdout
    finally:
        os.unlink(fh.name)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    pct = {m.group(1): m.group(2) for m in re.finditer(r"^\s+(50|90|99)%\s+(\S+)$", out, re.M)}
    return {"connections": connections, "seconds": seconds,
            "requests": int(re.search(r"(\d+) requests in", out).group(1)),
            "req_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
            "socket_errors": sum(int(x) for x in socket.groups()) if socket else 0,
            **{f"p{k}": v for k, v in pct.items()}, "raw": out}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--db", default="intelliwatt_bench_api")
    parser.add_argument("--esiids", type=int, default=860)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    args.fresh, args.out = False, ROOT / "bench" / "results" / "api_latency.json"
    code = code_version(ROOT)
    prepare_database(args)
    url = db_url(args.admin_url, args.db)
    with tempfile.TemporaryDirectory(prefix="intelliwatt-bench-load-") as tmp:
        with ApiServer(api_env(url, tmp), Path(tmp) / "api.log") as server:
            result = run_wrk(server.base_url, args.esiids, args.connections, args.seconds)
            alive = server.proc.poll() is None
    ok = result["non_2xx"] == 0 and result["socket_errors"] == 0 and alive
    table = markdown_table(["connections", "seconds", "requests", "req/s", "non-2xx", "socket errors/timeouts",
                            "p50", "p90", "p99"],
                           [[result["connections"], result["seconds"], result["requests"], result["req_per_s"],
                             result["non_2xx"], result["socket_errors"], result.get("p50"), result.get("p90"),
                             result.get("p99")]])
    facts = machine_facts()
    section = f"""## API under sustained load

Reproduce: `.venv/bin/python bench/api_load.py --seconds {args.seconds} --connections {args.connections}`

- Code measured: {code_label(code)}. Measured {dt.datetime.now(dt.UTC).isoformat(timespec="minutes")}.
- Same database as above (`{args.db}`, 30.1M intervals); one uvicorn worker; wrk (one thread) on the same
  2-core machine ({facts.get("cpu", "")}).
- Mix, uniformly at random: a month of intervals (JSON), the month as streamed CSV, daily completeness,
  the summary, billing reads and reconciliation, for random ESIIDs and months.

{table}

Result: **{"no errors" if ok else "ERRORS"}** over {args.seconds} s ({result["requests"]} requests; the API
process {"stayed up" if alive else "died"}).
"""
    write_section("api_load", section)
    (ROOT / "bench" / "results").mkdir(exist_ok=True)
    (ROOT / "bench" / "results" / "api_load.json").write_text(json.dumps({k: v for k, v in result.items() if k != "raw"},
                                                                         indent=2) + "\n")
    print(result["raw"])
    print(section)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
