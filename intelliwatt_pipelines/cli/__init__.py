"""``intelliwatt``: headless ingest, backfills, migrations and the sample seed.

Runs go through the same Dagster definitions, in-process, and are recorded in the Dagster instance
under ``DAGSTER_HOME`` (default ``$INTELLIWATT_HOME/dagster_home``).

The commands that launch runs (ingest, backfill, reprocess) check their arguments and the data first
and launch nothing on nonsense (exit 2). They print progress and a summary; ``--verbose`` adds
Dagster's event stream, ``--json`` prints only the summary, as one JSON object. Exit codes: 0 done,
1 a run or a file failed, 2 bad usage (nothing launched).

This module holds the parser and ``main`` (the console script); the commands live in ``ingest``
(ingest, reprocess), ``rebuild`` (backfill) and ``admin`` (migrate, seed, api, redact-log), and
Dagster is imported only inside them, when a command runs.
"""

from __future__ import annotations

import argparse
import sys

from intelliwatt_pipelines.cli.admin import cmd_api, cmd_migrate, cmd_redact_log, cmd_seed
from intelliwatt_pipelines.cli.args import day_arg, esiid_arg, raw_file_id_arg
from intelliwatt_pipelines.cli.ingest import cmd_ingest, cmd_reprocess
from intelliwatt_pipelines.cli.rebuild import cmd_backfill
from intelliwatt_pipelines.cli.report import UsageError, usage_error
from intelliwatt_pipelines.cli.smt_args import add_smt_commands
from intelliwatt_pipelines.config import Settings, SettingsError
from intelliwatt_pipelines.pii import install_redaction


class _Parser(argparse.ArgumentParser):
    """argparse, its errors raised as one line (not the usage block): main prints and exits 2."""

    def error(self, message):
        raise UsageError(f"{message} (see {self.prog} --help)")


def parser() -> tuple:
    """The ``intelliwatt`` parser and its subcommands (each names its function as ``func``)."""
    top = _Parser(prog="intelliwatt", description=__doc__.splitlines()[0])
    sub = top.add_subparsers(dest="command", required=True)
    # the commands that launch runs share these (after the command: intelliwatt backfill --json ...)
    runs = argparse.ArgumentParser(add_help=False)
    runs.add_argument("-v", "--verbose", action="store_true", help="also show Dagster's event stream (DEBUG)")
    runs.add_argument("--json", action="store_true", help="print only the summary, as one JSON object on stdout")
    p = sub.add_parser("ingest", parents=[runs], help="take every new file in the inbox through the ingest job, "
                                                      "in-process (waits for files still being written)")
    p.add_argument("--inbox", help="inbox folder (default INTELLIWATT_INBOX_DIR)")
    p.set_defaults(func=cmd_ingest)
    p = sub.add_parser("backfill", parents=[runs], help="rebuild local days from the stored raw files: some homes "
                                                        "(--esiid, repeatable) in one run, or every home")
    p.add_argument("--esiid", action="append", default=[], type=esiid_arg,
                   help="a home to rebuild, 17 or 22 digits (repeat for several; 1PWR markets: "
                        "an account number NNNNSSS)")
    p.add_argument("--start", required=True, type=day_arg, help="first Central day, YYYY-MM-DD (1PWR markets: its local day)")
    p.add_argument("--end", required=True, type=day_arg, help="last Central day, YYYY-MM-DD (1PWR markets: its local day)")
    p.set_defaults(func=cmd_backfill)
    p = sub.add_parser("reprocess", parents=[runs],
                       help="process stored raw files again from their bytes (e.g. quarantined ones)")
    p.add_argument("raw_file_ids", nargs="+", type=raw_file_id_arg, metavar="RAW_FILE_ID")
    p.set_defaults(func=cmd_reprocess)
    sub.add_parser("migrate", help="bring the warehouse schema to the newest migration").set_defaults(func=cmd_migrate)
    p = sub.add_parser("seed", help="write the generated sample files into the inbox")
    p.add_argument("--inbox")
    p.set_defaults(func=cmd_seed)
    p = sub.add_parser("api", help="serve the read API and upload relay (uvicorn)")
    p.add_argument("--host", help="bind address (default INTELLIWATT_API_HOST, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default INTELLIWATT_API_PORT, 8000)")
    p.set_defaults(func=cmd_api)
    sub.add_parser("redact-log", help="copy stdin to stdout with ESIIDs hashed (for process logs)").set_defaults(
        func=cmd_redact_log)
    add_smt_commands(sub, runs)
    return top, sub


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    top, sub = parser()
    try:
        args = top.parse_args(argv)
    except UsageError as error:  # the command as typed, for the message (the parse stopped before naming it)
        command = next((a for a in argv if a in sub.choices), "")
        return usage_error(command, str(error), "--json" in argv)
    as_json = getattr(args, "json", False)
    try:
        settings = Settings.from_env()
    except SettingsError as error:  # a typo'd setting: say which, no traceback
        return usage_error(args.command, str(error), as_json)
    install_redaction()  # whatever a command logs (library warnings included) is redacted
    try:
        return args.func(settings, args)
    except UsageError as error:  # found before anything was launched
        return usage_error(args.command, str(error), as_json)
