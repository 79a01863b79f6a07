"""The operator's status page as server-rendered HTML: recent raw files, failures, homes with gaps.

Pure: plain data in, one HTML document out, inline CSS, no external assets and no script. Every
value is HTML-escaped; file names and error texts also go through ``pii.redact`` (a file name or a
parse error may quote an ESIID) and ESIIDs are shown masked. Only the links to a home's pictures
carry its ESIID, as the picture routes need it in their path.
"""

from __future__ import annotations

import datetime as dt
import html
from urllib.parse import quote

from intelliwatt_pipelines.pii import mask, redact

ERROR_CHARS = 300  # a long error is cut on the page; the admin raw-file route has it whole

CSS = """
body{font-family:system-ui,sans-serif;margin:24px;color:#1f2328;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.meta{color:#57606a;font-size:13px}
table{border-collapse:collapse;font-size:13px;width:100%}
th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.num{text-align:right;font-variant-numeric:tabular-nums}
.status{font-weight:600;padding:1px 6px;border-radius:8px}
.normalized{background:#dafbe1}.received{background:#ddf4ff}.failed,.quarantined{background:#ffebe9}
.error{font-family:ui-monospace,monospace;font-size:12px;white-space:pre-wrap;word-break:break-word}
.counts span{margin-right:14px}.empty{color:#57606a;font-style:italic}
"""


def esc(value) -> str:
    return "" if value is None else html.escape(str(value), quote=True)


def _when(value: dt.datetime | None) -> str:
    return "" if value is None else value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def _number(value) -> str:
    return "" if value is None else f"{int(value):,}"


def _error(text: str | None) -> str:
    if not text:
        return ""
    text = redact(text)
    return esc(text if len(text) <= ERROR_CHARS else text[:ERROR_CHARS] + "…")


def _raw_table(rows: list[dict], table_id: str) -> str:
    if not rows:
        return f'<p class="empty" id="{esc(table_id)}-empty">none</p>'
    head = "".join(f"<th>{h}</th>" for h in ("id", "file", "source", "kind", "status", "rows read", "valid",
                                             "invalid", "skipped", "received (UTC)", "error"))
    body = []
    for r in rows:
        body.append(
            f'<tr data-raw-file-id="{esc(r["id"])}"><td class="num">{esc(r["id"])}</td>'
            f'<td>{esc(redact(r["filename"]))}</td><td>{esc(redact(r["source"]))}</td><td>{esc(r["kind"])}</td>'
            f'<td><span class="status {esc(r["status"])}">{esc(r["status"])}</span></td>'
            + "".join(f'<td class="num">{_number(r[k])}</td>' for k in ("rows_read", "rows_valid", "rows_invalid",
                                                                      "rows_skipped"))
            + f'<td>{esc(_when(r["received_at"]))}</td><td class="error">{_error(r["error"])}</td></tr>')
    return f'<table id="{esc(table_id)}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def picture_links(esiid: str) -> tuple[str, str]:
    """Relative links from the status page (…/api/v1/admin/status) to the home's two pictures,
    so they stay right behind a proxy that mounts the API under a prefix."""
    home = quote(esiid, safe="")
    return f"../esiids/{home}/completeness.svg", f"../esiids/{home}/usage-heatmap.svg"


def _gaps_table(homes: list[dict]) -> str:
    if not homes:
        return '<p class="empty" id="gap-homes-empty">no home has days with gaps</p>'
    body = []
    for h in homes:
        calendar, heatmap = picture_links(h["esiid"])
        body.append(f'<tr><td>{esc(mask(h["esiid"]))}</td><td class="num">{_number(h["gap_days"])}</td>'
                    f'<td>{esc(h["first_gap_day"])}</td><td>{esc(h["last_gap_day"])}</td>'
                    f'<td><a class="calendar" href="{esc(calendar)}">completeness calendar</a> · '
                    f'<a class="heatmap" href="{esc(heatmap)}">usage heatmap</a></td></tr>')
    return ('<table id="gap-homes"><thead><tr><th>home</th><th>days with gaps</th><th>first</th><th>last</th>'
            f'<th>pictures</th></tr></thead><tbody>{"".join(body)}</tbody></table>')


def status_html(*, counts: dict[str, int], recent: list[dict], failures: list[dict], gap_homes: list[dict],
                now: dt.datetime) -> str:
    tally = "".join(f'<span data-status="{esc(s)}">{esc(s)}: <b>{_number(n)}</b></span>'
                    for s, n in sorted(counts.items())) or '<span class="empty">no raw files yet</span>'
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<meta name="referrer" content="no-referrer">'
            f"<title>IntelliWatt status</title><style>{CSS}</style></head><body>"
            f'<h1>IntelliWatt status</h1><p class="meta">generated {esc(_when(now))}; '
            "ESIIDs are shown masked, file names and errors redacted</p>"
            f'<p class="counts" id="counts">{tally}</p>'
            f'<h2 id="recent">Recent raw files ({len(recent)})</h2>{_raw_table(recent, "raw-files")}'
            f'<h2 id="failures">Recent failures ({len(failures)})</h2>{_raw_table(failures, "failed-files")}'
            f'<h2 id="gaps">Homes with gaps ({len(gap_homes)})</h2>{_gaps_table(gap_homes)}'
            "</body></html>\n")
