"""Outer middlewares on ``dp.update``, so every event type (messages, callback queries,
pre-checkout queries) gets them."""

from __future__ import annotations

from aiogram import Dispatcher

from app.middlewares.bans import BanMiddleware
from app.middlewares.db import DbSessionMiddleware
from app.middlewares.i18n import I18nMiddleware
from app.middlewares.logging import HandlerNameMiddleware, UpdateLogMiddleware


def setup_middlewares(dispatcher: Dispatcher) -> None:
    dispatcher.update.outer_middleware(UpdateLogMiddleware())
    dispatcher.update.outer_middleware(BanMiddleware(dispatcher["session_factory"]))
    dispatcher.update.outer_middleware(DbSessionMiddleware(dispatcher["session_factory"]))
    dispatcher.update.outer_middleware(I18nMiddleware())
    for observer in dispatcher.observers.values():
        if observer.event_name not in {"update", "error"}:
            observer.middleware(HandlerNameMiddleware())
