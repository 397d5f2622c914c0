"""structlog set up the way its docs advise: stdout, JSON off a terminal, stdlib records included.

aiogram, SQLAlchemy and Alembic log through the standard library; their records go through the
same :class:`structlog.stdlib.ProcessorFormatter` as ours, so every line has one shape.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Sequence
from typing import Any

import structlog
from structlog.typing import EventDict, Processor

_HANDLER_NAME = "app-structlog"


def _drop_color_message(_: Any, __: str, event_dict: EventDict) -> EventDict:
    event_dict.pop("color_message", None)
    return event_dict


# PostgreSQL's details that quote the values of a row or of a key: for the stock items those
# are the goods themselves ("Failing row contains (…, KEY-123, …)"). The rest of the line goes.
_ROW_VALUES = re.compile(r"(Failing row contains |DETAIL:\s+Key \([^)\n]*\)=).*")
REDACTED = "(values redacted)"


def redact_database_values(text: str) -> str:
    """``text`` without the row and key values PostgreSQL quotes in its error details."""
    return _ROW_VALUES.sub(lambda m: m.group(1) + REDACTED, text)


class _Redactor:
    """A processor: masks the secrets and the quoted row values in every value of an event,
    the formatted traceback included (it runs after ``format_exc_info``)."""

    def __init__(self, secrets: Sequence[str]) -> None:
        self.secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def text(self, value: str) -> str:
        for secret in self.secrets:
            value = value.replace(secret, "***")
        return redact_database_values(value)

    def _value(self, value: Any) -> Any:
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
    """Masks secrets (the bot token, the database password) wherever they would appear: in
    the event's values (by :class:`_Redactor`), and once more in the rendered line."""

    def __init__(self, *args: Any, redactor: _Redactor, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        return self.redactor.text(super().format(record))


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
            # Tracebacks become text here, so that the redactor sees them too.
            structlog.processors.format_exc_info,
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
