"""Upload relay latency: how soon after the last byte of a ~40 MB SMT CSV the API answers 202.

What it measures
    ``POST /api/v1/uploads`` (multipart: role=customer, accountKey, file) of a ~``--mb`` MB SMT interval
    CSV (``smt_interval_csv`` for one year of several ESIIDs, concatenated under one header), ``--uploads``
    times with different content (different seeds, so no upload is a duplicate). The body is streamed
    from a generator in 1 MiB chunks with the multipart framing built here, so the client knows the
    moment the last byte was handed to the socket. Per upload:
      - after last byte: response received - last byte handed to the socket (the server's work after
        the body: the last buffered chunks, fsync, rename, the raw_file and upload rows);
      - total: response received - request started;
      - in-app: the time the API logged for the request.
    Also the API's peak RSS (VmHWM in /proc/<pid>/status) before and after the uploads: the relay
    streams to disk, so it should not grow with the file size.

How it works
    The API (``python -m intelliwatt_pipelines.cli api``, which migrates first) runs as a subprocess on a
    free loopback port with a temporary SQLite warehouse and a temporary local raw store; one small
    upload warms it up; results go to ``--out`` (JSON), a printed table, and the ``upload_latency``
    section of BENCHMARKS.md.

Run (from the project root)::

    .venv/bin/python bench/upload_latency.py
    .venv/bin/python bench/upload_latency.py --source DIR   # the API from another tree, e.g. a commit:
                                                            # git archive HEAD intelliwatt_pipelines | tar -x -C DIR
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench.* and the package, from any cwd

from bench.api_bench import API_KEY, add_record_options, api_env, record_run
from bench.common import ApiServer, CpuSample, code_label, cpu_split, markdown_table, proc_status_kib
from intelliwatt_pipelines.samples import date_range, smt_interval_csv

CHUNK = 1 << 20
TARGET_MS = 500.0  # "202 well under a second after the last byte"
YEAR_DAYS = date_range(dt.date(2025, 1, 1), dt.date(2025, 12, 31))


# --- the file ----------------------------------------------------------------------------------

def smt_year_csv(target_bytes: int, seed: int) -> tuple[bytes, int]:
    """One SMT CSV of at least ``target_bytes``: a year per ESIID, ESIIDs appended under one header.
    Returns (bytes, number of ESIIDs)."""
    parts, size, n = [], 0, 0
    while size < target_bytes:
        n += 1
        data = smt_interval_csv(f"1044372{seed:05d}{n:05d}", YEAR_DAYS, seed=seed * 1000 + n)
        if parts:
            data = data.split(b"\n", 1)[1]  # keep only the first header
        parts.append(data)
        size += len(data)
    return b"".join(parts), n


# --- the request body --------------------------------------------------------------------------

class MultipartBody:
    """multipart/form-data framing around one file, iterated in ``CHUNK``-sized pieces. Records when
    the last piece has been taken, i.e. handed to the socket (httpx asks for the next piece only
    after sending the previous one)."""

    def __init__(self, fields: dict[str, str], filename: str, data: bytes):
        self.boundary = uuid.uuid4().hex
        self.data = data
        head = b"".join(self._part(f'name="{name}"', value.encode()) for name, value in fields.items())
        head += self._part_header(f'name="file"; filename="{filename}"', "Content-Type: text/csv\r\n")
        self.head, self.tail = head, f"\r\n--{self.boundary}--\r\n".encode()
        self.length = len(self.head) + len(data) + len(self.tail)
        self.last_byte_at: float | None = None

    def _part_header(self, disposition: str, extra: str = "") -> bytes:
        return f"--{self.boundary}\r\nContent-Disposition: form-data; {disposition}\r\n{extra}\r\n".encode()

    def _part(self, disposition: str, value: bytes) -> bytes:
        return self._part_header(disposition) + value + b"\r\n"

    @property
    def headers(self) -> dict[str, str]:
        return {"Content-Type": f"multipart/form-data; boundary={self.boundary}",
                "Content-Length": str(self.length)}

    def __iter__(self):
        yield self.head
        for offset in range(0, len(self.data), CHUNK):
            yield self.data[offset:offset + CHUNK]
        yield self.tail
        self.last_byte_at = time.perf_counter()


# --- the uploads -------------------------------------------------------------------------------

def upload(client: httpx.Client, data: bytes, filename: str) -> dict:
    body = MultipartBody({"role": "customer", "accountKey": "bench"}, filename, data)
    started = time.perf_counter()
    response = client.post("/api/v1/uploads", content=body, headers=body.headers)
    answered = time.perf_counter()
    payload = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
    ok = (response.status_code == 202 and payload.get("raw_file_id") is not None
          and payload.get("sha256") == hashlib.sha256(data).hexdigest() and payload.get("size_bytes") == len(data))
    return {"filename": filename, "size_bytes": len(data), "status": response.status_code, "ok": ok,
            "raw_file_id": payload.get("raw_file_id"), "duplicate": payload.get("duplicate"),
            "corr_id": response.headers.get("x-correlation-id"),
            "after_last_byte_ms": round((answered - body.last_byte_at) * 1000, 1),
            "total_ms": round((answered - started) * 1000, 1),
            "client_MB_per_s": round(len(data) / 1e6 / (body.last_byte_at - started), 1),
            **({} if ok else {"error": response.text[:500]})}


def in_app_ms(log_path: Path) -> dict[str, float]:
    """The API's own request time per correlation id, from its log."""
    out = {}
    for line in log_path.read_bytes().splitlines():
        if line.startswith(b"{") and b'"event": "request"' in line:
            record = json.loads(line)
            out[record["corrId"]] = record["ms"]
    return out


def run(args) -> dict:
    files = []
    for i in range(args.uploads):
        t = time.perf_counter()
        data, esiids = smt_year_csv(int(args.mb * 1e6), seed=i + 1)
        files.append((f"IntervalMeterUsage_bench_{i + 1}.csv", data))
        print(f"built {files[-1][0]}: {len(data) / 1e6:.1f} MB, {esiids} ESIIDs x 1 year "
              f"({time.perf_counter() - t:.1f} s)", flush=True)
    with tempfile.TemporaryDirectory(prefix="intelliwatt-bench-upload-") as tmp:
        env = api_env(f"sqlite:///{tmp}/w.db", tmp, INTELLIWATT_RATE_LIMIT_CUSTOMER="1000/30d")
        log_path = Path(tmp) / "api.log"
        with ApiServer(env, log_path, source=args.source) as server, \
                httpx.Client(base_url=server.base_url, headers={"x-api-key": API_KEY}, timeout=300) as client:
            pid = server.proc.pid
            rss = {"start_hwm_kib": proc_status_kib(pid, "VmHWM")}
            warm = upload(client, smt_interval_csv("10443720000099999", YEAR_DAYS[:7], seed=99), "warmup.csv")
            if not warm["ok"]:
                raise RuntimeError(f"warm-up upload failed: {warm}")
            rss["before_hwm_kib"] = proc_status_kib(pid, "VmHWM")
            results, before = [], CpuSample.take(pid)
            for filename, data in files:
                results.append(upload(client, data, filename))
                r = results[-1]
                print(f"{filename}: {r['status']} raw_file_id={r['raw_file_id']} after last byte "
                      f"{r['after_last_byte_ms']} ms, total {r['total_ms']} ms", flush=True)
            cpu = cpu_split(before, CpuSample.take(pid))
            rss["after_hwm_kib"] = proc_status_kib(pid, "VmHWM")
            rss["after_rss_kib"] = proc_status_kib(pid, "VmRSS")
            logged = in_app_ms(log_path)
        for r in results:
            r["in_app_ms"] = logged.get(r["corr_id"])
    rss["delta_hwm_kib"] = rss["after_hwm_kib"] - rss["before_hwm_kib"]
    cpu.pop("postgres")  # the warehouse is SQLite here
    return {"uploads": results, "rss": rss, "cpu_pct_of_one_core": cpu, "socket_buffers": socket_buffers()}


def socket_buffers() -> dict[str, str]:
    """TCP buffer sizes (min default max): how much of the body can sit in the kernel when the client
    has handed over its last byte."""
    return {name: " ".join(Path(f"/proc/sys/net/ipv4/{name}").read_text().split()) for name in ("tcp_wmem", "tcp_rmem")}


# --- the report --------------------------------------------------------------------------------

def markdown_section(result: dict) -> str:
    m, rss, uploads = result["machine"], result["rss"], result["uploads"]
    rows = [[i + 1, f"{u['size_bytes'] / 1e6:.1f}", u["status"], u["after_last_byte_ms"], u["total_ms"],
             u["in_app_ms"], u["client_MB_per_s"]] for i, u in enumerate(uploads)]
    table = markdown_table(["upload", "MB", "status", "after last byte ms", "total ms", "in-app ms",
                            "client send MB/s"], rows)
    worst = max(u["after_last_byte_ms"] for u in uploads)
    cpu = result["cpu_pct_of_one_core"]
    busy = (f"\nNote: the machine was not idle: other processes used {cpu['other']:.0f}% of one core during the "
            "uploads.\n" if cpu["other"] > 25 else "")
    met = "**met**" if result["verdict"]["met"] else "**not met**"

    def mib(kib: int) -> str:
        return f"{kib / 1024:.1f} MiB"

    return f"""## Upload relay: 202 after the last byte of a ~{result['args']['mb']} MB SMT CSV

Reproduce: `{result['command']}`

- Code measured: {code_label(result['code'])}.
- Machine: {m['nproc']} CPUs ({m['cpu']}), {m['ram_gib']} GiB RAM, Python {m['python']}, SQLite {result['sqlite']},
  Linux {m['kernel']}. API (one uvicorn worker) with a temporary SQLite warehouse and local raw store in
  /tmp, on the same machine as the client.
- Request: `POST /api/v1/uploads`, multipart (role=customer, accountKey, file), Content-Length set, body
  streamed from a generator in 1 MiB chunks over loopback; each upload has different content (no
  duplicates); one small warm-up upload first. "after last byte" = response received - last byte handed
  to the socket; it includes whatever the kernel still buffered then (tcp_wmem `{result['socket_buffers']['tcp_wmem']}`,
  tcp_rmem `{result['socket_buffers']['tcp_rmem']}`). "in-app" is the API's own logged request time.

{table}

- API peak RSS (VmHWM): {mib(rss['before_hwm_kib'])} before the uploads (after warm-up; {mib(rss['start_hwm_kib'])}
  at start), {mib(rss['after_hwm_kib'])} after: **delta {mib(rss['delta_hwm_kib'])}** for
  {len(uploads)} x {uploads[0]['size_bytes'] / 1e6:.1f} MB.
- CPU during the uploads (% of one core): API {cpu['api']:.0f}%, client {cpu['client']:.0f}%, interrupts (loopback TCP, disk) {cpu['irq']:.0f}%, other processes {cpu['other']:.0f}%.
{busy}
Target: 202 well under a second after the last byte (checked as <= {TARGET_MS:g} ms): {met}
(worst {worst} ms).
"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=40, help="file size to build, MB (10^6 bytes)")
    parser.add_argument("--uploads", type=int, default=3, help="uploads, each with different content")
    add_record_options(parser, "upload_latency")
    return parser.parse_args()


def measured(args) -> dict:
    return {"sqlite": sqlite3.sqlite_version, **run(args)}


def verdict(run: dict) -> dict:
    uploads = run["uploads"]
    return {"target": f"202 within {TARGET_MS:g} ms after the last byte",
            "worst_after_last_byte_ms": max(u["after_last_byte_ms"] for u in uploads),
            "met": all(u["ok"] and u["after_last_byte_ms"] <= TARGET_MS for u in uploads)}


def main() -> None:
    record_run("upload_latency", parse_args(), measured, verdict, markdown_section)


if __name__ == "__main__":
    main()
