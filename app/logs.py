"""structlog set up the way its docs advise: stdout, JSON off a terminal, stdlib records included.

aiogram, SQLAlchemy and Alembic log through the standard library; their records go through the
same :class:`structlog.stdlib.ProcessorFormatter` as ours, so every line has one shape.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
import traceback
from collections.abc import Sequence
from typing import Any

import structlog
from structlog.typing import EventDict, ExcInfo, Processor

_HANDLER_NAME = "app-structlog"


def _drop_color_message(_: Any, __: str, event_dict: EventDict) -> EventDict:
    event_dict.pop("color_message", None)
    return event_dict


# PostgreSQL's details that quote the values of a row or of a key: for the stock items those
# are the goods themselves ("Failing row contains (…, KEY-123, …)", "Key (content)=(KEY-123)
# already exists."). The key's columns (catalog text, maybe an expression) stay; values go.
_QUOTING = re.compile(r"Failing row contains |Key (?=\()")
REDACTED = "(values redacted)"
_JSON_NATIVE = (str, int, float, bool, type(None), dict, list, tuple)


def _closing(text: str, start: int) -> int | None:
    """The index after the parenthesis that closes the one at ``start``."""
    depth = 0
    for index in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[index], 0)
        if depth == 0:
            return index + 1
    return None


def redact_database_values(text: str, *, whole: bool = False) -> str:
    """``text`` without the row and key values PostgreSQL quotes in its error details: from
    each quote to the end of its line, or with ``whole`` (a detail or an error message of its
    own, where a value may span lines) to the end of the text."""
    kept: list[str] = []
    position = 0
    for match in _QUOTING.finditer(text):
        if match.start() < position:
            continue
        values = match.end()
        if match.group() == "Key ":
            close = _closing(text, values)
            if close is None or not text.startswith("=", close):
                continue
            values = close + 1
        kept += [text[position:values], REDACTED]
        line_end = text.find("\n", values)
        position = len(text) if whole or line_end < 0 else line_end
    return "".join(kept) + text[position:] if kept else text


def scrub_exception(exc: BaseException) -> None:
    """Remove, in place, the values PostgreSQL quotes from an exception and everything chained
    to it: asyncpg's ``detail`` (a key's value may span lines) and any message that carries
    one. The engine does this as an error leaves it (:mod:`app.db.engine`), the log does it
    again before a traceback becomes text."""
    pending, seen = [exc], set()
    while pending:
        error = pending.pop()
        if id(error) in seen:
            continue
        seen.add(id(error))
        detail = getattr(error, "detail", None)
        if (
            isinstance(detail, str)
            and (clean := redact_database_values(detail, whole=True)) != detail
        ):
            with contextlib.suppress(AttributeError, TypeError):  # some are immutable
                error.detail = clean  # type: ignore[attr-defined]
        if len(error.args) == 1 and isinstance(error.args[0], str):
            message = redact_database_values(error.args[0], whole=True)
            if message != error.args[0]:
                error.args = (message,)
        linked = [error.__cause__, error.__context__, getattr(error, "orig", None)]
        linked += getattr(error, "exceptions", None) or ()
        pending += [item for item in linked if isinstance(item, BaseException)]


def _format_exception(exc_info: ExcInfo) -> str:
    scrub_exception(exc_info[1])
    return "".join(traceback.format_exception(*exc_info)).rstrip("\n")


class _Redactor:
    """A processor, the last before the renderer: masks the secrets and the quoted row values
    in every value of an event, the formatted traceback included. A value the renderer would
    show by its ``repr`` is masked as that text, before any JSON escaping."""

    def __init__(self, secrets: Sequence[str]) -> None:
        # Each secret as written, as a repr shows it (a message that quotes it, an object's
        # repr) and as JSON escapes it (a quote, a backslash, a non-ASCII letter).
        forms = {
            form
            for secret in secrets
            if len(secret) >= 4
            for form in (
                secret,
                repr(secret)[1:-1],
                json.dumps(secret)[1:-1],
                json.dumps(secret, ensure_ascii=False)[1:-1],
            )
        }
        self.secrets = sorted(forms, key=len, reverse=True)

    def mask(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def text(self, value: str) -> str:
        return redact_database_values(self.mask(value))

    def _value(self, value: Any) -> Any:
        if not isinstance(value, _JSON_NATIVE):
            value = repr(value)
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {key: self._value(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self._value(item) for item in value]
        return value

    def __call__(self, _: Any, __: str, event_dict: EventDict) -> EventDict:
        return {key: self._value(value) for key, value in event_dict.items()}


class _RedactingFormatter(structlog.stdlib.ProcessorFormatter):
    """Masks the secrets once more in the rendered line (a last resort, cheap): the event's
    values were already masked by :class:`_Redactor`."""

    def __init__(self, *args: Any, redactor: _Redactor, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        return self.redactor.mask(super().format(record))


class _StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stdout`` is at the time (it may be swapped, e.g. by pytest)."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


class _AlembicChatterFilter(logging.Filter):
    """Drops the two lines Alembic logs each time it opens a MigrationContext, even read-only."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name != "alembic.runtime.migration":
            return True
        message = str(record.msg)
        return not message.startswith(("Context impl", "Will assume"))


def configure_logging(
    level: str = "INFO", *, json: bool | None = None, secrets: Sequence[str] = ()
) -> None:
    """Route structlog and stdlib logging to stdout. Safe to call more than once."""
    if json is None:
        json = not sys.stdout.isatty()
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _drop_color_message,
    ]
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=sys.stdout.isatty())
    )
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,  # drop below LOG_LEVEL before any other work
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    redactor = _Redactor(secrets)
    formatter = _RedactingFormatter(
        redactor=redactor,
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # Tracebacks become text here (scrubbed first), so that the redactor sees them too.
            structlog.processors.ExceptionRenderer(_format_exception),
            redactor,
            renderer,
        ],
    )
    handler = _StdoutHandler()
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter)
    handler.addFilter(_AlembicChatterFilter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Libraries are chatty below WARNING; Alembic's step lines are worth keeping at INFO.
    logging.getLogger("aiogram.event").setLevel(logging.WARNING)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(level)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


def is_configured() -> bool:
    return any(h.get_name() == _HANDLER_NAME for h in logging.getLogger().handlers)
