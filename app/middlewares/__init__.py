"""Outer middlewares on ``dp.update``, so every event type (messages, callback queries,
pre-checkout queries) gets them. aiogram's own FSM middleware, already there, is replaced by
one that lets a pre-checkout query past the user's event lock (:mod:`app.middlewares.fsm`)."""

from __future__ import annotations

from aiogram import Dispatcher

from app.bot.throttle import create_throttle
from app.middlewares.bans import NOTICE_PERIOD, BanMiddleware
from app.middlewares.callbacks import AnswerCallbacks
from app.middlewares.db import DbSessionMiddleware
from app.middlewares.fsm import exempt_pre_checkout
from app.middlewares.i18n import I18nMiddleware
from app.middlewares.logging import HandlerNameMiddleware, UpdateLogMiddleware


def setup_middlewares(dispatcher: Dispatcher) -> None:
    exempt_pre_checkout(dispatcher)
    dispatcher.update.outer_middleware(UpdateLogMiddleware())
    bot_id = dispatcher["settings"].bot_token.get_secret_value().split(":", 1)[0]
    notices = create_throttle(dispatcher.storage, NOTICE_PERIOD, bot_id=bot_id)
    bans = BanMiddleware(dispatcher["session_factory"], notices=notices)
    dispatcher["bans"] = bans  # /ban and /unban make it forget what it read of that user
    dispatcher.update.outer_middleware(bans)
    dispatcher.update.outer_middleware(DbSessionMiddleware(dispatcher["session_factory"]))
    dispatcher.update.outer_middleware(I18nMiddleware())
    dispatcher.callback_query.middleware(AnswerCallbacks())
    for observer in dispatcher.observers.values():
        if observer.event_name not in {"update", "error"}:
            observer.middleware(HandlerNameMiddleware())
