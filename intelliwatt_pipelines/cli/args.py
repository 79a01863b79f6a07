"""Argument types of the commands: a bad value is one line naming what was expected."""

from __future__ import annotations

import argparse
import datetime as dt

from intelliwatt_pipelines import markets
from intelliwatt_pipelines.config.values import parse_day
from intelliwatt_pipelines.pii import mask, redact, unlike_esiid


def day_arg(text: str) -> dt.date:
    """A calendar day as YYYY-MM-DD (the settings' day parser)."""
    try:
        return parse_day(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{redact(text)!r} is not a day ({exc}); give a calendar day as "
                                         "YYYY-MM-DD, e.g. 2025-11-01") from None


def esiid_arg(text: str) -> str:
    """An ESIID; a bad one is named by its mask and length only (it may be a near-miss of a real one)."""
    text = text.strip()
    market = markets.active()
    if market.key != markets.DEFAULT_MARKET:  # 1PWR: an account number (masked: it names a customer)
        if not market.identity.match(text):
            raise argparse.ArgumentTypeError(f"{mask(text)} is not an {market.identity_name}: {market.identity_rule}")
        return text
    if bad := unlike_esiid(text):
        raise argparse.ArgumentTypeError(f"{bad} is not an ESIID: an ESIID is 17 "
                                         "(Oncor and others) or 22 (CenterPoint) ASCII digits")
    return text


def raw_file_id_arg(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{redact(text)!r} is not a raw_file id (a whole number of at least 1)")
    return int(text)
