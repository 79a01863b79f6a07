"""Several files of one batch taken at once, in worker processes, on a PostgreSQL warehouse.

Parsing and normalizing a file is CPU-bound Python; one process uses one core. Each worker takes
whole files through the same ``take_entry`` a single process runs (its own engine and raw store,
one transaction per file), so crash and idempotence guarantees are the file's, as before. SQLite
allows one writer: there the batch stays in one process.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from collections.abc import Callable, Iterator

from intelliwatt_pipelines.ingest.inbox import IngestOptions, take_entry
from intelliwatt_pipelines.ingest.normalize import FileOutcome
from intelliwatt_pipelines.transport import LocalInbox, RemoteEntry, TransportError


def usable_workers(warehouse_url: str, workers: int, files: int) -> int:
    return 1 if warehouse_url.startswith("sqlite") else max(1, min(workers, files))


def deal(entries: list[RemoteEntry], workers: int) -> list[list[RemoteEntry]]:
    """Largest files first, each to the least loaded worker: the batch ends about together."""
    loads = [[0, i, []] for i in range(workers)]
    for entry in sorted(entries, key=lambda e: -e.size_bytes):
        least = min(loads)
        least[0] += entry.size_bytes
        least[2].append(entry)
    return [share for _, _, share in loads if share]


def _take_share(warehouse_url: str, raw_store_url: str, inbox_dir: str, share: list[RemoteEntry], run_id: str,
                options: IngestOptions) -> list[tuple[RemoteEntry, list[FileOutcome] | str]]:
    from intelliwatt_pipelines.cdm.warehouse import engine_for
    from intelliwatt_pipelines.rawstore import open_raw_store

    engine, store, inbox = engine_for(warehouse_url), open_raw_store(raw_store_url), LocalInbox(inbox_dir)
    done = []
    try:
        for entry in share:
            try:
                done.append((entry, take_entry(engine, store, inbox, entry, run_id=run_id, options=options)))
            except TransportError as exc:  # nothing registered; offered again by the next run
                done.append((entry, str(exc)))
    finally:
        engine.dispose()
    return done


def take_entries(warehouse_url: str, raw_store_url: str, inbox_dir: str, entries: list[RemoteEntry], *,
                 workers: int, run_id: str, options: IngestOptions,
                 ) -> Iterator[tuple[RemoteEntry, list[FileOutcome] | str]]:
    """(entry, outcomes or a transfer error) for every entry, from ``workers`` processes."""
    shares = deal(entries, workers)
    # spawn, not fork: the caller (a Dagster run) has threads whose locks a fork would copy held
    with ProcessPoolExecutor(len(shares), mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_take_share, warehouse_url, raw_store_url, inbox_dir, share, run_id, options)
                   for share in shares]
        for future in as_completed(futures):
            yield from future.result()


def take_serially(take: Callable[[RemoteEntry], list[FileOutcome]], entries: list[RemoteEntry],
                  ) -> Iterator[tuple[RemoteEntry, list[FileOutcome] | str]]:
    for entry in entries:
        try:
            yield entry, take(entry)
        except TransportError as exc:
            yield entry, str(exc)
