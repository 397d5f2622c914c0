"""Settling a recorded payment: the order gets its item, or the buyer is owed a refund.

A payment is settled exactly once, in one transaction that locks its
:class:`~app.db.models.PendingPayment` marker and deletes it. Whoever gets there first (the
update's handler, the fulfilment worker, the reconciliation on any replica) settles it; the
others find the marker gone. A settlement that fails leaves the marker, moved back with
backoff (:func:`app.services.settle_queue.postpone`). A payment that arrives after its
reservation ran out is still honoured when stock remains; otherwise, and for a payload that
matches no order, a refund is opened against the ledger row. Nothing here commits or calls Telegram.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import bindparam, delete, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import utcnow
from app.db.models import (
    ItemStatus,
    Order,
    OrderStatus,
    Payment,
    PendingPayment,
    Product,
    Referral,
    Refund,
    RefundReason,
    RefundStatus,
    StockItem,
    User,
)
from app.services import cart, delivery, ledger, order_items, redemptions, referral_rewards
from app.services.availability import unsold_at_most
from app.services.delivery import Goods
from app.services.holds import check_units, claim_again, held_units, own_units
from app.services.orders import (
    BY_PAYLOAD,
    Line,
    add_order,
    from_cart,
    fully_held,
    lock_with_lines,
    locking,
    new_payload,
)
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
    low_stock: tuple[LowStock, ...] = ()  # the products whose stock just fell under the mark
    goods: Goods | None = None  # SOLD: what to send, its first send leased to the caller


# The order, its lines and products, and whether its buyer's referral still waits for a first
# paid order (then the settlement records it; most buyers were never referred).
_LOCK_FOR_SETTLEMENT = locking(
    exists()
    .where(Referral.referee_id == Order.user_id, Referral.first_order_id.is_(None))
    .label("referred"),
    select(User.language_code).where(User.id == Order.user_id).scalar_subquery(),
)
_ORDER_BY_CHARGE = select(Order.id).where(Order.telegram_payment_charge_id == bindparam("charge"))
# Taking the marker is deleting it: the row lock the DELETE takes makes a concurrent settler
# wait, then find nothing; a settlement that fails rolls the DELETE back with the rest.
_TAKE_PENDING = (
    delete(PendingPayment)
    .where(PendingPayment.charge_id == bindparam("charge"))
    .returning(PendingPayment.charge_id)
)


async def settle(session: AsyncSession, charge_id: str, *, auto_refund: bool) -> Settlement:
    """Settle the recorded payment ``charge_id`` (the caller holds a write transaction)."""
    if await session.scalar(_TAKE_PENDING, {"charge": charge_id}) is None:
        order_id = await session.scalar(_ORDER_BY_CHARGE, {"charge": charge_id})
        return Settlement(Settled.ALREADY, charge_id, order_id=order_id)
    payment = await ledger.by_charge(session, charge_id)
    assert payment is not None  # the marker's foreign key
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
    order = await session.scalar(BY_PAYLOAD, {"payload": payment.payload})
    if order is None:
        return await _open_refund(session, payment, None, RefundReason.UNMATCHED, auto_refund)
    now = utcnow()
    units = (await held_units(session, [(order.id, order.stock_item_id)]))[order.id]
    locked = await lock_with_lines(session, order.id, _LOCK_FOR_SETTLEMENT)
    order, lines, (referred, language) = locked.order, locked.lines, locked.extra
    second = False
    if order.telegram_payment_charge_id == payment.charge_id:
        # The order carries this very charge already (a release before the ledger recorded it
        # there: the payload ties a payment to its one order).
        return Settlement(Settled.ALREADY, payment.charge_id, order_id=order.id)
    units = await own_units(session, order, units)
    if order.telegram_payment_charge_id is not None or order.user_id != payment.user_id:
        # The invoice was paid again, or by someone else: a new purchase of the same lines.
        order = await _second_purchase(session, payment, lines, now)
        units = []
        second = referred = True  # another buyer, maybe: their referral is looked up
    wanted = [(line.product_id, line.quantity) for line in lines]
    late = order.status != OrderStatus.PENDING or not fully_held(lines, units)
    if late:  # the reservation was lost (expired and taken over, or released): claim again
        units = await claim_again(session, order.id, wanted, units, now)
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
    if order.discount:  # a code's use is held only by an order it discounted
        await redemptions.confirm(session, order, now)  # given back if the payment is refunded
    if referred:  # a referee's first paid order, sold or not
        await referral_rewards.record_first_order(session, order)
    if not units:  # not every unit could be had: all of it goes back, the payment in full
        order.stock_item_id = None  # never point a refunded order at someone else's item
        order.status = OrderStatus.REFUND_DUE.value
        await session.flush()
        return await _open_refund(session, payment, order, RefundReason.SOLD_OUT, auto_refund)
    check_units(order.id, wanted, units)  # distinct, exactly what was ordered: or fail loudly
    with session.no_autoflush:  # the order's changes go in one UPDATE, at the flush below
        await session.execute(
            update(StockItem)
            .where(StockItem.id.in_([item.id for item in units]))
            .values(
                status=ItemStatus.SOLD.value, sold_at=now, reserved_until=None, order_id=order.id
            )
            .execution_options(synchronize_session=False)
        )
    order.stock_item_id = units[0].id
    order.status = OrderStatus.PAID.value
    # The first send's lease, taken here: the settling caller sends at once, one transaction
    # fewer on the buyer's path; if it dies first, the lease runs out and the worker sends.
    order.next_delivery_at = now + delivery.SEND_LEASE
    order.delivery_attempts = 1
    await session.flush()
    products = [locked.products.get(line.product_id) for line in lines]
    low = [await _low_stock(session, product) for product in products if product is not None]
    if from_cart(order.payload):
        await cart.bought(session, payment.user_id, [line.product_id for line in lines])
    # The goods as delivery.goods_of reads them, from the units and products in hand (the
    # language is the order's buyer's, read with the lock: a second purchase's is read anew).
    goods = None if second else delivery.goods_from(order, units, locked.products, language)
    return Settlement(
        Settled.SOLD,
        payment.charge_id,
        payment.user_id,
        payment.amount,
        order_id=order.id,
        title=order_items.label(
            [(p.title, line.quantity) for p, line in zip(products, lines, strict=True) if p]
        ),
        late=late,
        low_stock=tuple(filter(None, low)),
        goods=goods or await delivery.goods_of(session, order.id),
    )


async def _second_purchase(
    session: AsyncSession, payment: Payment, lines: list[Line], now: datetime
) -> Order:
    """The same invoice paid again (or by someone else): a new order of the same lines."""
    await ensure_user(session, payment.user_id)
    return await add_order(
        session,
        user_id=payment.user_id,
        lines=lines,
        amount=payment.amount,
        payload=new_payload(),
        expires_at=now,
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
    title = await order_items.label_of(session, order.id) if order is not None else ""
    return Settlement(
        Settled.REFUND_DUE,
        payment.charge_id,
        payment.user_id,
        payment.amount,
        order_id=order.id if order is not None else None,
        refund_id=refund.id,
        reason=reason,
        title=title,
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
