"""Referrals: a stable link per user, the referee tied at their first /start, and the reward
(a one-use promo code for the referrer alone) once the referee's first paid order has not been
refunded for ``REFERRAL_HOLD_DAYS``.

A referee is tied only when their ``users`` row is created by that very /start (the insert's
``ON CONFLICT DO NOTHING`` says so), never later, never to themselves, and to one referrer
(``referrals.referee_id`` is the primary key). A reward is unique per referee: two replicas
granting at once both lock the referrer's user row, the second finds the reward made, and
the unique constraint settles anything else. Nothing here commits or calls Telegram.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aiogram.types import User as TelegramUser
from sqlalchemy import bindparam, exists, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.db.models import (
    Order,
    OrderStatus,
    PromoCode,
    PromoKind,
    PromoRedemption,
    PromoScope,
    RedemptionStatus,
    Referral,
    ReferralLink,
    ReferralReward,
    User,
)
from app.db.uow import dialect_name
from app.services.promo import PromoSpec, create
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


# --- rewards ---------------------------------------------------------------------------------

_EARLIER = aliased(Order)
_FIRST_PAID = (
    select(_EARLIER.id)
    .where(_EARLIER.user_id == Referral.referee_id, _EARLIER.paid_at.is_not(None))
    .order_by(_EARLIER.paid_at, _EARLIER.id)
    .limit(1)
    .correlate(Referral)
    .scalar_subquery()
)
_TODAYS = aliased(ReferralReward)
# The referrer's rewards made today: ix_referral_rewards_referrer_id_created_at, at most the
# cap's worth of entries (no referrer gets more a day).
_TODAY = (
    select(func.count(_TODAYS.id))
    .where(_TODAYS.referrer_id == Referral.referrer_id, _TODAYS.created_at >= bindparam("day"))
    .correlate(Referral)
    .scalar_subquery()
)
_DUE = (
    select(
        Referral.referee_id,
        Referral.referrer_id,
        Order.id.label("order_id"),
        Order.paid_at,
        func.row_number()
        .over(partition_by=Referral.referrer_id, order_by=(Order.paid_at, Order.id))
        .label("nth"),
        _TODAY.label("today"),
    )
    .join(Order, Order.id == _FIRST_PAID)
    .outerjoin(ReferralReward, ReferralReward.referee_id == Referral.referee_id)
    .where(
        ReferralReward.id.is_(None),
        Order.status.in_([OrderStatus.PAID.value, OrderStatus.DELIVERED.value]),
        Order.paid_at <= bindparam("cutoff"),
    )
    .subquery("due")
)
# Of each referrer's waiting referees, as many as today's cap still allows, and none of a
# banned referrer (their rewards wait for the unban): a referrer at the cap, or banned, takes
# no place in the batch however many wait, so the others are never starved. Both are read for
# the waiting referees only (the banned through ix_users_banned).
_BANNED = exists().where(User.id == _DUE.c.referrer_id, User.banned_at.is_not(None))
_CANDIDATES = (
    select(_DUE.c.referee_id, _DUE.c.referrer_id, _DUE.c.order_id)
    .where(_DUE.c.nth + _DUE.c.today <= bindparam("cap"), ~_BANNED)
    .order_by(_DUE.c.paid_at, _DUE.c.order_id)
    .limit(bindparam("limit"))
)


@dataclass(frozen=True)
class Candidate:
    referee_id: int
    referrer_id: int
    order_id: int


async def candidates(
    session: AsyncSession, now: datetime, hold: timedelta, limit: int, daily_cap: int
) -> list[Candidate]:
    """Referees whose first paid order has held (not refunded) for ``hold``, not yet rewarded,
    oldest first: of each referrer, no more than ``daily_cap`` less today's rewards, and none
    of a banned referrer.

    A referee whose first paid order was refunded never qualifies (a later order does not
    count): a first order bought and refunded earns nothing.
    """
    params = {"cutoff": now - hold, "day": _day_start(now), "cap": daily_cap, "limit": limit}
    rows = await session.execute(_CANDIDATES, params)
    return [Candidate(*row) for row in rows]


@dataclass(frozen=True)
class Granted:
    reward_id: int
    referrer_id: int
    code: str
    percent: int
    language: str | None


def _day_start(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


async def grant(
    session: AsyncSession,
    candidate: Candidate,
    *,
    now: datetime,
    percent: int,
    daily_cap: int,
) -> Granted | None:
    """Make the referrer's reward for this referee (the caller holds a write transaction);
    None if it exists already, the order was refunded meanwhile, today's cap is reached, or
    the referrer is banned (the reward waits: an unban lets the next pass grant it)."""
    referrer = await session.scalar(
        select(User)
        .where(User.id == candidate.referrer_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert referrer is not None  # the foreign key
    if referrer.banned_at is not None:  # banned since the candidates were read: it waits
        return None
    made = await session.scalar(
        select(ReferralReward.id).where(ReferralReward.referee_id == candidate.referee_id)
    )
    status = await session.scalar(select(Order.status).where(Order.id == candidate.order_id))
    if made is not None or status not in (OrderStatus.PAID, OrderStatus.DELIVERED):
        return None
    today = await session.scalar(
        select(func.count(ReferralReward.id)).where(
            ReferralReward.referrer_id == candidate.referrer_id,
            ReferralReward.created_at >= _day_start(now),
        )
    )
    if (today or 0) >= daily_cap:
        return None
    spec = PromoSpec(
        code=f"REF{secrets.token_hex(5).upper()}",
        kind=PromoKind.PERCENT,
        value=percent,
        scope=PromoScope.SHOP,
        max_uses=1,
        per_user=1,
    )
    promo = await create(session, spec, owner_user_id=candidate.referrer_id)
    reward = ReferralReward(
        referee_id=candidate.referee_id,
        referrer_id=candidate.referrer_id,
        order_id=candidate.order_id,
        promo_id=promo.id,
        created_at=now,
        notified_at=now,  # told after the commit, at most once; /referrals shows it anyway
    )
    session.add(reward)
    await session.flush()
    return Granted(reward.id, referrer.id, promo.code, percent, referrer.language_code)
