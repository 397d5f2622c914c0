"""Settling a recorded payment: the order gets its item, or the buyer is owed a refund.

A payment is settled exactly once, in one transaction that locks its
:class:`~app.db.models.PendingPayment` marker and deletes it. Whoever gets there first (the
update's handler, the fulfilment worker, the reconciliation on any replica) settles it; the
others find the marker gone. A payment that arrives after its reservation ran out is still
honoured when stock remains; otherwise, and for a payload that matches no order, a refund is
opened against the ledger row. Nothing here commits or calls Telegram.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import utcnow
from app.db.models import (
    ItemStatus,
    Order,
    OrderStatus,
    Payment,
    PendingPayment,
    Product,
    Refund,
    RefundReason,
    RefundStatus,
)
from app.services import delivery, ledger
from app.services.availability import unsold_at_most
from app.services.delivery import Goods
from app.services.orders import BY_PAYLOAD, CURRENCY, claim_item, lock_item, lock_order, new_payload
from app.services.users import ensure_user

log = structlog.get_logger(__name__)


class Settled(enum.StrEnum):
    SOLD = "sold"  # the order has its item: deliver it
    REFUND_DUE = "refund_due"  # nothing to sell (sold out, or no such order): refund it
    ALREADY = "already"  # settled before (by another copy, the worker or a replica)


@dataclass(frozen=True)
class LowStock:
    product_id: int
    title: str
    left: int
    threshold: int


@dataclass(frozen=True)
class Settlement:
    kind: Settled
    charge_id: str
    user_id: int = 0
    amount: int = 0
    order_id: int | None = None
    refund_id: int | None = None
    reason: RefundReason | None = None
    title: str = ""
    late: bool = False  # the reservation had been lost; another item was claimed
    low_stock: LowStock | None = None
    goods: Goods | None = None  # SOLD: what to send, its first send leased to the caller


_LOCK_PENDING = (
    select(PendingPayment)
    .where(PendingPayment.charge_id == bindparam("charge"))
    .with_for_update()
    .execution_options(populate_existing=True)
)
_ORDER_BY_CHARGE = select(Order.id).where(Order.telegram_payment_charge_id == bindparam("charge"))
_DUE = (
    select(PendingPayment.charge_id)
    .where(PendingPayment.next_attempt_at <= bindparam("now"))
    .order_by(PendingPayment.next_attempt_at)
    .limit(bindparam("limit"))
)


async def due(session: AsyncSession, now: datetime, limit: int) -> list[str]:
    """Recorded payments nobody settled yet, oldest first (the fulfilment worker's queue)."""
    return list(await session.scalars(_DUE, {"now": now, "limit": limit}))


async def settle(session: AsyncSession, charge_id: str, *, auto_refund: bool) -> Settlement:
    """Settle the recorded payment ``charge_id`` (the caller holds a write transaction)."""
    pending = await session.scalar(_LOCK_PENDING, {"charge": charge_id})
    if pending is None:
        order_id = await session.scalar(_ORDER_BY_CHARGE, {"charge": charge_id})
        return Settlement(Settled.ALREADY, charge_id, order_id=order_id)
    payment = await ledger.by_charge(session, charge_id)
    assert payment is not None  # the marker's foreign key
    await session.execute(delete(PendingPayment).where(PendingPayment.charge_id == charge_id))
    settlement = await _settle(session, payment, auto_refund=auto_refund)
    method = log.info if settlement.kind is Settled.SOLD else log.error
    method(
        "payment settled",
        charge_id=charge_id,
        outcome=settlement.kind.value,
        reason=settlement.reason.value if settlement.reason else None,
        order_id=settlement.order_id,
        refund_id=settlement.refund_id,
        buyer_id=payment.user_id,
        amount=payment.amount,
        late=settlement.late,
    )
    return settlement


async def _settle(session: AsyncSession, payment: Payment, *, auto_refund: bool) -> Settlement:
    order_id = await session.scalar(_ORDER_BY_CHARGE, {"charge": payment.charge_id})
    if order_id is not None:
        # An order already carries this charge (recorded by a release before the ledger).
        return Settlement(Settled.ALREADY, payment.charge_id, order_id=order_id)
    order = await session.scalar(BY_PAYLOAD, {"payload": payment.payload})
    if order is None:
        return await _open_refund(session, payment, None, RefundReason.UNMATCHED, auto_refund)
    now = utcnow()
    item = await lock_item(session, order.stock_item_id) if order.stock_item_id else None
    order = await lock_order(session, order.id)
    if order.telegram_payment_charge_id is not None or order.user_id != payment.user_id:
        # The invoice was paid again, or by someone else: a new purchase of the same product.
        await ensure_user(session, payment.user_id)
        order = Order(
            user_id=payment.user_id,
            product_id=order.product_id,
            payload=new_payload(),
            amount=payment.amount,
            currency=CURRENCY,
            status=OrderStatus.PENDING.value,
            expires_at=now,
        )
        session.add(order)
        await session.flush()
        item = None
    elif order.status != OrderStatus.PENDING or item is None or item.status != ItemStatus.RESERVED:
        item = None  # the reservation was lost (expired and taken over, or released)
    late = item is None
    if item is None:
        item = await claim_item(session, order.product_id, now, for_order=order.id)
    if payment.amount != order.amount:
        log.warning(
            "paid amount differs from the order amount",
            order_id=order.id,
            order_amount=order.amount,
            amount=payment.amount,
        )
        order.amount = payment.amount
    order.telegram_payment_charge_id = payment.charge_id
    order.provider_payment_charge_id = payment.provider_charge_id
    order.paid_at = payment.paid_at
    if item is None:
        order.stock_item_id = None  # never point a refunded order at someone else's item
        order.status = OrderStatus.REFUND_DUE.value
        await session.flush()
        return await _open_refund(session, payment, order, RefundReason.SOLD_OUT, auto_refund)
    item.status = ItemStatus.SOLD.value
    item.sold_at = now
    item.reserved_until = None
    order.stock_item_id = item.id
    order.status = OrderStatus.PAID.value
    # The first send's lease, taken here: the settling caller sends at once, one transaction
    # fewer on the buyer's path; if it dies first, the lease runs out and the worker sends.
    order.next_delivery_at = now + delivery.SEND_LEASE
    order.delivery_attempts = 1
    await session.flush()
    product = await session.get(Product, order.product_id)
    assert product is not None  # products with orders are never deleted
    return Settlement(
        Settled.SOLD,
        payment.charge_id,
        payment.user_id,
        payment.amount,
        order_id=order.id,
        title=product.title,
        late=late,
        low_stock=await _low_stock(session, product),
        goods=await delivery.goods_of(session, order.id),
    )


async def _open_refund(
    session: AsyncSession,
    payment: Payment,
    order: Order | None,
    reason: RefundReason,
    auto_refund: bool,
) -> Settlement:
    refund = Refund(
        charge_id=payment.charge_id,
        order_id=order.id if order is not None else None,
        user_id=payment.user_id,
        amount=payment.amount,
        reason=reason.value,
        status=RefundStatus.DUE.value,
        next_attempt_at=utcnow() if auto_refund else None,
    )
    session.add(refund)
    await session.flush()
    title: str | None = None
    if order is not None:
        title = await session.scalar(select(Product.title).where(Product.id == order.product_id))
    return Settlement(
        Settled.REFUND_DUE,
        payment.charge_id,
        payment.user_id,
        payment.amount,
        order_id=order.id if order is not None else None,
        refund_id=refund.id,
        reason=reason,
        title=title or "",
    )


async def _low_stock(session: AsyncSession, product: Product) -> LowStock | None:
    """After a sale: did the unsold stock just drop below the product's threshold?

    The product row is locked, so concurrent sales of one product count one after the other
    and exactly one of them sees the crossing. Products without a threshold skip all this.
    """
    if product.low_stock_threshold <= 0:
        return None
    await session.scalar(  # lock the row; populate_existing reads it into `product` again
        select(Product)
        .where(Product.id == product.id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )
    # Counted up to the threshold only: exact below it, and no longer for a bigger stock.
    left = await unsold_at_most(session, product.id, product.low_stock_threshold)
    if left == product.low_stock_threshold - 1:
        return LowStock(product.id, product.title, int(left), product.low_stock_threshold)
    return None
