"""A promo code's uses: held by a pending order, used by its payment, given back by a refund.

One :class:`~app.db.models.PromoRedemption` row per order (unique). A held use counts
against the code's limits while its order still waits for the payment (pending, not expired),
so an order that expires or is taken over gives its use back by itself. Every check of the
limits runs with the code's row locked (``FOR UPDATE``; SQLite's write transactions run one
at a time), so two buyers racing for the last use cannot both hold it.

Locks follow the shop's order: stock item, order, then the code, then the product.
A late payment (its hold lapsed meanwhile) is honoured at the price its invoice said, even
when the code was used up by then: the buyer paid what the shop offered. That use is counted
(one over the limit at most per lapsed hold) and logged. Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import (
    Order,
    OrderStatus,
    PromoCode,
    PromoRedemption,
    RedemptionStatus,
)
from app.services.promo import Line, PromoRefusedError, discount_for, normalize_code

log = structlog.get_logger(__name__)

_LOCK_CODE = (
    select(PromoCode)
    .where(PromoCode.code == bindparam("code"))
    .with_for_update()
    .execution_options(populate_existing=True)
)
_LOCK_CODE_BY_ID = (
    select(PromoCode)
    .where(PromoCode.id == bindparam("id"))
    .with_for_update()
    .execution_options(populate_existing=True)
)
_OF_ORDER = (
    select(PromoRedemption)
    .where(PromoRedemption.order_id == bindparam("order"))
    .execution_options(populate_existing=True)
)
_LIVE = (
    select(func.count(PromoRedemption.id))
    .join(Order, Order.id == PromoRedemption.order_id)
    .where(
        PromoRedemption.promo_id == bindparam("promo"),
        PromoRedemption.order_id != bindparam("order"),
        or_(
            PromoRedemption.status == RedemptionStatus.USED.value,
            (PromoRedemption.status == RedemptionStatus.HELD.value)
            & (Order.status == OrderStatus.PENDING.value)
            & (Order.expires_at > bindparam("now")),
        ),
    )
)


@dataclass(frozen=True)
class Applied:
    code: str
    discount: int  # Stars off the lines' subtotal


async def _live(
    session: AsyncSession, promo: PromoCode, order_id: int, now: datetime, user_id: int | None
) -> int:
    query = _LIVE if user_id is None else _LIVE.where(PromoRedemption.user_id == user_id)
    return int(await session.scalar(query, {"promo": promo.id, "order": order_id, "now": now}) or 0)


async def _check(
    session: AsyncSession, promo: PromoCode, order: Order, user_id: int, now: datetime
) -> None:
    """Whether this order may hold a use of the (locked) code; raises why not."""
    if promo.owner_user_id is not None and promo.owner_user_id != user_id:
        raise PromoRefusedError("unknown", code=promo.code)  # someone else's reward
    if promo.disabled_at is not None:
        raise PromoRefusedError("disabled", code=promo.code)
    if promo.expires_at is not None and promo.expires_at <= now:
        raise PromoRefusedError("expired", code=promo.code)
    if promo.max_uses is not None and await _live(session, promo, order.id, now, None) >= (
        promo.max_uses
    ):
        raise PromoRefusedError("used_up", code=promo.code)
    if promo.per_user is not None and await _live(session, promo, order.id, now, user_id) >= (
        promo.per_user
    ):
        raise PromoRefusedError("per_user", code=promo.code, n=promo.per_user)


async def apply(
    session: AsyncSession,
    order: Order,
    raw_code: str,
    lines: Sequence[Line],
    now: datetime,
) -> Applied:
    """Hold a use of the code for the (locked, pending) order; the discount it gives.

    The caller takes the discount off the order's total (:func:`app.services.orders.quote`).
    A code already held by this order is kept as it is; another code replaces it.
    """
    code = normalize_code(raw_code)
    promo = await session.scalar(_LOCK_CODE, {"code": code}) if code else None
    if promo is None:
        raise PromoRefusedError("unknown", code=raw_code.strip()[:32])
    held = await session.scalar(_OF_ORDER, {"order": order.id})
    if held is not None and held.promo_id == promo.id and held.status == RedemptionStatus.HELD:
        return Applied(promo.code, held.discount)
    await _check(session, promo, order, order.user_id, now)
    discount = discount_for(promo, lines)
    if held is None:
        held = PromoRedemption(order_id=order.id, user_id=order.user_id)
        session.add(held)
    held.promo_id = promo.id
    held.discount = discount
    held.status = RedemptionStatus.HELD.value
    held.released_at = None
    await session.flush()
    log.info(
        "promo code held",
        code=promo.code,
        order_id=order.id,
        buyer_id=order.user_id,
        discount=discount,
    )
    return Applied(promo.code, discount)


async def of_order(session: AsyncSession, order_id: int) -> tuple[PromoRedemption, str] | None:
    row = (
        await session.execute(
            select(PromoRedemption, PromoCode.code)
            .join(PromoCode, PromoCode.id == PromoRedemption.promo_id)
            .where(PromoRedemption.order_id == order_id)
        )
    ).first()
    return (row[0], row[1]) if row is not None else None


async def recheck(session: AsyncSession, order: Order, now: datetime) -> PromoRefusedError | None:
    """Pre-checkout: may the (locked) order still pay with its code? If not, the code is
    dropped from the order (its next invoice is at the full price) and the reason returned."""
    held = await session.scalar(_OF_ORDER, {"order": order.id})
    if held is None or held.status != RedemptionStatus.HELD:
        return None
    promo = await session.scalar(_LOCK_CODE_BY_ID, {"id": held.promo_id})
    assert promo is not None  # codes are never deleted
    try:
        await _check(session, promo, order, order.user_id, now)
    except PromoRefusedError as refused:
        held.status = RedemptionStatus.RELEASED.value
        held.released_at = now
        order.amount += order.discount
        order.discount = 0
        await session.flush()
        log.info("promo code refused at pre-checkout", code=promo.code, order_id=order.id,
                 reason=refused.reason)  # fmt: skip
        return refused
    return None


async def confirm(session: AsyncSession, order: Order, now: datetime) -> str | None:
    """The order was paid: its held use becomes used. Returns the code, if it had one."""
    held = await session.scalar(_OF_ORDER, {"order": order.id})
    if held is None or held.status != RedemptionStatus.HELD:
        return None
    promo = await session.scalar(_LOCK_CODE_BY_ID, {"id": held.promo_id})
    assert promo is not None
    if promo.max_uses is not None and await _live(session, promo, order.id, now, None) >= (
        promo.max_uses
    ):
        # A late payment whose hold lapsed and whose use another order took: honoured.
        log.warning("promo code used past its limit by a late payment", code=promo.code,
                    order_id=order.id, max_uses=promo.max_uses)  # fmt: skip
    held.status = RedemptionStatus.USED.value
    held.used_at = now
    await session.flush()
    log.info("promo code used", code=promo.code, order_id=order.id, discount=held.discount)
    return promo.code


async def give_back(session: AsyncSession, charge_id: str, now: datetime) -> None:
    """The payment was refunded: its order's use no longer counts."""
    order_ids = select(Order.id).where(Order.telegram_payment_charge_id == charge_id)
    released = await session.scalar(
        update(PromoRedemption)
        .where(
            PromoRedemption.order_id.in_(order_ids.scalar_subquery()),
            PromoRedemption.status != RedemptionStatus.RELEASED.value,
        )
        .values(status=RedemptionStatus.RELEASED.value, released_at=now)
        .returning(PromoRedemption.order_id)
        .execution_options(synchronize_session=False)
    )
    if released is not None:
        log.info("promo code use given back", order_id=released, charge_id=charge_id)
