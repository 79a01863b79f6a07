"""What the API benchmarks share (api_latency, api_load, upload_latency): the key and settings they
start the API with, and how a run is recorded: its options, the command that reproduces it, the
result JSON in bench/results and its BENCHMARKS.md section."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

from bench.common import ROOT, code_version, machine_facts, write_section

API_KEY = "bench-key"


def api_env(warehouse_url: str, home: str, **extra: str) -> dict[str, str]:
    """The API's settings: the warehouse, a raw store and home under ``home``, the bench key."""
    return {"INTELLIWATT_WAREHOUSE_URL": warehouse_url, "INTELLIWATT_RAW_STORE_URL": f"{home}/raw",
            "INTELLIWATT_API_KEYS": API_KEY, "INTELLIWATT_HOME": home, **extra}


def add_record_options(parser: argparse.ArgumentParser, name: str) -> None:
    """--out (the result JSON), --source (the tree whose API runs) and --no-markdown."""
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / f"{name}.json")
    parser.add_argument("--source", type=lambda p: Path(p).resolve(), default=ROOT,
                        help="run the API from this source tree, e.g. `git archive HEAD | tar -x -C DIR`")
    parser.add_argument("--no-markdown", action="store_true", help="do not touch BENCHMARKS.md")


def command_line(name: str, args) -> str:
    """The command to reproduce this run (the options that change what is measured)."""
    return f".venv/bin/python bench/{name}.py" + ("" if args.source == ROOT else f" --source {args.source}")


def record_run(name: str, args, measure, judge, render) -> None:
    """Run ``measure(args)`` and record it: the result JSON (command, options, time, code, machine,
    what was measured, ``judge``'s verdict on it) to ``--out``, then ``render(result)`` printed and put
    in BENCHMARKS.md (unless --no-markdown). The JSON comes first, so a failing report loses nothing."""
    code = code_version(args.source)  # before the run: what the API subprocess imports
    measured = measure(args)
    result = {"command": command_line(name, args), "args": {k: str(v) for k, v in vars(args).items()},
              "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "code": code,
              "machine": machine_facts(), **measured}
    result["verdict"] = judge(measured)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    section = render(result)
    print("\n" + section)
    if not args.no_markdown:
        write_section(name, section)
    print(f"results: {args.out}")
