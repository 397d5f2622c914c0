"""/referrals: the buyer's link, how many people it brought, and the rewards it earned."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.uow import write
from app.filters.magic import Match
from app.i18n import Translator
from app.services import referrals


async def referrals_command(
    message: Message, session: AsyncSession, settings: Settings, bot: Bot, t: Translator
) -> None:
    assert message.from_user is not None
    me = await bot.me()  # getMe once per process: aiogram caches it
    async with write(session):
        code = await referrals.link_code(session, message.from_user.id)
        found = await referrals.summary(session, message.from_user.id)
    link = f"https://t.me/{me.username}?start={referrals.PREFIX}{code}"
    lines = [
        t("buyer.referral.title"),
        t("buyer.referral.link", link=link),
        t(
            "buyer.referral.how",
            percent=settings.referral_reward_percent,
            days=f"{settings.referral_hold_days:g}",
        ),
        t("buyer.referral.brought", n=found.brought),
    ]
    if found.rewards:
        lines.append(t("buyer.referral.rewards"))
        for reward in found.rewards:
            key = "buyer.referral.reward_used" if reward.used else "buyer.referral.reward_unused"
            lines.append(t(key, code=reward.code, percent=reward.percent))
    else:
        lines.append(t("buyer.referral.no_rewards"))
    await message.answer("\n".join(lines))


def router() -> Router:
    """This feature's handlers on a new router: each Dispatcher gets its own."""
    feature = Router(name=__name__)
    feature.message.register(referrals_command, Command("referrals"), Match(F.from_user))
    return feature
