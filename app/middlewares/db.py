"""One AsyncSession per update; the handler owns its transactions, this middleware none.

A handler reads and writes in the blocks of :mod:`app.db.uow` (``async with write(session)``,
``async with read(session)``) and calls Telegram after them, so that no transaction stays open
across a call to the Telegram API (a slow or retried API call would hold row locks for its whole
duration). The middleware never commits: whatever a handler left open when it returns is
rolled back (a read left open at debug; writes made outside a block as a warning, so that a
handler that forgot its block shows).
:class:`TransactionGuard`, a Bot request middleware, reports any API call made inside an open
block, or while the update's session still has a transaction open (a read left open counts).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

import structlog
from aiogram import BaseMiddleware, Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import TelegramObject
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.uow import open_writes, wrote

log = structlog.get_logger(__name__)

current_session: ContextVar[AsyncSession | None] = ContextVar("current_session", default=None)


class DbSessionMiddleware(BaseMiddleware):
    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self.session_factory = session_factory

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        async with self.session_factory() as session:
            data["session"] = session
            token = current_session.set(session)
            try:
                return await handler(event, data)
            finally:
                current_session.reset(token)
                if wrote(session):
                    log.warning("writes made outside a transaction block; rolled back")
                    await session.rollback()
                elif session.in_transaction():
                    log.debug("transaction left open by the handler; rolled back")
                    await session.rollback()


class OpenTransactionError(RuntimeError):
    """A Telegram API call was made while the update's database transaction was open."""


class TransactionGuard(BaseRequestMiddleware):
    """Flags Telegram API calls made inside an open database transaction.

    ``strict`` (the tests) raises; otherwise the call goes on and an error is logged.
    """

    def __init__(self, *, strict: bool = False) -> None:
        self.strict = strict

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        session = current_session.get()
        if open_writes.get() or (session is not None and session.in_transaction()):
            name = type(method).__name__
            if self.strict:
                raise OpenTransactionError(f"{name} called inside an open database transaction")
            log.error("Telegram API call inside an open database transaction", method=name)
        return await make_request(bot, method)
