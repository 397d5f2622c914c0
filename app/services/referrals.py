"""Referrals: a stable link per user, and the referee tied at their first /start; the reward
for the referee's first paid order is in :mod:`app.services.referral_rewards`.

A referee is tied only when their ``users`` row is created by that very /start (the insert's
``ON CONFLICT DO NOTHING`` says so), never later, never to themselves, and to one referrer
(``referrals.referee_id`` is the primary key). Nothing here commits or calls Telegram.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from aiogram.types import User as TelegramUser
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import (
    PromoCode,
    PromoRedemption,
    RedemptionStatus,
    Referral,
    ReferralLink,
    ReferralReward,
    User,
)
from app.db.uow import dialect_name
from app.services.users import upsert_user

PREFIX = "ref_"
_INSERTS: dict[str, Any] = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


async def link_code(session: AsyncSession, user: TelegramUser) -> str:
    """The user's referral code, made on first request (the caller holds a write); the user's
    row with it, when /referrals is the user's very first update."""
    user_id = user.id
    found = await session.scalar(select(ReferralLink.code).where(ReferralLink.user_id == user_id))
    if found is not None:
        return found
    await upsert_user(session, user)  # referral_links refers to users
    insert = _INSERTS[dialect_name(session)]
    while True:  # a clash of two random 64-bit codes never happens in practice; try again
        code = secrets.token_urlsafe(8)
        taken = await session.scalar(select(ReferralLink.user_id).where(ReferralLink.code == code))
        if taken is None:
            break
    await session.execute(
        insert(ReferralLink)
        .values(user_id=user_id, code=code)
        .on_conflict_do_nothing(index_elements=[ReferralLink.user_id])
    )
    made = await session.scalar(select(ReferralLink.code).where(ReferralLink.user_id == user_id))
    assert made is not None
    return made


async def register(session: AsyncSession, user: TelegramUser, start_arg: str | None) -> bool:
    """At /start, before the user row is refreshed: tie a new user to the link's owner.

    True if this /start created the user and tied them. The row is created here with the
    same values :func:`app.services.users.upsert_user` writes, which then refreshes it.
    """
    if not start_arg or not start_arg.startswith(PREFIX):
        return False
    code = start_arg.removeprefix(PREFIX)
    referrer = await session.scalar(select(ReferralLink.user_id).where(ReferralLink.code == code))
    if referrer is None or referrer == user.id:
        return False
    insert = _INSERTS[dialect_name(session)]
    created = await session.scalar(
        insert(User)
        .values(
            id=user.id,
            first_name=(user.first_name or "")[:128],
            username=user.username[:64] if user.username else None,
            language_code=user.language_code[:16] if user.language_code else None,
        )
        .on_conflict_do_nothing(index_elements=[User.id])
        .returning(User.id)
    )
    if created is None:
        return False  # known before: a link never ties an existing user
    await session.execute(
        insert(Referral)
        .values(referee_id=user.id, referrer_id=referrer)
        .on_conflict_do_nothing(index_elements=[Referral.referee_id])
    )
    return True


@dataclass(frozen=True)
class Reward:
    code: str
    percent: int
    used: bool


@dataclass(frozen=True)
class Summary:
    brought: int
    rewards: list[Reward]


async def summary(session: AsyncSession, user_id: int) -> Summary:
    brought = await session.scalar(
        select(func.count()).select_from(Referral).where(Referral.referrer_id == user_id)
    )
    used = (
        select(func.count(PromoRedemption.id))
        .where(
            PromoRedemption.promo_id == PromoCode.id,
            PromoRedemption.status == RedemptionStatus.USED.value,
        )
        .scalar_subquery()
    )
    rows = await session.execute(
        select(PromoCode.code, PromoCode.value, used)
        .join(ReferralReward, ReferralReward.promo_id == PromoCode.id)
        .where(ReferralReward.referrer_id == user_id)
        .order_by(ReferralReward.id.desc())
    )
    return Summary(int(brought or 0), [Reward(code, value, bool(n)) for code, value, n in rows])
