"""Updates from banned users stop here, before any handler runs.

A banned user's message gets one short "access restricted" answer (at most one per
:data:`NOTICE_PERIOD` per user, so a banned user cannot make the bot talk), a button press an
answer with the same text. The pre-checkout query, the last step before the money is taken,
passes here: its own check reads the ban from the database with the order, in the same round
trip (:mod:`app.services.pre_checkout`), so a ban set a moment ago on another replica refuses
it too, with the same text.

Every other update checks its own user only (``users.banned_at``, set by ``/ban`` or the web
panel): one primary-key read in a session of its own, whose answer is kept for
:data:`TTL_SECONDS`, so a user's burst of updates costs one read and a ban set on another
replica applies within seconds. Neither the check nor the memory depends on how many users
are banned: only the users seen within the last few seconds are remembered (at most
:data:`MAX_REMEMBERED`). ``/ban`` and ``/unban`` forget the user's answer at once on their
replica. Payments are never dropped (the money is taken: the payment path settles it as
always), nor are the owners' updates.
"""

from __future__ import annotations

import time
from collections import OrderedDict
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
from app.services.bans import is_banned

log = structlog.get_logger(__name__)

TTL_SECONDS = 5.0  # how long a user's answer is used before it is read again
MAX_REMEMBERED = 10_000  # users whose answer is kept at once (the most recently read)
NOTICE_PERIOD = 600.0  # seconds: one "access restricted" message per banned user per 10 min
Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


def _passes(update: Update) -> bool:
    """A payment is settled whoever made it; a pre-checkout query's own check reads the ban
    from the database with the order (a ban of a second ago counts: app.services.pre_checkout).
    """
    if update.pre_checkout_query is not None:
        return True
    message = update.message
    return message is not None and (
        message.successful_payment is not None or message.refunded_payment is not None
    )


class BanMiddleware(BaseMiddleware):
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        *,
        ttl_seconds: float = TTL_SECONDS,
        max_remembered: int = MAX_REMEMBERED,
        clock: Callable[[], float] = time.monotonic,
        notices: Throttle | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.notices = notices or MemoryThrottle(NOTICE_PERIOD)
        self.ttl_seconds = ttl_seconds
        self.max_remembered = max_remembered
        self._clock = clock
        # user id -> (when read, banned), the oldest read first
        self._answers: OrderedDict[int, tuple[float, bool]] = OrderedDict()

    def expire(self, user_id: int) -> None:
        """Read the user's ban again on their next update (``/ban`` and ``/unban`` here)."""
        self._answers.pop(user_id, None)

    def _remember(self, user_id: int, banned: bool) -> None:
        now = self._clock()
        self._answers.pop(user_id, None)
        self._answers[user_id] = (now, banned)
        while self._answers:  # drop the answers past their time, and beyond the most kept
            read_at, _ = next(iter(self._answers.values()))
            if now - read_at < self.ttl_seconds and len(self._answers) <= self.max_remembered:
                break
            self._answers.popitem(last=False)

    async def _read(self, user_id: int) -> bool:
        """The database's answer (one primary-key read, in a session of its own)."""
        async with self.session_factory() as session, read(session, autocommit=True):
            return await is_banned(session, user_id)

    async def banned(self, user_id: int) -> bool:
        """Whether the user is banned, as read within the last :data:`TTL_SECONDS`."""
        known = self._answers.get(user_id)
        if known is not None and self._clock() - known[0] < self.ttl_seconds:
            return known[1]
        try:
            banned = await self._read(user_id)
        except Exception as exc:  # keep serving with the answer read before, if any
            log.warning("could not read the ban", error=type(exc).__name__)
            banned = known is not None and known[1]
        self._remember(user_id, banned)
        return banned

    async def _refuse(self, event: Update, user: User) -> None:
        t = translator(user.language_code)
        text = t("buyer.banned")
        if event.callback_query is not None:
            await event.callback_query.answer(text, show_alert=True)
        elif (
            event.message is not None
            and is_private(event.message.chat)  # never a word in a group (app.filters.chats)
            and await self.notices.allow(f"banned:{user.id}")
        ):
            await event.message.answer(text)

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None or not isinstance(event, Update) or _passes(event):
            return await handler(event, data)
        settings = data.get("settings")
        if settings is not None and user.id in settings.admin_ids:
            return await handler(event, data)
        if await self.banned(user.id):
            log.info("update from a banned user refused")
            await self._refuse(event, user)
            return UNHANDLED
        return await handler(event, data)
