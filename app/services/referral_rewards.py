"""Referral rewards: the referrer's one-use promo code, once the referee's first paid order has
not been refunded for the hold (the terms of :mod:`app.services.referral_terms`).

The settlement that first pays a referee's order records it on their referral
(:func:`record_first_order`: one update by primary key, in the settlement's transaction). The
reward pass reads only the referrals waiting for their reward (``ix_referrals_waiting``: a first
paid order recorded, not settled yet), never the referees who never paid nor those settled long
ago, and settles each once: rewarded (:func:`grant`), or forfeited when that first order ended
refunded (:func:`finished`, :func:`settle`; a later order does not count). A first order whose
refund is due waits. A reward is unique per referee: two replicas granting at once both lock
the referrer's user row, the second finds the reward made, and the unique constraint settles
anything else. Nothing here commits or calls Telegram.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.db.models import (
    Order,
    OrderStatus,
    PromoKind,
    PromoScope,
    Referral,
    ReferralReward,
    Refund,
    RefundStatus,
    User,
)
from app.services.promo import PromoSpec, create

SOLD = (OrderStatus.PAID.value, OrderStatus.DELIVERED.value)

_RECORD_FIRST = (
    update(Referral)
    .where(Referral.referee_id == bindparam("referee"), Referral.first_order_id.is_(None))
    .values(first_order_id=bindparam("first_order"), first_paid_at=bindparam("first_paid_at"))
    .execution_options(synchronize_session=False)
)


async def record_first_order(session: AsyncSession, order: Order) -> None:
    """The settlement paying ``order`` (its ``paid_at`` set): the first paid order of its buyer's
    referral, if they were referred and none was recorded before."""
    params = {"referee": order.user_id, "first_order": order.id, "first_paid_at": order.paid_at}
    with session.no_autoflush:  # the order's own changes go in the settlement's next flush
        await session.execute(_RECORD_FIRST, params)


# The referrals waiting for their reward whose first paid order was paid before the cutoff:
# ix_referrals_waiting's predicate, written out so that generic plans use it too.
_WAITING = (
    Referral.first_paid_at.is_not(None),
    Referral.settled_at.is_(None),
    Referral.first_paid_at <= bindparam("cutoff"),
)
_REFUND_DUE = exists().where(
    Refund.charge_id == Order.telegram_payment_charge_id, Refund.status == RefundStatus.DUE.value
)
# The first paid order has held: sold, and no refund of it due (read by its primary key, its
# refund by the charge id: a scalar subquery per waiting referral, which no plan turns into a
# scan of the orders).
_FIRST_HELD = (
    select(and_(Order.status.in_(SOLD), ~_REFUND_DUE))
    .where(Order.id == Referral.first_order_id)
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
        Referral.first_order_id.label("order_id"),
        Referral.first_paid_at.label("paid_at"),
        func.row_number()
        .over(
            partition_by=Referral.referrer_id,
            order_by=(Referral.first_paid_at, Referral.first_order_id),
        )
        .label("nth"),
        _TODAY.label("today"),
    )
    .where(*_WAITING, _FIRST_HELD)
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
# Waiting referrals that will never be rewarded here: the first paid order ended refunded
# (forfeited), or a reward was made already (by a release that did not settle referrals). Both
# are read per waiting referral, by primary key and by the rewards' unique referee: scalar
# subqueries, which no plan turns into a scan of either table.
_FIRST_STATUS = (
    select(Order.status)
    .where(Order.id == Referral.first_order_id)
    .correlate(Referral)
    .scalar_subquery()
)
_REWARD = (
    select(ReferralReward.id)
    .where(ReferralReward.referee_id == Referral.referee_id)
    .correlate(Referral)
    .scalar_subquery()
)
_FINISHED = (
    select(Referral.referee_id)
    .where(*_WAITING, or_(_FIRST_STATUS.in_([OrderStatus.REFUNDED.value]), _REWARD.is_not(None)))
    .order_by(Referral.first_paid_at)
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
    """Referees whose first paid order has held (sold, not refunded, no refund due) for
    ``hold``, not rewarded yet, oldest first: of each referrer, no more than ``daily_cap`` less
    today's rewards, and none of a banned referrer."""
    params = {"cutoff": now - hold, "day": _day_start(now), "cap": daily_cap, "limit": limit}
    rows = await session.execute(_CANDIDATES, params)
    return [Candidate(*row) for row in rows]


async def finished(session: AsyncSession, now: datetime, hold: timedelta, limit: int) -> list[int]:
    """Referees past the hold whose referral is done without a reward from this pass: their
    first paid order was refunded (a later order does not count), or they were rewarded."""
    return list(await session.scalars(_FINISHED, {"cutoff": now - hold, "limit": limit}))


async def settle(session: AsyncSession, referee_ids: list[int], now: datetime) -> None:
    """These referrals are done: the pass never reads them again (a refund or a reward is
    final, so nothing is checked again here)."""
    await session.execute(
        update(Referral)
        .where(Referral.referee_id.in_(referee_ids), Referral.settled_at.is_(None))
        .values(settled_at=now)
        .execution_options(synchronize_session=False)
    )


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
    """Make the referrer's reward for this referee and settle the referral (the caller holds a
    write transaction). None if it exists already or the order was refunded meanwhile (settled
    without a reward), a refund of it is due, today's cap is reached, or the referrer is banned
    (these wait: an unban lets the next pass grant it)."""
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
    status, refund_due = (
        await session.execute(
            select(Order.status, _REFUND_DUE).where(Order.id == candidate.order_id)
        )
    ).one()
    if made is not None or status == OrderStatus.REFUNDED:
        await settle(session, [candidate.referee_id], now)
        return None
    if status not in SOLD or refund_due:
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
    await settle(session, [candidate.referee_id], now)
    return Granted(reward.id, referrer.id, promo.code, percent, referrer.language_code)
