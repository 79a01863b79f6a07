"""A large SMT interval CSV as chunks of whole days, read from the raw store as a stream.

Parsed whole, a file costs about 20x its size in memory; in chunks, memory is bounded by the chunk
size. The chunks end as the whole file would: placeholders see each series' last interval of the
earlier chunks, and a series' span is checked over all of them.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import pandas as pd

from intelliwatt_pipelines.cdm.normalize import SERIES, add_placeholders
from intelliwatt_pipelines.ingest.hints import Hints
from intelliwatt_pipelines.ingest.writes import Chunk
from intelliwatt_pipelines.kinds import detect_kind
from intelliwatt_pipelines.rawstore import RawStore
from intelliwatt_pipelines.sources import smt_interval
from intelliwatt_pipelines.sources.frames import ReadingWindow, SpanTracker


def is_smt_interval_csv(store: RawStore, row) -> bool:
    """By its first 64 KiB: the file is never read whole here."""
    with store.open(row.sha256) as stream:
        head = stream.read(65536)
    return b"\x00" not in head and detect_kind(head, row.filename) == smt_interval.KIND


def smt_interval_chunks(store: RawStore, row, hints: Hints, window: ReadingWindow, rows: int) -> Iterator[Chunk]:
    """Chunks of about ``rows`` rows. Raises ``smt_interval.NotGroupedByDay`` when the file's days
    are not together (parse it whole instead), ParseError when a series spans more days than
    ``window`` allows (at the chunk that passes it). Any other exception reaches the caller and
    fails the run: mid-stream, a parser defect and the raw store failing cannot be told apart."""
    spans = SpanTracker(window)
    last = pd.DataFrame()  # each series' last interval so far: placeholders across chunk edges
    with store.open(row.sha256) as raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as text:
        for parsed in smt_interval.parse_chunks(text, meter=hints.meter, rows=rows, window=window):
            if parsed.frame.empty:
                yield Chunk(parsed, parsed.frame)
                continue
            spans.add(parsed.frame)
            frame = _placeholders_after(parsed.frame, last)
            last = _last_per_series(pd.concat([last, frame], ignore_index=True))
            yield Chunk(parsed, frame)


def _placeholders_after(frame: pd.DataFrame, last: pd.DataFrame) -> pd.DataFrame:
    """``add_placeholders`` for one chunk, seeing each series' last interval of earlier chunks, so a
    hole across a chunk edge is filled as it would be in the whole file."""
    anchors = last.merge(frame[SERIES].drop_duplicates(), on=SERIES) if len(last) else last
    if anchors.empty:
        return add_placeholders(frame)
    return add_placeholders(pd.concat([anchors, frame], ignore_index=True)).iloc[len(anchors):] \
        .reset_index(drop=True)


def _last_per_series(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("ts_utc", kind="mergesort").drop_duplicates(SERIES, keep="last")[frame.columns]
