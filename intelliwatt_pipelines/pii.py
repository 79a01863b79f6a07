"""Keep personal identifiers out of logs: ESIIDs are shown only as a short salted hash."""

from __future__ import annotations

import hashlib
import logging
import re

from intelliwatt_pipelines import markets
from intelliwatt_pipelines.config import current
from intelliwatt_pipelines.esiid import ESIID_IN_TEXT, ESIID_RE


def mask(value: str) -> str:
    """A stable, non-reversible token for an ESIID (or any identifier) in logs and metadata."""
    salt = current("log_salt")
    digest = hashlib.sha256(f"{salt}:{value}".encode()).hexdigest()[:10]
    return f"esiid#{digest}"


def unlike_esiid(value: str) -> str | None:
    """None for an ESIID; for anything else, how a message names it: by its mask and length only,
    never the value (a near-miss of a real ESIID is as personal as the ESIID)."""
    if ESIID_RE.match(value):
        return None
    kind = "digits" if value.isdigit() else "characters, not all digits"
    return f"{mask(value)} ({len(value)} {kind})"


# Database error texts that quote row values, whatever form the values take: SQLAlchemy's bound
# parameter dump, PostgreSQL's DETAIL (a key's or failing row's values, sent even with
# hide_parameters) and a COPY's CONTEXT (the offending line's text).
_QUOTED_VALUES = [
    (re.compile(r"^\[parameters: .*\]$", re.M), "[parameters hidden]"),
    (re.compile(r"^(DETAIL: .*?(?:=|Failing row contains ))\(.*\)", re.M), r"\1(values hidden)"),
    (re.compile(r"^(CONTEXT: +COPY .*?line [0-9]+(?:, column [^:\n]+)?): .*$", re.M), r"\1: (value hidden)"),
]


def redact(text: str) -> str:
    """Replace any ESIID-looking digit run (17 or 22 digits) in free text, e.g. a file name, and the
    values a database error quotes."""
    for pattern, replacement in _QUOTED_VALUES:
        text = pattern.sub(replacement, text)
    text = ESIID_IN_TEXT.sub(lambda m: mask(m.group(1)), text)
    found = markets.active().identity_in_text  # 1PWR's account numbers too, where they are the ids
    return text if found is ESIID_IN_TEXT else found.sub(lambda m: mask(m.group(1)), text)


class RedactingFilter(logging.Filter):
    """The one redaction point of Python logging: a record's message (its arguments merged in), its
    exception and its stack go through ``redact`` before any handler formats them."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # arguments that do not fit the format: keep both, redacted
            message = f"{record.msg} {record.args!r}"
        record.msg, record.args = redact(message), ()
        if record.exc_info:  # rendered once here, so no handler renders the raw exception
            record.exc_text, record.exc_info = _FORMATTER.formatException(record.exc_info), None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_FORMATTER = logging.Formatter()
_FILTER = RedactingFilter()
# The loggers the platform writes through: the ingest CLI's and the API's, uvicorn's, Dagster's
# Python logger, SQLAlchemy's (pool errors); the root logger's handlers see what propagates.
PLATFORM_LOGGERS = ("", "intelliwatt", "intelliwatt.api", "uvicorn", "uvicorn.error", "uvicorn.access", "dagster",
                    "sqlalchemy")


def install_redaction() -> None:
    """Attach the filter to each platform logger, to its handlers and to logging's last-resort
    handler. A logger's filter sees only the records logged on it, a handler's every record that
    reaches it: call this after logging is configured. Installing again adds no second filter."""
    for name in PLATFORM_LOGGERS:
        logger = logging.getLogger(name)
        for target in (logger, *logger.handlers):
            _attach(target)
    if logging.lastResort:  # a process with no handlers at all still prints warnings through it
        _attach(logging.lastResort)


def _attach(target: logging.Filterer) -> None:
    if not any(isinstance(f, RedactingFilter) for f in target.filters):
        target.addFilter(_FILTER)
