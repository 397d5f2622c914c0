"""/start and the main menu. Also home of :func:`show`, how every buyer screen is displayed."""

from __future__ import annotations

import structlog
from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import CommandStart
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from app.filters.magic import Match
from app.i18n import Translator
from app.keyboards.buyer import MenuCb, main_menu
from app.services.tx import begin_write
from app.services.users import upsert_user

log = structlog.get_logger(__name__)
router = Router(name=__name__)


async def show(
    query: CallbackQuery,
    bot: Bot,
    text: str,
    markup: InlineKeyboardMarkup,
    *,
    notice: str | None = None,
) -> None:
    """Turn the message under the pressed button into this screen, then answer the query.

    A message too old to edit (or gone) is replaced by a new one. The caller must have ended
    its database transaction: both are Telegram calls.
    """
    message = query.message
    try:
        if isinstance(message, Message) and message.text is not None:
            await message.edit_text(text, reply_markup=markup)
        else:
            await bot.send_message(query.from_user.id, text, reply_markup=markup)
    except TelegramBadRequest as exc:
        if "message is not modified" not in exc.message:
            log.info("could not edit, sending anew", error=exc.message)
            await bot.send_message(query.from_user.id, text, reply_markup=markup)
    await query.answer(notice)


@router.message(CommandStart(), Match(F.from_user))
async def start(message: Message, session: AsyncSession, t: Translator) -> None:
    assert message.from_user is not None
    await begin_write(session)
    await upsert_user(session, message.from_user)
    await session.commit()
    name = message.from_user.first_name or message.from_user.username or ""
    await message.answer(
        t("buyer.menu.welcome", name=name) + "\n\n" + t("buyer.menu.title"),
        reply_markup=main_menu(t),
    )


@router.callback_query(MenuCb.filter(F.action == "main"))
async def menu(query: CallbackQuery, bot: Bot, t: Translator) -> None:
    await show(query, bot, t("buyer.menu.title"), main_menu(t))
