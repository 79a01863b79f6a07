"""Helpers shared by the benchmark scripts: the API as a subprocess, process stats, percentiles,
machine facts and the sections of BENCHMARKS.md."""

from __future__ import annotations

import hashlib
import math
import os
import platform
import re
import resource
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS_MD = ROOT / "BENCHMARKS.md"
CLOCK_TICK = os.sysconf("SC_CLK_TCK")
# The server the benchmarks create their scratch databases on (the test suite passes its own).
ADMIN_URL = (os.environ.get("INTELLIWATT_BENCH_ADMIN_URL") or os.environ.get("INTELLIWATT_TEST_POSTGRES_URL")
             or "postgresql://postgres@127.0.0.1:5432/postgres")


# --- scratch PostgreSQL databases --------------------------------------------------------------

def database_url(name: str) -> str:
    """A plain ``postgresql://`` URL on the admin server: dagster-postgres wants that form (psycopg2),
    the warehouse routes it to psycopg 3 itself."""
    from sqlalchemy.engine import make_url

    return make_url(ADMIN_URL).set(drivername="postgresql", database=name).render_as_string(hide_password=False)


def _admin() -> psycopg.Connection:
    from sqlalchemy.engine import make_url

    return psycopg.connect(database_url(make_url(ADMIN_URL).database or "postgres"), autocommit=True)


def drop_db(name: str) -> None:
    with _admin() as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def fresh_db(name: str) -> str:
    """An empty database ``name`` (dropped first if it exists); its URL."""
    drop_db(name)
    with _admin() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return database_url(name)


@contextmanager
def scratch_dbs(*names: str, keep: bool = False):
    """Fresh databases for a block, dropped after it (unless ``keep``); yields their URLs."""
    try:
        yield [fresh_db(name) for name in names]
    finally:
        if keep:
            print(f"kept databases {', '.join(names)}", flush=True)
        else:
            for name in names:
                drop_db(name)


# --- the API under test ------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ApiServer:
    """``python -m intelliwatt_pipelines.cli api`` on a free loopback port; its log goes to a file."""

    env: dict[str, str]
    log_path: Path
    source: Path = ROOT  # the tree whose intelliwatt_pipelines runs (python -m puts the cwd first on sys.path)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120.0) -> ApiServer:
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "intelliwatt_pipelines.cli", "api", "--host", "127.0.0.1", "--port", str(self.port)],
            env={**os.environ, **self.env}, cwd=self.source, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"API exited with {self.proc.returncode}; see {self.log_path}")
            try:
                if httpx.get(f"{self.base_url}/api/v1/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"API not healthy within {timeout:.0f} s; see {self.log_path}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# --- process statistics ------------------------------------------------------------------------

def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICK


def postgres_cpu_seconds() -> float:
    """CPU time of every PostgreSQL process on the machine (backends, checkpointer, ...)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() == "postgres":
                total += cpu_seconds(int(entry.name))
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue  # gone or not ours to read
    return total


def machine_busy_seconds() -> tuple[float, float]:
    """CPU time all CPUs spent busy since boot, from /proc/stat: (in processes, in interrupts).
    Interrupt time (loopback TCP is mostly softirq) is charged to no process."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = (
        int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:9])
    return (user + nice + system + steal) / CLOCK_TICK, (irq + softirq) / CLOCK_TICK


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds used so far by the API process, PostgreSQL, this process and the whole machine."""

    api: float
    postgres: float
    client: float
    machine: float
    irq: float
    at: float

    @classmethod
    def take(cls, api_pid: int) -> CpuSample:
        me = resource.getrusage(resource.RUSAGE_SELF)
        return cls(cpu_seconds(api_pid), postgres_cpu_seconds(), me.ru_utime + me.ru_stime, *machine_busy_seconds(),
                   time.perf_counter())


def cpu_split(before: CpuSample, after: CpuSample) -> dict[str, float]:
    """% of one core each used between two samples: ``irq`` is interrupt time (network, disk), ``other``
    every other process (another test run, kernel writeback), which makes latencies less trustworthy
    when it is high."""
    wall = after.at - before.at
    used = {name: getattr(after, name) - getattr(before, name) for name in ("api", "postgres", "client", "irq")}
    used["other"] = max(0.0, (after.machine - before.machine) - used["api"] - used["postgres"] - used["client"])
    return {name: round(100 * seconds / wall, 1) for name, seconds in used.items()}


def proc_status_kib(pid: int, key: str) -> int:
    """A ``kB`` field of /proc/<pid>/status, e.g. VmHWM (peak RSS) or VmRSS."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


# --- numbers -----------------------------------------------------------------------------------

def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def latency_summary(latencies_ms: list[float]) -> dict:
    xs = sorted(latencies_ms)
    return {"n": len(xs), "p50_ms": percentile(xs, 50), "p90_ms": percentile(xs, 90),
            "p99_ms": percentile(xs, 99), "max_ms": xs[-1], "mean_ms": sum(xs) / len(xs)}


def markdown_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


# --- machine facts and BENCHMARKS.md -----------------------------------------------------------

def machine_facts() -> dict:
    meminfo = Path("/proc/meminfo").read_text()
    mem_kib = int(re.search(r"MemTotal:\s+(\d+)", meminfo).group(1))
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"model name\s*:\s*(.+)", cpuinfo)
    return {"nproc": os.cpu_count(), "cpu": model.group(1).strip() if model else platform.processor(),
            "ram_gib": round(mem_kib / 1024 / 1024, 1), "python": platform.python_version(),
            "kernel": platform.release()}


def code_version(source: Path = ROOT) -> dict:
    """What the API runs: the working tree's commit and the package files changed since it (the API is
    edited concurrently), or another source tree (e.g. a ``git archive`` export); and a digest of the
    package sources either way."""
    digest = hashlib.sha256()
    for path in sorted((source / "intelliwatt_pipelines").rglob("*.py")):
        digest.update(path.relative_to(source).as_posix().encode() + b"\0" + path.read_bytes())
    if source.resolve() != ROOT:
        return {"source": str(source), "package_sha256": digest.hexdigest()[:12]}

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False).stdout

    changed = [line[3:] for line in git("status", "--porcelain", "--", "intelliwatt_pipelines").splitlines()]
    return {"commit": git("rev-parse", "--short", "HEAD").strip(), "uncommitted_package_files": changed,
            "package_sha256": digest.hexdigest()[:12]}


def code_label(code: dict) -> str:
    if "source" in code:
        return (f"the tree at `{code['source']}` (package sources sha256 `{code['package_sha256']}`), exported from "
                f"the repository with `git archive <commit> intelliwatt_pipelines | tar -x -C {code['source']}`")
    changed = code["uncommitted_package_files"]
    return (f"`{code['commit']}`" + (f" plus uncommitted changes to {', '.join(changed)}" if changed else "")
            + f" (package sources sha256 `{code['package_sha256']}`)")


def write_section(name: str, body: str, path: Path = BENCHMARKS_MD) -> None:
    """Put ``body`` between ``<!-- name:start -->`` and ``<!-- name:end -->``, replacing what was there."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body.strip()}\n{end}"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        text = before + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)
