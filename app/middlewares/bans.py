"""Updates from banned users stop here, before any handler runs.

A banned user's message gets one short "access restricted" answer (at most one per
:data:`NOTICE_PERIOD` per user, so a banned user cannot make the bot talk), a button press an
answer with the same text, and a pre-checkout query is refused. The pre-checkout query, the
last step before the money is taken, is checked against the database itself (one primary-key
read), so a ban set a moment ago on another replica refuses it too.

The banned ids (``users.banned_at``, set from the web panel) are read again every
:data:`REFRESH_SECONDS`, in a session of their own (one short query through a partial index),
by one update while the others use the ids already read: the cost of an update does not
depend on the number of users, and a ban reaches every replica within seconds. Payments are
never dropped (the money is taken: the payment path settles it as always), nor are the
owners' updates.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiogram import BaseMiddleware
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.types import TelegramObject, Update, User
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.bot.throttle import MemoryThrottle, Throttle
from app.db.uow import read
from app.filters.chats import is_private
from app.i18n import translator
from app.services.bans import banned_ids, is_banned

log = structlog.get_logger(__name__)

REFRESH_SECONDS = 5.0
NOTICE_PERIOD = 600.0  # seconds: one "access restricted" message per banned user per 10 min
Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


def _is_payment(update: Update) -> bool:
    message = update.message
    return message is not None and (
        message.successful_payment is not None or message.refunded_payment is not None
    )


class BanMiddleware(BaseMiddleware):
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        *,
        refresh_seconds: float = REFRESH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        notices: Throttle | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.notices = notices or MemoryThrottle(NOTICE_PERIOD)
        self.refresh_seconds = refresh_seconds
        self._clock = clock
        self._banned: frozenset[int] | None = None
        self._fresh_until = float("-inf")
        self._loading: asyncio.Task[None] | None = None

    def expire(self) -> None:
        """Read the banned ids again on the next update."""
        self._fresh_until = float("-inf")

    async def _load(self) -> None:
        try:
            async with self.session_factory() as session, read(session, autocommit=True):
                self._banned = await banned_ids(session)
        except Exception as exc:  # keep serving with the ids read before
            log.warning("could not read the banned users", error=type(exc).__name__)
        finally:
            self._fresh_until = self._clock() + self.refresh_seconds
            self._loading = None

    async def banned(self) -> frozenset[int]:
        """The banned ids; the update that finds them stale reads them again (the updates
        arriving meanwhile use the ones read before, except before the first read)."""
        if self._clock() >= self._fresh_until and self._loading is None:
            self._loading = asyncio.create_task(self._load())
            await asyncio.shield(self._loading)
        elif self._banned is None and self._loading is not None:
            await asyncio.shield(self._loading)
        return self._banned or frozenset()

    async def _banned_now(self, user_id: int) -> bool:
        """The database's answer, for the pre-checkout query (a ban of a second ago counts)."""
        try:
            async with self.session_factory() as session, read(session, autocommit=True):
                return await is_banned(session, user_id)
        except Exception as exc:  # the cached ids still apply
            log.warning("could not read the ban", error=type(exc).__name__)
            return user_id in await self.banned()

    async def _refuse(self, event: Update, user: User) -> None:
        t = translator(user.language_code)
        text = t("buyer.banned")
        if event.pre_checkout_query is not None:
            await event.pre_checkout_query.answer(ok=False, error_message=text)
        elif event.callback_query is not None:
            await event.callback_query.answer(text, show_alert=True)
        elif (
            event.message is not None
            and is_private(event.message.chat)  # never a word in a group (app.filters.chats)
            and await self.notices.allow(f"banned:{user.id}")
        ):
            await event.message.answer(text)

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None or not isinstance(event, Update) or _is_payment(event):
            return await handler(event, data)
        settings = data.get("settings")
        if settings is not None and user.id in settings.admin_ids:
            return await handler(event, data)
        if event.pre_checkout_query is not None:
            banned = await self._banned_now(user.id)
        else:
            banned = user.id in await self.banned()
        if banned:
            log.info("update from a banned user refused")
            await self._refuse(event, user)
            return UNHANDLED
        return await handler(event, data)
