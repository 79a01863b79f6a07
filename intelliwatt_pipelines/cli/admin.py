"""The commands that launch no run: ``migrate``, ``seed``, ``api`` and ``redact-log``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from intelliwatt_pipelines.cli.runs import instance
from intelliwatt_pipelines.config import Settings
from intelliwatt_pipelines.pii import install_redaction, redact


def cmd_migrate(settings: Settings, _args) -> int:
    from intelliwatt_pipelines.cdm.warehouse import create_engine, migrate
    from intelliwatt_pipelines.defs.partitions import drop_legacy_partitions

    migrate(create_engine(settings.warehouse_url))
    print("warehouse schema is at the newest migration")
    if dropped := drop_legacy_partitions(instance(settings)):
        print(f"Dagster instance: deleted {dropped} per-ESIID partition(s) of the old ESIID x day layout")
    return 0


def cmd_seed(settings: Settings, args) -> int:
    from intelliwatt_pipelines.samples import seed_inbox

    written = seed_inbox(Path(args.inbox) if args.inbox else settings.inbox_dir)
    print(f"seeded {len(written)} sample file(s)")
    return 0


def cmd_api(settings: Settings, args) -> int:
    """Serve the read API and upload relay with uvicorn (migrating the warehouse first)."""
    import gc
    import logging

    import uvicorn

    from intelliwatt_pipelines.api import create_app
    from intelliwatt_pipelines.cdm.warehouse import create_engine, migrate

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    install_redaction()  # on the handler just made, which uvicorn's loggers propagate to
    migrate(create_engine(settings.warehouse_url))
    # Long-lived objects (modules, app, settings) leave the garbage collector's scans, and young
    # collections run less often: a month's arrays otherwise trigger full collections mid-request.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    # Uvicorn's access log prints raw paths, which hold ESIIDs: the app logs each request itself.
    uvicorn.run(create_app(settings), host=args.host or settings.api_host, port=args.port or settings.api_port,
                access_log=False, log_config=None, workers=1)
    return 0


def cmd_redact_log(_settings: Settings, _args) -> int:
    """Copy stdin to stdout line by line with every ESIID-like number hashed. Dagster's own processes
    log partition keys (``date|esiid``); their output goes through this before it reaches a log.

    Ctrl-C is ignored: the process writing into the pipe gets it too, and its last lines (how it
    shut down) are still copied; this ends on end of input. A closed output ends it quietly."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    out = sys.stdout.buffer
    try:
        for line in sys.stdin.buffer:
            out.write(redact(line.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape"))
            out.flush()
    except BrokenPipeError:
        # Nobody reads any more: point stdout at /dev/null so the interpreter's final flush is quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
