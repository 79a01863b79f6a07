"""The Dagster side of the one redaction point (``pii``).

A failed step's error is serialized into the run's event log, exception chain and all, without
passing through any logging filter: ``redacted_errors`` makes asset, op, check and sensor bodies
fail with a ``dg.Failure`` holding the redacted error instead. ``console_logger`` is Dagster's
console logger with the redaction filter on its handlers.
"""

import contextlib
import functools
import inspect
import traceback

import dagster as dg

from intelliwatt_pipelines.pii import RedactingFilter, redact


def redacted_errors(fn):
    """Decorate a body (under ``@dg.asset`` and the like); generator bodies stay generators."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def generator_body(*args, **kwargs):
            with _failing_redacted():
                yield from fn(*args, **kwargs)

        return generator_body

    @functools.wraps(fn)
    def body(*args, **kwargs):
        with _failing_redacted():
            return fn(*args, **kwargs)

    return body


@contextlib.contextmanager
def _failing_redacted():
    try:
        yield
    except dg.RetryRequested:
        raise
    # ``from None``: the original chain (a database error quoting its statement) is not serialized;
    # its redacted text is the description, traceback included.
    except dg.Failure as exc:
        raise dg.Failure(description=redact(exc.description or ""), metadata=exc.metadata,
                         allow_retries=exc.allow_retries) from None
    except Exception as exc:
        raise dg.Failure(description=redact("".join(traceback.format_exception(exc)))) from None


def _console_logger(init_context: dg.InitLoggerContext):
    logger = dg.colored_console_logger.logger_fn(init_context)
    for handler in logger.handlers:
        handler.addFilter(RedactingFilter())
    return logger


# Same key ("console") and config as Dagster's own, so run configs naming it (the CLI's) get this one.
console_logger = dg.LoggerDefinition(_console_logger, config_schema=dg.colored_console_logger.config_schema,
                                     description="Dagster's colored console logger, ESIIDs redacted.")
