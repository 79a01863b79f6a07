"""Keyset cursors of the paged read routes: where a page ended, as an opaque URL-safe string.

An intervals page ends at a (meter, channel, ts_utc), a daily-completeness page at a (meter,
channel, local_date); the string is the base64 of a JSON array of the three, and anything else
(undecodable, out of range, the other kind of cursor) is a 422.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
from dataclasses import dataclass

import orjson

from intelliwatt_pipelines.api.errors import ApiError
from intelliwatt_pipelines.api.timeparams import YEARS


def _pack(parts: list[str]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(parts)).decode().rstrip("=")


def _unpack(text: str) -> tuple[str, str, str]:
    """A cursor's (meter, channel, position) strings; ValueError for anything else."""
    meter, channel, position = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    if not all(isinstance(p, str) for p in (meter, channel, position)) or "\x00" in meter + channel:
        raise ValueError
    return meter, channel, position


def _instant(text: str) -> dt.datetime:
    """An aware ISO-8601 instant, in UTC."""
    ts_utc = dt.datetime.fromisoformat(text)
    if ts_utc.tzinfo is None:
        raise ValueError
    return ts_utc.astimezone(dt.timezone.utc)


def _day(text: str) -> dt.date:
    if len(text) != 10:  # an intervals cursor is not one
        raise ValueError
    return dt.date.fromisoformat(text)


@dataclass(frozen=True)
class _SeriesCursor:
    """The last (meter, channel, position) a page sent; a subclass names the position and how to read it."""

    meter: str
    channel: str

    def encode(self) -> str:
        position = getattr(self, dataclasses.fields(self)[2].name)
        return _pack([self.meter, self.channel, position.isoformat()])

    @classmethod
    def decode(cls, text: str):
        try:
            meter, channel, text = _unpack(text)
            position = cls.parse(text)
            if not YEARS[0] <= position.year <= YEARS[1]:
                raise ValueError
            return cls(meter, channel, position)
        except Exception:  # anything undecodable, out of range or of the wrong shape
            raise ApiError(422, "invalid_parameter", "cursor: not a cursor this API returned") from None


@dataclass(frozen=True)
class Cursor(_SeriesCursor):
    """Where an intervals page ended: the last (meter, channel, ts_utc) sent."""
    ts_utc: dt.datetime
    parse = staticmethod(_instant)


@dataclass(frozen=True)
class DayCursor(_SeriesCursor):
    """Where a daily-completeness page ended: the last (meter, channel, local_date) sent."""
    local_date: dt.date
    parse = staticmethod(_day)
