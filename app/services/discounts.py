"""A promo code applied to a buyer's open order: its lines as the code sees them, the use held,
and the order's total quoted again with the discount (:func:`app.services.orders.quote`).

Used before the invoice: 🎟 Promo code (a card's units or the whole cart, reserved first) and
``/code`` (the latest open reservation). Nothing here commits or calls Telegram.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Order, OrderStatus
from app.services import orders, redemptions
from app.services.promo import Line, PromoRefusedError


@dataclass(frozen=True)
class Priced:
    """An order with its code applied, and what its invoice shows."""

    order_id: int
    payload: str
    title: str  # the first line's product
    description: str
    lines: tuple[orders.Line, ...]
    code: str
    discount: int
    subtotal: int
    amount: int  # the new total


_LATEST_OPEN = (
    select(Order.id)
    .where(
        Order.user_id == bindparam("user"),
        Order.status == OrderStatus.PENDING.value,
        Order.expires_at > bindparam("now"),
        Order.telegram_payment_charge_id.is_(None),
    )
    .order_by(Order.id.desc())
    .limit(1)
)


async def latest_open_order(session: AsyncSession, user_id: int, now: datetime) -> int | None:
    """The buyer's newest reservation still waiting for its payment."""
    return await session.scalar(_LATEST_OPEN, {"user": user_id, "now": now})


async def apply_to_order(
    session: AsyncSession, order_id: int, user_id: int, raw_code: str, now: datetime
) -> Priced:
    """Apply a code to the buyer's open order (the caller holds a write transaction)."""
    locked = await orders.lock_with_lines(session, order_id)
    order, held, products = locked.order, locked.lines, locked.products
    if (
        order.user_id != user_id
        or order.status != OrderStatus.PENDING
        or order.telegram_payment_charge_id is not None
        or order.expires_at <= now
    ):
        raise PromoRefusedError("no_order")
    lines = [
        Line(line.product_id, products[line.product_id].category_id, line.unit_price, line.quantity)
        for line in held
    ]
    applied = await redemptions.apply(session, order, raw_code, lines, now)
    quoted = orders.quote(held, applied.discount)
    order.amount = quoted.total
    order.discount = quoted.subtotal - quoted.total
    await session.flush()
    first = products[held[0].product_id]
    return Priced(
        order_id=order.id,
        payload=order.payload,
        title=first.title,
        description=first.description,
        lines=tuple(held),
        code=applied.code,
        discount=order.discount,
        subtotal=quoted.subtotal,
        amount=order.amount,
    )
