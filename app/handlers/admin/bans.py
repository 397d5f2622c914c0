"""/ban <user id> and /unban <user id>: the bot then refuses, or serves again, that user.

The owners cannot be banned (the ban would not apply to them anyway). An id the shop has never
seen can be banned in advance: its first update is refused. The change reaches this process at
once and every other replica within seconds (:mod:`app.middlewares.bans`).
"""

from __future__ import annotations

import structlog
from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.uow import write
from app.handlers.admin.common import command_args, input_error, reply
from app.i18n import Translator
from app.middlewares.bans import BanMiddleware
from app.services.bans import set_banned
from app.services.products import ShopInputError

log = structlog.get_logger(__name__)

USER_ID_MAX = 2**53  # Telegram's user ids fit in 52 bits (and in BIGINT)


def _user_id(message: Message) -> int | None:
    args = command_args(message)
    if not args.isascii() or not args.isdigit() or not 0 < int(args) < USER_ID_MAX:
        return None
    return int(args)


async def _set(
    message: Message,
    session: AsyncSession,
    settings: Settings,
    bans: BanMiddleware,
    t: Translator,
    *,
    banned: bool,
) -> None:
    command = "ban" if banned else "unban"
    user_id = _user_id(message)
    if user_id is None:
        await reply(message, t(f"owner.{command}.usage"))
        return
    if banned and user_id in settings.admin_ids:
        await reply(message, t("owner.ban.owner"))
        return
    try:
        async with write(session):
            changed = await set_banned(session, user_id, banned, in_advance=True)
    except ShopInputError as exc:
        await message.answer(input_error(t, exc))
        return
    bans.expire(user_id)
    if changed:
        log.info("user banned" if banned else "user unbanned", target_user_id=user_id)
    state = "done" if changed else "already"
    await message.answer(t(f"owner.{command}.{state}", user_id=user_id))


async def ban_command(
    message: Message, session: AsyncSession, settings: Settings, bans: BanMiddleware, t: Translator
) -> None:
    await _set(message, session, settings, bans, t, banned=True)


async def unban_command(
    message: Message, session: AsyncSession, settings: Settings, bans: BanMiddleware, t: Translator
) -> None:
    await _set(message, session, settings, bans, t, banned=False)


def router() -> Router:
    """This feature's handlers on a new router: each Dispatcher gets its own."""
    feature = Router(name=__name__)
    feature.message.register(ban_command, Command("ban"))
    feature.message.register(unban_command, Command("unban"))
    return feature
