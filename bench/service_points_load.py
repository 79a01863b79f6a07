"""Loading for bench/service_points.py: a generated full extract ZIP, the user's path (a real Dagster run of
``ercot_extract_job`` over the ERCOT folder, in a subprocess on a given Dagster instance) and the physical
ceiling (binary COPY of the same rows into an empty copy of ``service_point``, indexes included).

Run as a script, this module is that subprocess: it runs the job once and prints one JSON line.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg  # noqa: E402

from bench.common import ROOT, proc_status_kib  # noqa: E402

JOB = "ercot_extract_job"
PUBLISHED = dt.datetime(2026, 6, 1, 5, 52, 19, tzinfo=dt.timezone(dt.timedelta(hours=-5)))


def generate_zip(folder: Path, rows: int, seed: int = 0) -> tuple[Path, float]:
    """A CenterPoint full extract of ``rows`` premises (22-column layout), named as ERCOT names it; seconds."""
    from intelliwatt_pipelines import ercot_samples

    started = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ercot_samples.constructed_name("CENTERPOINT", "FUL", PUBLISHED)
    ercot_samples.write_extract_zip(path, ercot_samples.extract_rows(rows, seed=seed, tdsp="CENTERPOINT"),
                                    layout=22, member_name="CENTERPOINT_FUL_20260601.csv")
    return path, time.perf_counter() - started


def run_job(env: dict[str, str]) -> dict:
    """``ercot_extract_job`` in a fresh process (``env``: warehouse, raw store, ERCOT folder, DAGSTER_HOME):
    wall time seen from here, and what the process reports (run id, success, its peak RSS)."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, str(Path(__file__).resolve())], env={**os.environ, **env}, cwd=ROOT,
                          capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(f"{JOB} process exited {done.returncode}:\n{done.stderr[-4000:]}")
    return {"wall_s": round(wall, 2), **json.loads(done.stdout.strip().splitlines()[-1])}


def _definitions(settings):
    """The project's definitions; with the ERCOT ones merged in while definitions.py does not list them yet."""
    import dagster as dg

    from intelliwatt_pipelines.defs.definitions import build_defs

    defs = build_defs(settings)
    if JOB in {job.name for job in defs.jobs or ()}:
        return defs
    from intelliwatt_pipelines.defs.ercot import build_ercot_defs

    ercot = build_ercot_defs(settings)
    return dg.Definitions(assets=[*(defs.assets or ()), *ercot["assets"]], jobs=ercot["jobs"],
                          asset_checks=[*(defs.asset_checks or ()), *ercot["asset_checks"]],
                          resources={**(defs.resources or {}), **ercot["resources"]})


def _child() -> None:
    import dagster as dg

    from intelliwatt_pipelines.config import Settings

    settings = Settings.from_env()
    job = _definitions(settings).resolve_job_def(JOB)
    started = time.perf_counter()
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(instance=instance, raise_on_error=False)
    print(json.dumps({"run_id": result.run_id, "success": result.success,
                      "run_s": round(time.perf_counter() - started, 2),
                      "peak_rss_mib": round(proc_status_kib(os.getpid(), "VmHWM") / 1024, 1)}))


def service_point_count(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM service_point").fetchone()[0]


def ceiling(url: str) -> dict:
    """Binary COPY of the loaded rows into an empty copy of service_point with the same indexes (what the
    load ends with), as rows/s; the export to a file is not timed."""
    with tempfile.TemporaryDirectory(prefix="intelliwatt-bench-sp-") as tmp, psycopg.connect(url) as conn:
        dump = Path(tmp) / "service_point.bin"
        with open(dump, "wb") as out, conn.cursor().copy("COPY service_point TO STDOUT (FORMAT BINARY)") as copy:
            for block in copy:
                out.write(block)
        dump_mib = round(dump.stat().st_size / 2**20, 1)
        conn.execute("DROP TABLE IF EXISTS ceiling_service_point")
        conn.execute("CREATE TABLE ceiling_service_point (LIKE service_point INCLUDING ALL)")
        conn.commit()
        started = time.perf_counter()
        with conn.cursor().copy("COPY ceiling_service_point FROM STDIN (FORMAT BINARY)") as copy, \
                open(dump, "rb") as data:
            while block := data.read(1 << 20):
                copy.write(block)
        conn.commit()
        seconds = time.perf_counter() - started
        rows = conn.execute("SELECT count(*) FROM ceiling_service_point").fetchone()[0]
        conn.execute("DROP TABLE ceiling_service_point")
        conn.commit()
    return {"rows": rows, "seconds": round(seconds, 2), "rows_per_s": round(rows / seconds),
            "dump_mib": dump_mib}


if __name__ == "__main__":
    _child()
