"""/referrals: the buyer's link, how many people it brought, and the rewards it earned."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message
from aiogram.types import User as TelegramUser
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.uow import write
from app.filters.magic import Match
from app.handlers.screens import show
from app.i18n import Translator
from app.keyboards import buyer as kb
from app.services import referral_terms, referrals


async def _screen(
    session: AsyncSession, settings: Settings, bot: Bot, t: Translator, user: TelegramUser
) -> str:
    me = await bot.me()  # getMe once per process: aiogram caches it
    async with write(session):
        code = await referrals.link_code(session, user)
        found = await referrals.summary(session, user.id)
        terms = await referral_terms.current(session, referral_terms.defaults(settings))
    link = f"https://t.me/{me.username}?start={referrals.PREFIX}{code}"
    lines = [
        t("buyer.referral.title"),
        t("buyer.referral.link", link=link),
        t("buyer.referral.how", percent=terms.reward_percent, days=f"{terms.hold_days:g}"),
        t("buyer.referral.brought", n=found.brought),
    ]
    if found.rewards:
        lines.append(t("buyer.referral.rewards"))
        for reward in found.rewards:
            key = "buyer.referral.reward_used" if reward.used else "buyer.referral.reward_unused"
            lines.append(t(key, code=reward.code, percent=reward.percent))
    else:
        lines.append(t("buyer.referral.no_rewards"))
    return "\n".join(lines)


async def referrals_command(
    message: Message, session: AsyncSession, settings: Settings, bot: Bot, t: Translator
) -> None:
    assert message.from_user is not None
    await message.answer(await _screen(session, settings, bot, t, message.from_user))


async def referrals_button(
    query: CallbackQuery, session: AsyncSession, settings: Settings, bot: Bot, t: Translator
) -> None:
    text = await _screen(session, settings, bot, t, query.from_user)
    await show(query, bot, text, kb.back_to_menu(t))


def router() -> Router:
    """This feature's handlers on a new router: each Dispatcher gets its own."""
    feature = Router(name=__name__)
    feature.message.register(referrals_command, Command("referrals"), Match(F.from_user))
    feature.callback_query.register(referrals_button, kb.MenuCb.filter(F.action == "referrals"))
    return feature
