"""``intelliwatt smt …``: the SMT mutations and pulls (vendor-apis.md §2.2: they stay in Dagster jobs or
the CLI), each one run of its job in-process on the Dagster instance, like ``intelliwatt backfill``.

A command whose feature flag is off, or whose arguments cannot work, launches nothing (exit 2); a run
that fails exits 1 with the step's failure (already redacted). The customer's e-mail is never an
argument (it would be in shell history and in the run config): ``--email-env VAR`` names the variable
holding it, ``--email-ref enc:<token>`` is what ``intelliwatt smt encrypt-email`` printed.
"""

from __future__ import annotations

import os
import sys

from intelliwatt_pipelines.cli.report import Report, UsageError
from intelliwatt_pipelines.cli.runs import dagster_logs, instance
from intelliwatt_pipelines.config import Settings
from intelliwatt_pipelines.pii import mask, redact

# feature of defs.smt.FEATURES -> the settings field of its flag
FLAG_FIELDS = {"api": "flag_smt_api", "agreements": "flag_smt_agreements", "backfill": "flag_smt_backfill"}


def check_flag(settings: Settings, feature: str) -> None:
    """The run would fail at once naming the flag: say so without launching it."""
    from intelliwatt_pipelines.defs.smt import FEATURES

    _, name, flag = FEATURES[feature]
    if not getattr(settings, FLAG_FIELDS[feature]):
        raise UsageError(f"{name} disabled by {flag} (set it to true)")


def op_metadata(result) -> dict:
    """What the run's op (or asset) said it did: its output's or materialization's metadata, plain values."""
    found: dict = {}
    for event in result.all_events:
        data = event.event_specific_data
        if event.event_type_value == "STEP_OUTPUT":
            found.update(data.metadata or {})
        elif event.event_type_value == "ASSET_MATERIALIZATION":
            found.update(data.materialization.metadata or {})
        elif event.event_type_value == "STEP_FAILURE" and getattr(data, "user_failure_data", None):
            found.update(data.user_failure_data.metadata or {})
    return {k: getattr(v, "value", v) for k, v in found.items()}


def launch(settings: Settings, args, job: str, feature: str, config: dict | None = None, *,
           what: str = "") -> int:
    """Check the flag, run ``job`` once in-process with ``config``, say the run, its metadata and (failed)
    its failure; exit 0 or 1."""
    check_flag(settings, feature)
    from intelliwatt_pipelines.defs.definitions import build_defs

    report = Report(f"smt {args.smt_command}" + (f" {args.action}" if getattr(args, "action", None) else ""),
                    args.json)
    result = build_defs(settings).resolve_job_def(job).execute_in_process(
        run_config=dagster_logs(config or {}, args.verbose), instance=instance(settings), raise_on_error=False)
    report.run(result, job)
    metadata = op_metadata(result)
    report.say(f"run {result.run_id} ({job}{', ' + what if what else ''}): "
               f"{'success' if result.success else 'FAILURE'}")
    for key, value in metadata.items():
        report.say(f"  {key}: {value}")
    for error in report.errors:
        print(redact(error), file=sys.stderr, flush=True)
    report.counts = {k: v for k, v in metadata.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    report.details = {"metadata": metadata}
    return report.finish(result.success, f"{job} {'done' if result.success else 'failed'}")


def _ops(op: str, config: dict) -> dict:
    return {"ops": {op: {"config": config}}}


def cmd_agreements(settings: Settings, args) -> int:
    return launch(settings, args, "smt_agreements_job", "agreements")


def cmd_subscriptions(settings: Settings, args) -> int:
    return launch(settings, args, "smt_subscriptions_job", "agreements")


def email_ref(settings: Settings, args) -> str:
    """``env:VAR`` or the given reference, checked so a run that could not have the e-mail is not launched."""
    from intelliwatt_pipelines.ingest.contact_email import ContactEmailError, token_from_ref

    ref = f"env:{args.email_env}" if args.email_env else args.email_ref
    if args.email_env and not os.environ.get(args.email_env, "").strip():
        raise UsageError(f"--email-env {args.email_env}: that variable is not set (export the customer's e-mail "
                         "in it first)")
    try:  # the key is set and opens the reference (what the run will do)
        token_from_ref(ref, settings.smt_email_key)
    except ContactEmailError as error:
        raise UsageError(str(error)) from None
    return ref


def cmd_authorize(settings: Settings, args) -> int:
    from intelliwatt_pipelines.vendors.smt.lifecycle import checked_rep_puct_number

    check_flag(settings, "agreements")
    try:
        checked_rep_puct_number(args.rep_puct)
    except ValueError as error:
        raise UsageError(f"--rep-puct: {str(error).replace('(or allow_tdsp_number=True)', '')}".strip()) from None
    config = {"esiid": args.esiid, "rep_puct_number": args.rep_puct, "email_ref": email_ref(settings, args),
              "meter_number": args.meter_number.strip(), "account_class": "com" if args.commercial else "res",
              "months_back": args.months_back}
    return launch(settings, args, "smt_authorize_job", "agreements", _ops("smt_agreement_created", config),
                  what=mask(args.esiid))


def cmd_terminate(settings: Settings, args) -> int:
    if settings.flag_smt_agreements and not settings.smt_email_key.strip():
        raise UsageError("INTELLIWATT_SMT_EMAIL_KEY is not set: terminating needs the e-mail the agreement was "
                         "made with, kept encrypted under that key")
    return launch(settings, args, "smt_terminate_job", "agreements",
                  _ops("smt_agreements_terminated", {"esiid": args.esiid}), what=mask(args.esiid))


def cmd_unsubscribe(settings: Settings, args) -> int:
    return launch(settings, args, "smt_unsubscribe_job", "agreements",
                  _ops("smt_subscriptions_ended", {"esiid": args.esiid}), what=mask(args.esiid))


def cmd_meter_info(settings: Settings, args) -> int:
    esiids = sorted(set(args.esiid))
    if not esiids:
        raise UsageError("give at least one --esiid")
    return launch(settings, args, "smt_meter_info_job", "api", _ops("smt_meter_info_fetched", {"esiids": esiids}),
                  what=f"{len(esiids)} ESIID(s)")


def cmd_pull(settings: Settings, args) -> int:
    from intelliwatt_pipelines.defs.rebuild import MAX_DAYS

    if args.start > args.end:
        raise UsageError(f"--start {args.start} is after --end {args.end}: give the first day, then the last")
    if (args.end - args.start).days >= MAX_DAYS:
        raise UsageError(f"{(args.end - args.start).days + 1} days asked; pull at most {MAX_DAYS} days per run")
    if args.no_monthly and not args.intervals:
        raise UsageError("--no-monthly without --intervals leaves nothing to fetch")
    esiids = sorted(set(args.esiid))
    config = {"esiids": esiids, "active_agreements": args.active, "start": str(args.start), "end": str(args.end),
              "include_interval": args.intervals, "include_monthly": not args.no_monthly}
    homes = "active agreements" if args.active else f"{len(esiids)} ESIID(s)"
    return launch(settings, args, "smt_energydata_fetch_job", "api", _ops("smt_energydata_fetched", config),
                  what=f"{homes}, {args.start}..{args.end}")


def cmd_backfills(settings: Settings, args) -> int:
    return launch(settings, args, "smt_backfill_job", "backfill")


def cmd_gap_sweep(settings: Settings, args) -> int:
    lookback = settings.smt_gap_lookback_days if args.lookback_days is None else args.lookback_days
    lag = settings.smt_delivery_lag_days if args.lag_days is None else args.lag_days
    return launch(settings, args, "smt_gap_sweep_job", "backfill",
                  _ops("smt_gaps_swept", {"lookback_days": lookback, "lag_days": lag}),
                  what=f"lookback {lookback} day(s), lag {lag} day(s)")


def cmd_new_email_key(settings: Settings, args) -> int:
    from intelliwatt_pipelines.ingest.contact_email import new_key

    print(new_key(), flush=True)
    return 0


def cmd_encrypt_email(settings: Settings, args) -> int:
    """One e-mail from stdin to ``enc:<token>`` on stdout; the e-mail is never echoed, even in an error."""
    from intelliwatt_pipelines.ingest.contact_email import ContactEmailError, encrypt

    if not settings.smt_email_key.strip():
        raise UsageError("INTELLIWATT_SMT_EMAIL_KEY is not set: make one with `intelliwatt smt new-email-key` "
                         "and set it where the jobs run")
    try:
        token = encrypt(sys.stdin.readline(), settings.smt_email_key)
    except ContactEmailError as error:
        raise UsageError(f"stdin: {error}") from None
    print(f"enc:{token}", flush=True)
    return 0


COMMANDS = {"agreements": cmd_agreements, "subscriptions": cmd_subscriptions, "authorize": cmd_authorize,
            "terminate": cmd_terminate, "unsubscribe": cmd_unsubscribe, "meter-info": cmd_meter_info,
            "pull": cmd_pull, "backfills": cmd_backfills, "gap-sweep": cmd_gap_sweep,
            "new-email-key": cmd_new_email_key, "encrypt-email": cmd_encrypt_email}
