"""SVG pictures of one home, written as text from plain data: a completeness calendar and a usage heatmap.

Pure functions (no database, no web framework). Every value placed in the SVG goes through ``esc``
(text and attributes) or ``num`` (finite numbers with a fixed format), so a hostile label can
never become markup. Days are Central local days; a DST day is recognised by its length (23 or
25 hours), so it is marked even on a day with no data.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from intelliwatt_pipelines.api.timeparams import local_midnight

STATUS_COLOURS = {"complete": "#2e7d32", "partial": "#f2c14e", "gaps": "#d1495b", "none": "#e5e7eb"}
STATUS_LABELS = {"complete": "complete", "partial": "partial (edge of delivered range)",
                 "gaps": "gaps (missing intervals)", "none": "no data"}
# DST days get a corner marker and an outline of their own colour, in opposite corners, so they
# differ from ordinary days and from each other whatever the day's status colour.
DST = {"spring": ("#6a1b9a", "spring forward (23 h, 92 intervals)"),
       "fall": ("#1565c0", "fall back (25 h, 100 intervals)")}
NO_DATA = STATUS_COLOURS["none"]
SCALE = ("#440154", "#3b528b", "#21918c", "#5ec962", "#fde725")  # viridis: ordered, colour-blind safe
FONT = "<style>text{font-family:sans-serif;font-size:11px;fill:#222}.h{font-size:14px;font-weight:bold}</style>"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def esc(value) -> str:
    """Text or attribute value, XML-escaped (``&<>"'``)."""
    return html.escape(str(value), quote=True)


def num(value: float, digits: int = 1) -> str:
    """A coordinate or quantity as fixed-point text; never ``nan``/``inf`` (0 instead)."""
    value = float(value)
    return f"{value if math.isfinite(value) else 0.0:.{digits}f}"


def day_hours(day: dt.date) -> int:
    """Hours in the Central local day: 24, 23 (spring forward) or 25 (fall back)."""
    return round((local_midnight(day + dt.timedelta(days=1)) - local_midnight(day)).total_seconds() / 3600)


def dst_kind(day: dt.date) -> str | None:
    return {23: "spring", 25: "fall"}.get(day_hours(day))


def days_between(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def _svg(width: float, height: float, label: str, body: Iterable[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{num(width, 0)}" height="{num(height, 0)}" '
            f'viewBox="0 0 {num(width, 0)} {num(height, 0)}" role="img" aria-label="{esc(label)}">'
            f'<title>{esc(label)}</title>{FONT}<rect width="100%" height="100%" fill="#ffffff"/>'
            + "".join(body) + "</svg>\n")


def _text(x: float, y: float, content: str, extra: str = "") -> str:
    return f'<text x="{num(x)}" y="{num(y)}"{extra}>{esc(content)}</text>'


def _marker(kind: str, x: float, y: float, size: float) -> str:
    """A right triangle in the cell's corner: top-left for spring forward, bottom-right for fall back."""
    leg = size * 0.6
    if kind == "spring":
        points = [(x, y), (x + leg, y), (x, y + leg)]
    else:
        points = [(x + size, y + size), (x + size - leg, y + size), (x + size, y + size - leg)]
    d = "M" + " L".join(f"{num(px)} {num(py)}" for px, py in points) + " Z"
    return f'<path class="dst-marker dst-{kind}" d="{d}" fill="{DST[kind][0]}"/>'


@dataclass(frozen=True)
class CalendarDay:
    """A home's day: its worst series' status and intervals (found of expected)."""

    date: dt.date
    status: str  # complete | partial | gaps
    found: int
    expected: int
    series: int = 1


CELL, PITCH = 22, 25  # calendar cell size and spacing, px
MONTH_W, MONTH_H, MONTHS_PER_ROW = 7 * PITCH + 16, 6 * PITCH + 34, 4
CAL_LEFT, CAL_TOP = 12, 50
WEEKDAYS = "MTWTFSS"
DARK_TEXT = {"partial", "none"}  # status colours light enough for dark day numbers


def _calendar_cell(day: dt.date, found: CalendarDay | None, x: float, y: float) -> str:
    status = found.status if found else "none"
    kind = dst_kind(day)
    what = {"spring": "spring forward, 23 h", "fall": "fall back, 25 h"}.get(kind, f"{day_hours(day)} h")
    tip = f"{day.isoformat()} ({what}): {STATUS_LABELS.get(status, status)}"
    if found:
        tip += f", {found.found} of {found.expected} intervals"
        tip += f" (worst of {found.series} series)" if found.series > 1 else ""
    classes = f"day {esc(status)}" + (f" dst dst-{kind}" if kind else "")
    stroke = f' stroke="{DST[kind][0]}" stroke-width="2"' if kind else ""
    data = (f' data-date="{day.isoformat()}" data-status="{esc(status)}" data-hours="{day_hours(day)}"'
            + (f' data-found="{found.found}" data-expected="{found.expected}"' if found else ""))
    ink = "#222" if status in DARK_TEXT else "#fff"
    return (f'<g class="{classes}" id="day-{day.isoformat()}"{data}><title>{esc(tip)}</title>'
            f'<rect x="{num(x)}" y="{num(y)}" width="{CELL}" height="{CELL}" rx="3" '
            f'fill="{STATUS_COLOURS.get(status, NO_DATA)}"{stroke}/>'
            + (_marker(kind, x, y, CELL) if kind else "")
            + f'<text x="{num(x + CELL / 2)}" y="{num(y + CELL / 2 + 4)}" text-anchor="middle" '
              f'style="font-size:10px;fill:{ink}">{day.day}</text></g>')


def _months(first: dt.date, last: dt.date) -> list[dt.date]:
    months, month = [], first.replace(day=1)
    while month <= last:
        months.append(month)
        month = (month + dt.timedelta(days=32)).replace(day=1)
    return months


def completeness_calendar(days: Iterable[CalendarDay], first: dt.date, last: dt.date, heading: str) -> str:
    """A wall calendar of the local days in [first, last]: one block per month (weeks as rows,
    Monday first), each day coloured by status and numbered, DST days marked, a tooltip per day,
    and a legend. Days of a month outside the range are left out."""
    by_date = {d.date: d for d in days}
    months = _months(first, last)
    rows = (len(months) + MONTHS_PER_ROW - 1) // MONTHS_PER_ROW
    out = [_text(CAL_LEFT, 18, heading, ' class="h"'),
           _text(CAL_LEFT, 34, f"{first.isoformat()} to {last.isoformat()}, Central days; "
                               "each day shows the home's worst series")]
    for i, month in enumerate(months):
        bx = CAL_LEFT + (i % MONTHS_PER_ROW) * MONTH_W
        by = CAL_TOP + (i // MONTHS_PER_ROW) * MONTH_H
        out.append(f'<g class="month" data-month="{month.isoformat()[:7]}">')
        out.append(_text(bx, by + 12, f"{MONTHS[month.month - 1]} {month.year}", ' class="month-label"'))
        out += [_text(bx + c * PITCH + CELL / 2 - 3, by + 26, WEEKDAYS[c]) for c in range(7)]
        lead = month.weekday()
        day = max(month, first)
        while day.month == month.month and day <= last:
            week = (lead + day.day - 1) // 7
            out.append(_calendar_cell(day, by_date.get(day), bx + day.weekday() * PITCH, by + 32 + week * PITCH))
            day += dt.timedelta(days=1)
        out.append("</g>")
    legend_y = CAL_TOP + rows * MONTH_H + 4
    out.append(_calendar_legend(legend_y))
    width = max(CAL_LEFT + min(len(months), MONTHS_PER_ROW) * MONTH_W, 660)
    return _svg(width, legend_y + 52, heading, out)


def _calendar_legend(y: float) -> str:
    parts, x = ['<g class="legend">'], CAL_LEFT
    for status in ("complete", "partial", "gaps", "none"):
        parts.append(f'<rect x="{num(x)}" y="{num(y)}" width="12" height="12" rx="2" fill="{STATUS_COLOURS[status]}"/>')
        parts.append(_text(x + 16, y + 10, STATUS_LABELS[status]))
        x += 26 + 5.6 * len(STATUS_LABELS[status])
    x = CAL_LEFT
    for kind in ("spring", "fall"):
        colour, label = DST[kind]
        parts.append(f'<rect x="{num(x)}" y="{num(y + 24)}" width="{CELL}" height="{CELL}" rx="2" '
                     f'fill="{STATUS_COLOURS["complete"]}" stroke="{colour}" stroke-width="2"/>')
        parts.append(_marker(kind, x, y + 24, CELL))
        parts.append(_text(x + CELL + 6, y + 39, label))
        x += 260
    return "".join(parts) + "</g>"


HOUR_H, HEAT_LEFT, HEAT_TOP = 14, 46, 70


def colour_at(fraction: float) -> str:
    """The scale's colour at 0..1, interpolated between its stops."""
    f = min(max(fraction if math.isfinite(fraction) else 0.0, 0.0), 1.0) * (len(SCALE) - 1)
    i = min(int(f), len(SCALE) - 2)
    a, b = (tuple(int(c[k:k + 2], 16) for k in (1, 3, 5)) for c in (SCALE[i], SCALE[i + 1]))
    return "#" + "".join(f"{round(x + (y - x) * (f - i)):02x}" for x, y in zip(a, b, strict=True))


def _hour_note(day: dt.date, hour: int) -> str:
    kind = dst_kind(day)
    if kind == "fall" and hour == 1:
        return " (01:00 happens twice on this day: both hours summed)"
    if kind == "spring" and hour == 2:
        return " (02:00 does not exist on this day: clocks skip to 03:00)"
    return ""


def usage_heatmap(kwh: Mapping[tuple[dt.date, int], float], first: dt.date, last: dt.date, heading: str,
                  channel: str = "consumption") -> str:
    """Hour of day (rows, 0-23 Central) by day (columns), coloured by kWh in the hour; an hour with
    no real reading is grey. The scale runs from 0 to the largest hour shown."""
    days = days_between(first, last)
    w = max(3, min(28, 1100 // len(days)))
    top = max((v for v in kwh.values() if math.isfinite(v)), default=0.0)
    out = [_text(HEAT_LEFT, 18, heading, ' class="h"'),
           _text(HEAT_LEFT, 34, f"{first.isoformat()} to {last.isoformat()}: {channel} kWh per Central hour "
                                "(real readings; placeholders not counted)")]
    month = None
    for col, day in enumerate(days):
        x = HEAT_LEFT + col * w
        if (day.year, day.month) != month:
            month = (day.year, day.month)
            out.append(_text(x, HEAT_TOP - 22, f"{MONTHS[day.month - 1]} {day.year}", ' class="month"'))
        if w >= 18:
            out.append(_text(x + 2, HEAT_TOP - 6, str(day.day)))
        if kind := dst_kind(day):
            out.append(_column_marker(kind, day, x, w))
        out.append(_heat_column(day, x, w, kwh, top))
    for hour in range(0, 24, 3):
        out.append(_text(4, HEAT_TOP + hour * HOUR_H + 11, f"{hour:02d}:00"))
    grid_right = HEAT_LEFT + len(days) * w
    out.append(_heat_legend(HEAT_TOP + 24 * HOUR_H + 16, top))
    return _svg(max(grid_right + 20, 640), HEAT_TOP + 24 * HOUR_H + 96, heading, out)


def _column_marker(kind: str, day: dt.date, x: float, w: float) -> str:
    """A small triangle over a DST day's column (up: spring forward, down: fall back)."""
    y, mid = HEAT_TOP - 4, x + w / 2
    points = ((mid - 4, y), (mid + 4, y), (mid, y - 6)) if kind == "spring" else ((mid - 4, y - 6), (mid + 4, y - 6), (mid, y))
    d = "M" + " L".join(f"{num(px)} {num(py)}" for px, py in points) + " Z"
    return (f'<path class="dst-marker dst-{kind}" data-date="{day.isoformat()}" d="{d}" fill="{DST[kind][0]}">'
            f'<title>{esc(day.isoformat() + ": " + DST[kind][1])}</title></path>')


def _heat_column(day: dt.date, x: float, w: float, kwh: Mapping[tuple[dt.date, int], float], top: float) -> str:
    kind = dst_kind(day)
    cells = [f'<g class="day-column{" dst-" + kind if kind else ""}" data-date="{day.isoformat()}">']
    for hour in range(24):
        value = kwh.get((day, hour))
        has = value is not None and math.isfinite(value)
        fill = colour_at(value / top if top else 0.0) if has else NO_DATA
        skipped = kind == "spring" and hour == 2
        cls = "hour" + ("" if has else " no-data") + (" skipped" if skipped else "") + \
              (" repeated" if kind == "fall" and hour == 1 else "")
        amount = f"{num(value, 3)} kWh" if has else "no data"
        tip = f"{day.isoformat()} {hour:02d}:00: {amount}{_hour_note(day, hour)}"
        cells.append(f'<rect class="{cls}" data-hour="{hour}" x="{num(x)}" y="{num(HEAT_TOP + hour * HOUR_H)}" '
                     f'width="{num(max(w - 1, 1))}" height="{HOUR_H - 1}" fill="{fill}"'
                     + (f' data-kwh="{num(value, 3)}"' if has else "") + f'><title>{esc(tip)}</title></rect>')
    return "".join(cells) + "</g>"


def _heat_legend(y: float, top: float) -> str:
    x, width = HEAT_LEFT, 240
    stops = "".join(f'<stop offset="{num(i / (len(SCALE) - 1), 2)}" stop-color="{c}"/>' for i, c in enumerate(SCALE))
    parts = ['<g class="legend">', f'<defs><linearGradient id="scale">{stops}</linearGradient></defs>',
             f'<rect class="scale" x="{num(x)}" y="{num(y)}" width="{width}" height="12" fill="url(#scale)"/>']
    for fraction in (0.0, 0.5, 1.0):
        tx = x + fraction * width
        parts.append(f'<line x1="{num(tx)}" y1="{num(y + 12)}" x2="{num(tx)}" y2="{num(y + 16)}" stroke="#222"/>')
        parts.append(_text(tx - 10, y + 28, f"{num(top * fraction, 2)}", ' class="tick"'))
    parts.append(_text(x + width + 10, y + 10, "kWh in the hour"))
    parts.append(f'<rect x="{num(x + width + 110)}" y="{num(y)}" width="12" height="12" fill="{NO_DATA}"/>')
    parts.append(_text(x + width + 126, y + 10, "no data"))
    parts.append(_text(x, y + 46, "Triangles mark DST days. Fall back (\u25bc): the 01:00 row sums both 01:00 hours."))
    parts.append(_text(x, y + 60, "Spring forward (\u25b2): 02:00 does not exist on the clock, shown as no data."))
    return "".join(parts) + "</g>"
