"""Paid orders whose goods can never be delivered: owed back after ``DELIVERY_REFUND_AFTER``.

A delivery Telegram keeps refusing (a buyer who blocked the bot: 403; a file id Telegram no
longer accepts: 400) is retried with backoff, but not for ever: an order still not delivered
that long after its payment stops being sent and goes to the refund path
(:mod:`app.flows.refunds`: refunded under ``AUTO_REFUND``, else the owners are alerted). Its
units stay sold: the buyer may have seen them. Nothing here commits or calls Telegram.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Order, OrderStatus, Refund, RefundReason, RefundStatus


async def open_refund(
    session: AsyncSession, order_id: int, now: datetime, *, paid_before: datetime, auto_refund: bool
) -> int | None:
    """A paid order whose goods could not be delivered since it was paid (at ``paid_before`` or
    earlier) stops being sent and is owed back in full; its units stay sold (the buyer may
    have seen them). Due at once with ``auto_refund``, else waiting for an owner. Returns the
    refund's id (an owner's ``/refund`` opened already is kept), or None if not such an order.
    """
    order = await session.scalar(
        select(Order)
        .where(
            Order.id == order_id,
            Order.status == OrderStatus.PAID.value,
            Order.paid_at <= paid_before,
            Order.telegram_payment_charge_id.is_not(None),
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if order is None or order.telegram_payment_charge_id is None:
        return None
    order.status = OrderStatus.REFUND_DUE.value
    order.next_delivery_at = None
    refund = await session.scalar(
        select(Refund).where(Refund.charge_id == order.telegram_payment_charge_id)
    )
    if refund is None:
        refund = Refund(
            charge_id=order.telegram_payment_charge_id,
            order_id=order.id,
            user_id=order.user_id,
            amount=order.amount,
            reason=RefundReason.UNDELIVERABLE.value,
            status=RefundStatus.DUE.value,
            next_attempt_at=now if auto_refund else None,
        )
        session.add(refund)
    await session.flush()
    return refund.id
