"""The value types of the settings: what each kind of variable accepts, checked by pydantic, and how
a wrong value is described (error messages and the README table say the same words)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

from intelliwatt_pipelines.esiid import ESIID_RE


class Expects:
    """What a value must look like, in words: error messages and the README table both say it."""

    def __init__(self, text: str):
        self.text = text


class UnderHome:
    """A default below ``home`` (wherever that is set), and how the README writes it."""

    def __init__(self, template: str):
        self.template = template

    def __call__(self, data: dict[str, Any]) -> str:
        return self.template.replace("$INTELLIWATT_HOME", str(data["home"]))


_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def rate_limit(value: str) -> tuple[int, int]:
    """``"5/30d"`` → (5 uploads, 30 days in seconds). Units: s, m, h, d."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*([smhd])\s*", value)
    if not match:
        raise ValueError(f"rate limit {value!r} is not like '5/30d' (count/window with unit s, m, h or d)")
    count, window = int(match.group(1)), int(match.group(2)) * _UNIT_SECONDS[match.group(3)]
    return _positive_limit((count, window))


def _positive_limit(limit: tuple[int, int]) -> tuple[int, int]:
    if min(limit) < 1:
        raise ValueError(f"rate limit {limit}: count and window must be at least 1")
    return limit


def _flag(value: Any) -> Any:
    # Only these words: "on" or "yes" silently meaning false (or true) is how a typo goes unnoticed.
    if isinstance(value, str):
        words = {"true": True, "1": True, "false": False, "0": False}
        if value.strip().lower() not in words:
            raise ValueError(f"{value!r} is not true, false, 1 or 0")
        return words[value.strip().lower()]
    return value


def _names(value: Any) -> Any:
    return tuple(v.strip() for v in value.split(",") if v.strip()) if isinstance(value, str) else value


def parse_day(text: str) -> dt.date:
    """A calendar day written YYYY-MM-DD, ASCII digits (fromisoformat alone also takes 20251101 or
    2025-W44-6); the one day parser of the settings and the command line."""
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        raise ValueError("not in the form YYYY-MM-DD")
    return dt.date.fromisoformat(text)  # 2024-02-30 fails here


def _day(value: str) -> str:
    parse_day(value)
    return value


def precedence_patterns(text: str) -> tuple[tuple[str, str], ...]:
    """``source:quality`` items of a precedence list; here, not in cdm/precedence.py, so that the
    setting is checked without config importing cdm (cdm imports config)."""
    patterns = []
    for item in (p.strip() for p in text.split(",")):
        if not item:
            continue
        source, sep, quality = item.partition(":")
        if not sep or not source or quality not in ("*", "actual", "estimated"):
            raise ValueError(f"source precedence item {item!r} is not source:quality (quality actual, "
                             "estimated or *; source a name or *)")
        patterns.append((source, quality))
    return tuple(patterns)


def _precedence(value: str) -> str:
    precedence_patterns(value)
    return value


def _esiid(value: str) -> str:
    if value and not ESIID_RE.match(value):
        raise ValueError("not 17 or 22 digits")
    return value


def _base_url(value: str) -> str:
    if value and not re.fullmatch(r"https?://[^/?#\s]+(/[^?#\s]*)?", value):
        raise ValueError(f"{value!r} is not an http(s) URL without query")
    return value


Home = Annotated[Path, AfterValidator(Path.resolve)]
Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]  # seconds, kWh, percent
Count = Annotated[int, Field(ge=1)]
Port = Annotated[int, Field(ge=1, le=65535)]
Flag = Annotated[bool, BeforeValidator(_flag), Expects("true or false (or 1 or 0)")]
Names = Annotated[tuple[str, ...], BeforeValidator(_names), Expects("a comma-separated list")]
RateLimit = Annotated[tuple[int, int], BeforeValidator(lambda v: rate_limit(v) if isinstance(v, str) else v),
                      AfterValidator(_positive_limit),
                      Expects("count/window, window unit s, m, h or d (e.g. 5/30d)")]
Day = Annotated[str, AfterValidator(_day), Expects("a date YYYY-MM-DD")]
OptionalDay = Annotated[str, AfterValidator(lambda v: v and _day(v)), Expects("a date YYYY-MM-DD, or empty")]
Hours = Annotated[float, Field(gt=0, allow_inf_nan=False)]
SourcePrecedence = Annotated[str, AfterValidator(_precedence),
                             Expects("comma-separated source:quality items (quality actual, estimated or *)")]
Esiid = Annotated[str, AfterValidator(_esiid), Expects("an ESIID (17 or 22 digits)")]
BaseUrl = Annotated[str, AfterValidator(_base_url), Expects("an http(s) URL such as https://api.example.com")]
