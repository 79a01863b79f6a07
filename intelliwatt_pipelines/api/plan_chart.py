"""An SVG line chart of monthly cost per plan, written as text from plain data (no database, no web framework).

Months run along x (the union of every series' months, in order), dollars up y from $0; one polyline per plan
with a dot per month (its tooltip gives the month and cost), and a legend below, one line per plan. Plan
names come from suppliers' documents and WattBuy, so every label goes through ``_text``: characters XML 1.0
cannot carry are dropped (escaping alone would still leave an ill-formed document), then it is escaped.
"""

from __future__ import annotations

import math
import re

from intelliwatt_pipelines.api.pictures import MONTHS, esc, num

Series = tuple[str, list[tuple[str, float]]]
# Tableau 10: distinct for the usual handful of plans; past ten the colours repeat, dashed.
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
           "#bab0ac")
WIDTH, LEFT, RIGHT, TOP, PLOT_H, LEGEND_ROW = 760, 64, 24, 44, 260, 18
LABEL_MAX = 90  # legend characters; the full label stays in the tooltip
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_YEAR_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
STYLE = ("<style>text{font-family:sans-serif;font-size:11px;fill:#222}.h{font-size:14px;font-weight:bold}"
         ".axis{stroke:#555}.grid{stroke:#e5e7eb}</style>")


def _text(value) -> str:
    return esc(_NOT_XML.sub("", str(value)))


def _short(label: str) -> str:
    return label if len(label) <= LABEL_MAX else label[:LABEL_MAX - 1] + "…"


def _month_label(year_month: str) -> str:
    found = _YEAR_MONTH.match(year_month)
    return f"{MONTHS[int(found.group(2)) - 1]} {found.group(1)[2:]}" if found else year_month


def _step(top: float) -> float:
    """A round gridline step (1, 2 or 5 times a power of ten) giving at most five lines up to ``top``."""
    raw = max(top, 1.0) / 5
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def _y_axis(step: float, lines: int, scale) -> list[str]:
    out, digits = [], 0 if step >= 1 else 2  # cents only when the steps are under a dollar
    for i in range(lines + 1):
        y = scale(i * step)
        out.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{num(y)}" y2="{num(y)}"/>'
                   f'<text class="dollars" x="{LEFT - 6}" y="{num(y + 4)}" text-anchor="end">'
                   f"${i * step:,.{digits}f}</text>")
    return out


def _x_axis(months: list[str], xs: dict[str, float]) -> list[str]:
    base = TOP + PLOT_H
    out = [f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{base}" y2="{base}"/>']
    for ym in months:
        out.append(f'<text class="month" x="{num(xs[ym])}" y="{base + 16}" text-anchor="middle">'
                   f"{_text(_month_label(ym))}</text>")
    return out


def _series(index: int, label: str, points: list[tuple[str, float]], xs: dict[str, float], scale) -> str:
    colour = PALETTE[index % len(PALETTE)]
    dash = ' stroke-dasharray="6 3"' if index >= len(PALETTE) else ""
    points = sorted(points)  # month order, whatever order the caller gave
    coords = [(xs[ym], scale(max(dollars, 0.0))) for ym, dollars in points]
    line = " ".join(f"{num(x)},{num(y)}" for x, y in coords)
    dots = "".join(f'<circle cx="{num(x)}" cy="{num(y)}" r="3" fill="{colour}"><title>{_text(label)} – '
                   f"{_text(_month_label(ym))}: ${dollars:,.2f}</title></circle>"
                   for (x, y), (ym, dollars) in zip(coords, points, strict=True))
    return (f'<g class="series" data-index="{index}"><title>{_text(label)}</title>'
            f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>{dots}</g>')


def _legend(labels: list[str]) -> list[str]:
    top = TOP + PLOT_H + 36
    out = []
    for i, label in enumerate(labels):
        y = top + i * LEGEND_ROW
        colour = PALETTE[i % len(PALETTE)]
        dash = ' stroke-dasharray="6 3"' if i >= len(PALETTE) else ""
        out.append(f'<g class="legend-item"><line x1="{LEFT}" x2="{LEFT + 22}" y1="{y - 4}" y2="{y - 4}" '
                   f'stroke="{colour}" stroke-width="3"{dash}/>'
                   f'<text x="{LEFT + 30}" y="{y}">{_text(_short(label))}</text></g>')
    return out


def monthly_cost_svg(series: list[Series], title: str) -> str:
    """The chart of ``series`` (label, [(YYYY-MM, dollars)]) under ``title``; a note instead of lines when
    there is nothing to draw. Negative costs are drawn at $0 (the engine clamps them anyway)."""
    months = sorted({ym for _, points in series for ym, _ in points})
    height = TOP + PLOT_H + 36 + max(len(series), 1) * LEGEND_ROW + 8
    body = [f'<text class="h" x="{LEFT}" y="24">{_text(title)}</text>']
    if not months:
        body.append(f'<text x="{LEFT}" y="{TOP + PLOT_H / 2}">No plan could be priced for this home.</text>')
    else:
        width = WIDTH - LEFT - RIGHT
        pitch = width / len(months)
        xs = {ym: LEFT + pitch * (i + 0.5) for i, ym in enumerate(months)}
        top = max((d for _, points in series for _, d in points if math.isfinite(d)), default=0.0)
        step = _step(top)
        lines = max(1, math.ceil(top / step))

        def scale(dollars: float) -> float:
            return TOP + PLOT_H - PLOT_H * (dollars if math.isfinite(dollars) else 0.0) / (lines * step)

        body += _y_axis(step, lines, scale) + _x_axis(months, xs)
        body += [_series(i, label, points, xs, scale) for i, (label, points) in enumerate(series)]
        body += _legend([label for label, _ in series])
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{num(height, 0)}" '
            f'viewBox="0 0 {WIDTH} {num(height, 0)}" role="img" aria-label="{_text(title)}">'
            f'<title>{_text(title)}</title>{STYLE}<rect width="100%" height="100%" fill="#ffffff"/>'
            + "".join(body) + "</svg>\n")
