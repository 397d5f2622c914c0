"""/help, /terms and /paysupport (Telegram requires bots that accept Stars to answer it)."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from app.bot.throttle import Throttle
from app.config import Settings
from app.db.uow import SessionFactory
from app.filters.magic import Match
from app.flows.alerts import alert_owners
from app.handlers.screens import show
from app.i18n import Translator
from app.keyboards.buyer import MenuCb, back_to_menu, main_menu


async def help_command(message: Message, t: Translator) -> None:
    await message.answer(t("buyer.info.help"), reply_markup=main_menu(t))


async def help_button(query: CallbackQuery, bot: Bot, t: Translator) -> None:
    await show(query, bot, t("buyer.info.help"), back_to_menu(t))


async def terms(message: Message, t: Translator) -> None:
    await message.answer(t("buyer.info.terms"))


async def paysupport(
    message: Message,
    session_factory: SessionFactory,
    settings: Settings,
    bot: Bot,
    t: Translator,
    *,
    paysupport_throttle: Throttle,
) -> None:
    """Point to the support contact; without one, the owner is told to get in touch, at most
    once per user per 10 minutes (the user gets the answer every time)."""
    assert message.from_user is not None
    if settings.support_contact:
        await message.answer(t("buyer.info.paysupport_contact", contact=settings.support_contact))
        return
    await message.answer(t("buyer.info.paysupport_owner"))
    if not await paysupport_throttle.allow(f"paysupport:{message.from_user.id}"):
        return
    await alert_owners(
        bot,
        session_factory,
        settings,
        "buyer.alert.paysupport",
        user=message.from_user.id,
        username=message.from_user.username or "—",
    )


def router() -> Router:
    """This feature's handlers on a new router: each Dispatcher gets its own."""
    feature = Router(name=__name__)
    feature.message.register(help_command, Command("help"))
    feature.callback_query.register(help_button, MenuCb.filter(F.action == "help"))
    feature.message.register(terms, Command("terms"))
    feature.message.register(paysupport, Command("paysupport"), Match(F.from_user))
    return feature
