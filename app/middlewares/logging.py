"""One structured log line per update: update_id, user_id, handler, outcome and duration."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiogram import BaseMiddleware
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.dispatcher.event.handler import HandlerObject
from aiogram.types import TelegramObject, Update, User

log = structlog.get_logger("app.updates")

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class UpdateLogMiddleware(BaseMiddleware):
    """Outer middleware on ``update``: binds the context every log line of the update carries."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        assert isinstance(event, Update)
        user: User | None = data.get("event_from_user")
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(
            update_id=event.update_id, user_id=user.id if user else None
        )
        started = time.perf_counter()
        outcome = "error"
        try:
            result = await handler(event, data)
            outcome = "unhandled" if result is UNHANDLED else "handled"
            return result
        finally:
            log.info(
                "update",
                event_type=event.event_type,
                handler=structlog.contextvars.get_contextvars().get("handler"),
                outcome=outcome,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )
            structlog.contextvars.clear_contextvars()


class HandlerNameMiddleware(BaseMiddleware):
    """Inner middleware: records which handler took the update (same task, same contextvars)."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        found = data.get("handler")
        if isinstance(found, HandlerObject):
            callback = found.callback
            name = f"{callback.__module__}.{getattr(callback, '__qualname__', callback)}"
            structlog.contextvars.bind_contextvars(handler=name.removeprefix("app.handlers."))
        return await handler(event, data)
