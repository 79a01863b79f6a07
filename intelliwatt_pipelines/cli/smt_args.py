"""The ``intelliwatt smt …`` parser: the SMT lifecycle jobs (vendor-apis.md §2.2–2.4) launched in-process,
and the two e-mail key helpers. The commands are in ``cli.smt``."""

from __future__ import annotations

import argparse

from intelliwatt_pipelines.cli.args import day_arg, esiid_arg


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text[:20]!r} is not a whole number of at least 0")
    return int(text)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text[:20]!r} is not a whole number of at least 1")
    return int(text)


def _variable(text: str) -> str:
    # a variable's name, never its value: an e-mail typed here would be in shell history
    if not text.replace("_", "a").isalnum() or text[0].isdigit():
        raise argparse.ArgumentTypeError("not an environment variable name (letters, digits, _): give the name "
                                         "of the variable holding the e-mail, not the e-mail")
    return text


def _email_ref(text: str) -> str:
    if not text.startswith(("enc:", "env:")):
        raise argparse.ArgumentTypeError("an e-mail reference is `enc:<token>` (intelliwatt smt encrypt-email) "
                                         "or `env:<VARIABLE>`, never the e-mail itself")
    return text


def _esiid(p, many: bool = False) -> None:
    p.add_argument("--esiid", required=not many, action="append" if many else "store",
                   default=[] if many else None, type=esiid_arg,
                   help="the home's ESIID, 17 or 22 digits" + (" (repeat for several)" if many else ""))


def _lifecycle(ssub, runs, cmds) -> None:
    p = ssub.add_parser("authorize", parents=[runs], help="create an SMT agreement for one ESIID (NewAgreement; "
                                                          "smt_authorize_job), then its subscription once active")
    _esiid(p)
    p.add_argument("--rep-puct", required=True, type=_positive, dest="rep_puct",
                   help="the customer's REP PUCT certificate number (never a TDSP's)")
    email = p.add_mutually_exclusive_group(required=True)
    email.add_argument("--email-env", type=_variable, metavar="VAR",
                       help="the environment variable holding the customer's e-mail")
    email.add_argument("--email-ref", type=_email_ref, metavar="REF",
                       help="`enc:<token>` from `intelliwatt smt encrypt-email` (or `env:<VAR>`)")
    p.add_argument("--meter-number", default="", help="the meter number (default: from smt_meter_info)")
    p.add_argument("--commercial", action="store_true", help="a commercial account (24 months of history)")
    p.add_argument("--months-back", type=_count, default=0,
                   help="months of history (default 12 residential, 24 commercial)")
    p.set_defaults(func=cmds["authorize"])
    for name, job, what in (("terminate", "smt_terminate_job", "terminate every active SMT agreement of one ESIID"),
                            ("unsubscribe", "smt_unsubscribe_job", "end the SMT subscriptions of one ESIID")):
        p = ssub.add_parser(name, parents=[runs], help=f"{what} ({job})")
        _esiid(p)
        p.set_defaults(func=cmds[name])
    p = ssub.add_parser("meter-info", parents=[runs], help="ask SMT for the meters of some ESIIDs into "
                                                           "smt_meter_info (smt_meter_info_job)")
    _esiid(p, many=True)
    p.set_defaults(func=cmds["meter-info"])


def _data(ssub, runs, cmds) -> None:
    p = ssub.add_parser("pull", parents=[runs], help="fetch usage from /v2/energydata/ (smt_energydata_fetch_job)")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--esiid", action="append", default=[], type=esiid_arg,
                       help="a home to fetch, 17 or 22 digits (repeat for several)")
    which.add_argument("--active", action="store_true", help="every ESIID with an active SMT agreement")
    p.add_argument("--start", required=True, type=day_arg, help="first day, YYYY-MM-DD")
    p.add_argument("--end", required=True, type=day_arg, help="last day, YYYY-MM-DD")
    p.add_argument("--intervals", action="store_true", help="also fetch 15-minute intervals")
    p.add_argument("--no-monthly", action="store_true", help="leave out the monthly reads")
    p.set_defaults(func=cmds["pull"])
    p = ssub.add_parser("backfills", parents=[runs], help="request newly active agreements' history and poll "
                                                          "open requests (smt_backfill_job)")
    p.set_defaults(func=cmds["backfills"])
    p = ssub.add_parser("gap-sweep", parents=[runs], help="record recent days in interval_day_ledger and request "
                                                          "one repair per gap (smt_gap_sweep_job)")
    p.add_argument("--lookback-days", type=_positive, help="days checked (default INTELLIWATT_SMT_GAP_LOOKBACK_DAYS)")
    p.add_argument("--lag-days", type=_count, help="days left to SMT's delivery lag "
                                                   "(default INTELLIWATT_SMT_DELIVERY_LAG_DAYS)")
    p.set_defaults(func=cmds["gap-sweep"])


def add_smt_commands(sub, runs) -> None:
    """``intelliwatt smt …`` under ``sub`` (the top-level subparsers); ``runs`` the shared --json/--verbose."""
    from intelliwatt_pipelines.cli import smt as commands

    cmds = commands.COMMANDS
    smt = sub.add_parser("smt", help="Smart Meter Texas API: agreements, subscriptions, pulls, backfills "
                                     "(each a Dagster job run in-process)")
    ssub = smt.add_subparsers(dest="smt_command", required=True)
    for name, job in (("agreements", "smt_agreements_job"), ("subscriptions", "smt_subscriptions_job")):
        p = ssub.add_parser(name, help=f"the CSP's SMT {name}")
        action = p.add_subparsers(dest="action", required=True)
        action.add_parser("refresh", parents=[runs], help=f"refresh every SMT {name[:-1]}'s status ({job})"
                          ).set_defaults(func=cmds[name])
    _lifecycle(ssub, runs, cmds)
    _data(ssub, runs, cmds)
    ssub.add_parser("new-email-key", help="print a fresh INTELLIWATT_SMT_EMAIL_KEY (a Fernet key)").set_defaults(
        func=cmds["new-email-key"])
    ssub.add_parser("encrypt-email", help="read one e-mail from stdin, print `enc:<token>` for --email-ref"
                    ).set_defaults(func=cmds["encrypt-email"])
