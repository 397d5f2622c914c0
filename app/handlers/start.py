"""/start and the main menu."""

from __future__ import annotations

import structlog
from aiogram import Bot, F, Router
from aiogram.filters import CommandObject, CommandStart
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.uow import write
from app.filters.magic import Match
from app.handlers.screens import show
from app.i18n import Translator
from app.keyboards.buyer import MenuCb, main_menu
from app.services import referrals
from app.services.users import upsert_user

log = structlog.get_logger(__name__)


async def start(
    message: Message, session: AsyncSession, t: Translator, command: CommandObject
) -> None:
    assert message.from_user is not None
    async with write(session):
        if await referrals.register(session, message.from_user, command.args):
            log.info("referee tied to a referrer", referee_id=message.from_user.id)
        await upsert_user(session, message.from_user)
    name = message.from_user.first_name or message.from_user.username or ""
    await message.answer(
        t("buyer.menu.welcome", name=name) + "\n\n" + t("buyer.menu.title"),
        reply_markup=main_menu(t),
    )


async def menu(query: CallbackQuery, bot: Bot, t: Translator) -> None:
    await show(query, bot, t("buyer.menu.title"), main_menu(t))


def router() -> Router:
    """This feature's handlers on a new router: each Dispatcher gets its own."""
    feature = Router(name=__name__)
    feature.message.register(start, CommandStart(), Match(F.from_user))
    feature.callback_query.register(menu, MenuCb.filter(F.action == "main"))
    return feature
