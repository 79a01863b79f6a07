"""Peak memory of ``intelliwatt ingest`` taking one SMT package whose CSVs expand to ~500 MB.

A ZIP of several realistic SMT interval CSVs (``bench/generate.py``'s home-years: DST days as SMT
writes them, estimated runs, gaps, solar on some homes), written member by member with a streaming
writer, and the same ZIP PGP-encrypted to a key in a temporary GNUPGHOME. Each goes alone into a
fresh inbox and is taken by ``intelliwatt ingest`` as a subprocess on the embedded defaults (SQLite
warehouse, SQLite Dagster instance under INTELLIWATT_HOME). The process tree's resident memory (the
CLI and its children, gpg included) is sampled from /proc every 50 ms; the CLI's own VmHWM and the
kernel's ru_maxrss of the largest child after exit are kept too.

Target (issue 16): peak RSS <= 400 MB for a package whose CSVs expand to 500 MB.

    .venv/bin/python bench/package_memory.py                      # ~500 MB, zip and pgp, ~10 minutes on 2 cores
    .venv/bin/python bench/package_memory.py --megabytes 20 --members 2 --no-pgp
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, code_label, code_version, machine_facts, write_section  # noqa: E402
from bench.generate import DISTINCT_HOMES, esiid_for, home_template  # noqa: E402

RESULTS = ROOT / "bench" / "results"
TARGET_MB = 400
PASSPHRASE = "bench passphrase"
SECTION = """## Package memory: one SMT package whose CSVs expand to ~500 MB

Reproduce: `.venv/bin/python bench/package_memory.py`

- Code measured: {code}. The real user path: `intelliwatt ingest` as a subprocess on the embedded
  defaults, the package alone in a fresh inbox; the process tree's RSS sampled every 50 ms (the CLI,
  its Dagster helper processes and gpg).
{line}
"""


def write_smt_zip(path: Path, megabytes: float, members: int) -> dict:
    """A ZIP of ``members`` SMT interval CSVs of about ``megabytes`` MB together, one home-year after
    another (a few generated homes, the rest copies with their own ESIID): never more than one
    home-year in memory."""
    from intelliwatt_pipelines.samples import date_range

    days = date_range(dt.date(2025, 1, 1), dt.date(2025, 12, 31))
    templates = [home_template(k, days) for k in range(DISTINCT_HOMES)]
    header = templates[0].split(b"\r\n", 1)[0] + b"\r\n"
    per_member, homes, sizes = megabytes * 1e6 / members, 0, []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for m in range(members):
            with archive.open(f"IntervalMeterUsage_part{m + 1}.csv", "w", force_zip64=True) as out:
                out.write(header)
                size = len(header)
                while size < per_member:
                    k = homes % len(templates)
                    body = templates[k].split(b"\r\n", 1)[1].replace(esiid_for(k).encode(), esiid_for(homes).encode())
                    out.write(body)
                    size, homes = size + len(body), homes + 1
            sizes.append(size)
    return {"members": members, "homes": homes, "expanded_mb": round(sum(sizes) / 1e6, 1),
            "package_mb": round(path.stat().st_size / 1e6, 1)}


def gnupg_home(home: Path) -> str:
    """A temporary key ring with one key pair; its fingerprint."""
    import gnupg

    home.mkdir(parents=True, mode=0o700)
    (home / "gpg-agent.conf").write_text("allow-loopback-pinentry\n")
    gpg = gnupg.GPG(gnupghome=str(home))
    key = gpg.gen_key(gpg.gen_key_input(name_real="IntelliWatt Bench", name_email="bench@example.invalid",
                                        key_type="EDDSA", key_curve="ed25519", subkey_type="ECDH",
                                        subkey_curve="cv25519", passphrase=PASSPHRASE, expire_date=0))
    if not key.fingerprint:
        raise RuntimeError(f"gpg could not make a key: {key.stderr}")
    return key.fingerprint


def encrypt_file(home: Path, fingerprint: str, source: Path, target: Path) -> None:
    import gnupg

    with open(source, "rb") as fh:
        result = gnupg.GPG(gnupghome=str(home)).encrypt_file(fh, fingerprint, armor=True, always_trust=True,
                                                             output=str(target))
    if not result.ok:
        raise RuntimeError(f"gpg could not encrypt: {result.stderr}")


def _tree(root: int) -> list[int]:
    """``root`` and its descendants, from /proc/<pid>/task/*/children."""
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except (FileNotFoundError, ProcessLookupError):
                continue
    return pids


def _status_kib(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def run_measured(command: list[str], env: dict, log_path: Path) -> dict:
    """Run ``command``, sampling the RSS of its process tree until it exits."""
    peak = {"tree_kib": 0, "cli_hwm_kib": 0}
    with open(log_path, "wb") as log:
        start = time.perf_counter()
        proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)

        def sample() -> None:
            while proc.poll() is None:
                peak["tree_kib"] = max(peak["tree_kib"], sum(_status_kib(p, "VmRSS") for p in _tree(proc.pid)))
                peak["cli_hwm_kib"] = max(peak["cli_hwm_kib"], _status_kib(proc.pid, "VmHWM"))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = proc.wait()
        seconds = time.perf_counter() - start
        sampler.join()
    # the largest single process among everything this script waited for (the CLI itself, usually)
    children_max_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"exit": code, "seconds": round(seconds, 1), "peak_tree_rss_mib": round(peak["tree_kib"] / 1024, 1),
            "cli_vmhwm_mib": round(peak["cli_hwm_kib"] / 1024, 1),
            "children_max_rss_mib": round(children_max_kib / 1024, 1)}


def ingest_package(work: Path, package: Path, extra_env: dict) -> dict:
    """``intelliwatt ingest`` over an inbox holding only ``package``, on a fresh INTELLIWATT_HOME."""
    home = work / f"home_{package.name.replace('.', '_')}"
    (home / "inbox").mkdir(parents=True)
    shutil.copy(package, home / "inbox" / package.name)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INTELLIWATT_", "DAGSTER_", "GNUPGHOME"))}
    env.update(extra_env, INTELLIWATT_HOME=str(home), INTELLIWATT_INBOX_MIN_AGE_SECONDS="0",
               INTELLIWATT_PARTITION_START="2024-01-01")
    exe = Path(sys.executable).with_name("intelliwatt")
    result = run_measured([str(exe), "ingest"], env, work / f"{package.name}.log")
    result["output_tail"] = (work / f"{package.name}.log").read_text(errors="replace").splitlines()[-8:]
    result["rows_stored"] = _rows(home / "warehouse.db")
    return result


def _rows(db: Path) -> int:
    import sqlite3

    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM usage_interval").fetchone()[0]


def markdown_line(data: dict, runs: dict) -> str:
    parts = [f"{kind}: peak RSS {r['peak_tree_rss_mib']:,} MiB (process tree; the CLI process alone "
             f"{r['cli_vmhwm_mib']:,} MiB), exit {r['exit']}, "
             f"{r['rows_stored']:,} rows, {r['seconds']:.0f} s" for kind, r in runs.items()]
    met = all(r["peak_tree_rss_mib"] * 2**20 <= TARGET_MB * 1e6 and r["exit"] == 0 for r in runs.values())
    return (f"- `intelliwatt ingest` of one SMT package, {data['members']} CSVs expanding to "
            f"{data['expanded_mb']:,} MB "
            f"({data['package_mb']:,} MB zipped, {data['homes']} home-years), embedded defaults: "
            + "; ".join(parts) + f". Target <= {TARGET_MB} MB: **{'met' if met else 'not met'}**.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megabytes", type=float, default=500, help="expanded size of the package's CSVs")
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--no-pgp", action="store_true", help="only the plain ZIP")
    parser.add_argument("--workdir", type=Path, default=None, help="kept afterwards if given")
    parser.add_argument("--output", type=Path, default=RESULTS / "package_memory.json")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="intelliwatt_bench_package_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        started = time.perf_counter()
        package = work / "IntervalMeterUsage_package.zip"
        data = write_smt_zip(package, args.megabytes, args.members)
        data["generate_seconds"] = round(time.perf_counter() - started, 1)
        print(f"generated {data}", flush=True)
        runs = {"zip": ingest_package(work, package, {})}
        print(f"zip: {runs['zip']}", flush=True)
        if not args.no_pgp:
            keys = work / "gnupg"
            encrypt_file(keys, gnupg_home(keys), package, work / "IntervalMeterUsage_package.zip.asc")
            runs["pgp"] = ingest_package(work, work / "IntervalMeterUsage_package.zip.asc",
                                         {"GNUPGHOME": str(keys), "INTELLIWATT_GPG_PASSPHRASE": PASSPHRASE})
            print(f"pgp: {runs['pgp']}", flush=True)
            subprocess.run(["gpgconf", "--homedir", str(keys), "--kill", "gpg-agent"], check=False)
        result = {"at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "machine": machine_facts(),
                  "code": code_label(code_version()), "package": data, "runs": runs, "target_mb": TARGET_MB}
        result["markdown"] = markdown_line(data, runs)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(result, indent=1))
        args.output.with_suffix(".md").write_text(result["markdown"] + "\n")
        print(result["markdown"])
        if args.output == RESULTS / "package_memory.json":  # a default run is the recorded figure
            write_section("package_memory", SECTION.format(line=result["markdown"], code=result["code"]))
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
