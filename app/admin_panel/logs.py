"""SQLAdmin logs every exception of a create or edit with its traceback; an owner's input error
(:class:`~app.admin_panel.texts.PanelInputError`, shown on the form) is one line instead."""

from __future__ import annotations

import logging

from app.admin_panel.texts import PanelInputError


class InputErrorFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], PanelInputError):
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.msg, record.args = "form refused: the owner's input is not valid", ()
        return True


def install() -> None:
    logger = logging.getLogger("sqladmin.application")
    if not any(isinstance(f, InputErrorFilter) for f in logger.filters):
        logger.addFilter(InputErrorFilter())
