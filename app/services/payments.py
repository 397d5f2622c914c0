"""Recording a successful payment: once per charge, in one transaction, before any delivery.

The Telegram charge id is unique in ``orders``; the same payment reported twice (a redelivered
update, a webhook retry, two replicas) finds its order by charge id and records nothing more.
A payment that arrives after its reservation ran out is still honoured when stock remains;
otherwise the order is kept as ``refund_due`` so that the owner refunds it. A paid buyer
always leaves a row behind.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import structlog
from aiogram.types import User as TelegramUser
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import utcnow
from app.db.models import ItemStatus, Order, OrderStatus, Product
from app.services.availability import unsold_at_most
from app.services.orders import (
    BY_PAYLOAD,
    CURRENCY,
    claim_item,
    lock_item,
    lock_order,
    new_payload,
)
from app.services.tx import begin_write
from app.services.users import upsert_user

log = structlog.get_logger(__name__)


class PaymentKind(enum.StrEnum):
    SOLD = "sold"  # recorded, an item is the buyer's: deliver it
    DUPLICATE = "duplicate"  # this charge was recorded before: record nothing
    REFUND_DUE = "refund_due"  # recorded, but nothing was left to sell
    UNMATCHED = "unmatched"  # no order has this payload: nothing could be recorded


@dataclass(frozen=True)
class LowStock:
    product_id: int
    title: str
    left: int
    threshold: int


@dataclass(frozen=True)
class Payment:
    """What Telegram reported in ``successful_payment``."""

    payer: TelegramUser
    payload: str
    currency: str
    total_amount: int
    charge_id: str
    provider_charge_id: str | None = None


@dataclass(frozen=True)
class PaymentOutcome:
    kind: PaymentKind
    order_id: int | None = None
    order_status: str | None = None
    title: str = ""
    amount: int = 0
    late: bool = False  # the reservation had been lost; another item was claimed
    low_stock: LowStock | None = None


_BY_CHARGE = select(Order).where(Order.telegram_payment_charge_id == bindparam("charge"))


async def _by_charge(session: AsyncSession, charge_id: str) -> Order | None:
    return await session.scalar(_BY_CHARGE, {"charge": charge_id})


async def _title(session: AsyncSession, product_id: int) -> str:
    return await session.scalar(select(Product.title).where(Product.id == product_id)) or ""


async def _duplicate(session: AsyncSession, order: Order, payment: Payment) -> PaymentOutcome:
    title = await _title(session, order.product_id)
    await session.commit()
    log.warning(
        "payment reported again; nothing recorded",
        order_id=order.id,
        payload=payment.payload,
        charge_id=payment.charge_id,
        amount=payment.total_amount,
        buyer_id=payment.payer.id,
        order_status=order.status,
    )
    return PaymentOutcome(PaymentKind.DUPLICATE, order.id, order.status, title, order.amount)


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
    if product.low_stock_threshold > 0 and left == product.low_stock_threshold - 1:
        return LowStock(product.id, product.title, int(left), product.low_stock_threshold)
    return None


async def record_payment(session: AsyncSession, payment: Payment) -> PaymentOutcome:
    """Record the payment and mark its item sold, in one transaction; commits."""
    try:
        return await _record(session, payment)
    except IntegrityError:
        # A concurrent copy of this payment committed the charge id first.
        await session.rollback()
        order = await _by_charge(session, payment.charge_id)
        if order is None:
            raise
        return await _duplicate(session, order, payment)


async def _record(session: AsyncSession, payment: Payment) -> PaymentOutcome:
    await begin_write(session)
    await upsert_user(session, payment.payer)
    now = utcnow()
    if (seen := await _by_charge(session, payment.charge_id)) is not None:
        return await _duplicate(session, seen, payment)
    order = await session.scalar(BY_PAYLOAD, {"payload": payment.payload})
    if order is None:
        await session.commit()
        log.error(
            "payment for an unknown invoice payload",
            payload=payment.payload,
            charge_id=payment.charge_id,
            amount=payment.total_amount,
            currency=payment.currency,
            buyer_id=payment.payer.id,
        )
        return PaymentOutcome(PaymentKind.UNMATCHED, amount=payment.total_amount)
    item = await lock_item(session, order.stock_item_id) if order.stock_item_id else None
    order = await lock_order(session, order.id)
    if order.telegram_payment_charge_id == payment.charge_id:  # a copy committed meanwhile
        return await _duplicate(session, order, payment)
    if order.telegram_payment_charge_id is not None or order.user_id != payment.payer.id:
        # The invoice was paid again, or by someone else: a new purchase of the same product.
        order = Order(
            user_id=payment.payer.id,
            product_id=order.product_id,
            payload=new_payload(),
            amount=max(payment.total_amount, 1),
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
    if payment.total_amount != order.amount:
        log.warning(
            "paid amount differs from the order amount",
            order_id=order.id,
            order_amount=order.amount,
            amount=payment.total_amount,
        )
        order.amount = max(payment.total_amount, 1)
    order.telegram_payment_charge_id = payment.charge_id
    order.provider_payment_charge_id = payment.provider_charge_id or None
    order.paid_at = now
    if item is not None:
        item.status = ItemStatus.SOLD.value
        item.sold_at = now
        item.reserved_until = None
        order.stock_item_id = item.id
        order.status = OrderStatus.DELIVERED.value
    else:
        order.stock_item_id = None  # never point a refund-due order at someone else's item
        order.status = OrderStatus.REFUND_DUE.value
    await session.flush()
    product = await session.get(Product, order.product_id)
    assert product is not None  # products with orders are never deleted
    low_stock = await _low_stock(session, product) if item is not None else None
    title = product.title
    await session.commit()
    kind = PaymentKind.SOLD if item is not None else PaymentKind.REFUND_DUE
    log_method = log.info if kind is PaymentKind.SOLD else log.error
    log_method(
        "payment recorded" if kind is PaymentKind.SOLD else "payment recorded; nothing left",
        order_id=order.id,
        payload=order.payload,
        invoice_payload=payment.payload,
        charge_id=payment.charge_id,
        provider_charge_id=payment.provider_charge_id,
        amount=payment.total_amount,
        currency=payment.currency,
        buyer_id=payment.payer.id,
        product_id=order.product_id,
        stock_item_id=order.stock_item_id,
        status=order.status,
        late=late,
    )
    return PaymentOutcome(kind, order.id, order.status, title, order.amount, late, low_stock)
