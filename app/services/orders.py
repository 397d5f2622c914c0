"""Reservations and pre-checkout: the buyer's path up to the moment Telegram takes the Stars.

A reservation is an :class:`Order` (pending, with a random invoice payload) holding one stock
item (reserved until ``expires_at``). Claims take items with ``FOR NO KEY UPDATE SKIP LOCKED``
on PostgreSQL, so concurrent buyers never wait on each other and never get the same item; on
SQLite every write transaction begins ``IMMEDIATE`` and so runs alone.

Locks are always taken in the same order (user, then stock item, then order, then product), so
claims and payments never deadlock each other. Settling a payment lives in
:mod:`app.services.fulfilment`.
"""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from aiogram.types import User as TelegramUser
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import utcnow
from app.db.models import ItemStatus, Order, OrderStatus, Product, StockItem
from app.services.availability import claim_queries
from app.services.catalog import NOW, PENDING
from app.services.tx import begin_write
from app.services.users import upsert_user

log = structlog.get_logger(__name__)

CURRENCY = "XTR"
# A pre-checkout that says "ok" keeps the item for at least this long, so the payment that
# follows within seconds always finds its item still reserved.
CHECKOUT_GRACE = timedelta(minutes=2)


def new_payload() -> str:
    return secrets.token_urlsafe(24)  # 32 characters, well under Telegram's 128 bytes


class ReserveStatus(enum.StrEnum):
    RESERVED = "reserved"
    SOLD_OUT = "sold_out"
    UNAVAILABLE = "unavailable"  # no such product, or it is hidden
    LIMIT = "limit"  # the buyer already holds MAX_RESERVATIONS_PER_USER unpaid reservations


@dataclass(frozen=True)
class Invoice:
    order_id: int
    product_id: int
    payload: str
    amount: int
    title: str
    description: str
    expires_at: datetime
    reused: bool  # the buyer already held a live reservation for this product


@dataclass(frozen=True)
class Reservation:
    status: ReserveStatus
    invoice: Invoice | None = None


# Built once with bind parameters (see app.services.catalog): a call only binds values.
_LOCK_ITEM = (
    select(StockItem)
    .where(StockItem.id == bindparam("id"))
    .with_for_update(key_share=True)
    .execution_options(populate_existing=True)
)
_LOCK_ORDER = (
    select(Order)
    .where(Order.id == bindparam("id"))
    .with_for_update(key_share=True)
    .execution_options(populate_existing=True)
)
_CLAIM_AVAILABLE, _CLAIM_EXPIRED = claim_queries(bindparam("product"), NOW)
_HELD = (
    select(Order)
    .where(
        Order.user_id == bindparam("user"),
        Order.product_id == bindparam("product"),
        Order.status == PENDING,
        Order.expires_at > NOW,
    )
    .order_by(Order.id.desc())
    .limit(1)
)
_LIVE = select(func.count(Order.id)).where(
    Order.user_id == bindparam("user"),
    Order.status == OrderStatus.PENDING.value,
    Order.expires_at > NOW,
)
BY_PAYLOAD = select(Order).where(Order.payload == bindparam("payload"))


async def lock_item(session: AsyncSession, item_id: int) -> StockItem | None:
    return await session.scalar(_LOCK_ITEM, {"id": item_id})


async def lock_order(session: AsyncSession, order_id: int) -> Order:
    order = await session.scalar(_LOCK_ORDER, {"id": order_id})
    assert order is not None  # orders are never deleted
    return order


async def claim_item(
    session: AsyncSession, product_id: int, now: datetime, *, for_order: int | None = None
) -> StockItem | None:
    """Lock one claimable item of the product (skipping items others hold locked).

    Available items go first; an expired reservation is taken over only when none is left.
    An item taken over from an expired reservation ends that reservation: its order becomes
    ``expired``, so a late payment for it knows it must find another item.
    """
    params = {"product": product_id, "now": now}
    item = await session.scalar(_CLAIM_AVAILABLE, params)
    if item is None:
        item = await session.scalar(_CLAIM_EXPIRED, params)
    if item is not None and item.status == ItemStatus.RESERVED:
        stale = update(Order).where(
            Order.stock_item_id == item.id, Order.status == OrderStatus.PENDING.value
        )
        if for_order is not None:
            stale = stale.where(Order.id != for_order)
        await session.execute(stale.values(status=OrderStatus.EXPIRED.value))
        log.info("expired reservation taken over", stock_item_id=item.id, product_id=product_id)
    return item


def _invoice(order: Order, product: Product, *, reused: bool) -> Invoice:
    return Invoice(
        order_id=order.id,
        product_id=product.id,
        payload=order.payload,
        amount=order.amount,
        title=product.title,
        description=product.description,
        expires_at=order.expires_at,
        reused=reused,
    )


async def _held_reservation(
    session: AsyncSession, user_id: int, product_id: int, now: datetime
) -> Order | None:
    return await session.scalar(_HELD, {"user": user_id, "product": product_id, "now": now})


async def _end_reservation(session: AsyncSession, order: Order) -> None:
    """Expire a pending order and put its item back on sale (the caller holds the write)."""
    if order.stock_item_id is not None:
        item = await lock_item(session, order.stock_item_id)
        if item is not None and item.status == ItemStatus.RESERVED:
            item.status = ItemStatus.AVAILABLE.value
            item.reserved_until = None
    order = await lock_order(session, order.id)
    if order.status == OrderStatus.PENDING and order.telegram_payment_charge_id is None:
        order.status = OrderStatus.EXPIRED.value


async def reserve(
    session: AsyncSession,
    *,
    buyer: TelegramUser,
    product_id: int,
    minutes: int,
    max_reservations: int | None = None,
) -> Reservation:
    """Reserve one item of the product for the buyer and create the pending order; commits.

    A buyer who already holds a live reservation for the product gets it back (same payload,
    same invoice) instead of a second item, unless the price changed meanwhile: then the old
    reservation ends and a new one is made at the current price. A buyer who already holds
    ``max_reservations`` live reservations gets none (``LIMIT``); the user row, locked first,
    makes the count exact under concurrent presses.
    """
    await begin_write(session)
    await upsert_user(session, buyer)  # orders need the user row; it also locks it (PostgreSQL)
    now = utcnow()
    product = await session.get(Product, product_id)
    if product is None or not product.is_active:
        await session.commit()
        return Reservation(ReserveStatus.UNAVAILABLE)
    held = await _held_reservation(session, buyer.id, product.id, now)
    if held is not None:
        if held.amount == product.price:
            result = _invoice(held, product, reused=True)
            await session.commit()
            log.info("reservation reused", order_id=held.id, product_id=product.id)
            return Reservation(ReserveStatus.RESERVED, result)
        await _end_reservation(session, held)
    if max_reservations is not None:
        live = await session.scalar(_LIVE, {"user": buyer.id, "now": now}) or 0
        if live >= max_reservations:
            await session.commit()
            log.info("reservation cap reached", buyer_id=buyer.id, live=live)
            return Reservation(ReserveStatus.LIMIT)
    item = await claim_item(session, product.id, now)
    if item is None:
        await session.commit()
        log.info("sold out", product_id=product.id)
        return Reservation(ReserveStatus.SOLD_OUT)
    expires_at = now + timedelta(minutes=minutes)
    item.status = ItemStatus.RESERVED.value
    item.reserved_until = expires_at
    order = Order(
        user_id=buyer.id,
        product_id=product.id,
        stock_item_id=item.id,
        payload=new_payload(),
        amount=product.price,
        currency=CURRENCY,
        status=OrderStatus.PENDING.value,
        expires_at=expires_at,
    )
    session.add(order)
    await session.flush()
    result = _invoice(order, product, reused=False)
    await session.commit()
    log.info(
        "item reserved",
        order_id=order.id,
        payload=order.payload,
        product_id=product.id,
        stock_item_id=item.id,
        amount=order.amount,
        expires_at=expires_at.isoformat(),
    )
    return Reservation(ReserveStatus.RESERVED, result)


async def release(session: AsyncSession, order_id: int) -> None:
    """End an unpaid reservation early (its invoice could not be sent); commits."""
    await begin_write(session)
    order = await session.get(Order, order_id)
    if order is not None and order.status == OrderStatus.PENDING:
        await _end_reservation(session, order)
    await session.commit()
    log.info("reservation released", order_id=order_id)


class Verdict(enum.StrEnum):
    """The answer to a pre-checkout query; anything but OK names the error text."""

    OK = "ok"
    UNKNOWN = "unknown"
    FOREIGN = "foreign"
    PAID = "paid"
    EXPIRED = "expired"
    SOLD_OUT = "sold_out"
    UNAVAILABLE = "unavailable"
    PRICE_CHANGED = "price_changed"
    AMOUNT_MISMATCH = "amount_mismatch"
    CURRENCY = "currency"


def _order_verdict(order: Order, user_id: int, now: datetime) -> Verdict | None:
    """The checks that need no lock: whose order it is and whether it is still open."""
    if order.user_id != user_id:
        return Verdict.FOREIGN
    if order.status == OrderStatus.EXPIRED:
        return Verdict.EXPIRED
    if order.status != OrderStatus.PENDING or order.telegram_payment_charge_id is not None:
        return Verdict.PAID
    if order.expires_at <= now:
        return Verdict.EXPIRED
    return None


def _price_verdict(order: Order, product: Product | None, currency: str, total: int) -> Verdict:
    if product is None or not product.is_active:
        return Verdict.UNAVAILABLE
    failed = (
        (product.price != order.amount, Verdict.PRICE_CHANGED),
        (currency != order.currency, Verdict.CURRENCY),
        (total != order.amount, Verdict.AMOUNT_MISMATCH),
    )
    return next((verdict for is_bad, verdict in failed if is_bad), Verdict.OK)


async def _verdict(
    session: AsyncSession, order: Order, *, user_id: int, currency: str, total: int
) -> Verdict:
    now = utcnow()
    if (early := _order_verdict(order, user_id, now)) is not None:
        return early
    item = await lock_item(session, order.stock_item_id) if order.stock_item_id else None
    order = await lock_order(session, order.id)
    if order.status != OrderStatus.PENDING:  # taken over while we waited for the lock
        return Verdict.EXPIRED
    if item is None or item.status != ItemStatus.RESERVED:
        return Verdict.SOLD_OUT
    product = await session.get(Product, order.product_id)
    verdict = _price_verdict(order, product, currency, total)
    if verdict is Verdict.OK:
        until = max(order.expires_at, now + CHECKOUT_GRACE)
        order.expires_at = until
        item.reserved_until = until
    return verdict


async def check_pre_checkout(
    session: AsyncSession, *, user_id: int, payload: str, currency: str, total_amount: int
) -> Verdict:
    """Decide whether Telegram may take the payment; commits.

    "ok" is a promise: the reservation is checked and extended (by :data:`CHECKOUT_GRACE`) in
    one transaction, so the item cannot be taken over between this answer and the payment.
    """
    await begin_write(session)
    order = await session.scalar(BY_PAYLOAD, {"payload": payload})
    verdict = Verdict.UNKNOWN
    if order is not None:
        verdict = await _verdict(
            session, order, user_id=user_id, currency=currency, total=total_amount
        )
    await session.commit()
    log.info(
        "pre-checkout",
        verdict=verdict.value,
        order_id=order.id if order else None,
        payload=payload,
        amount=total_amount,
        currency=currency,
        buyer_id=user_id,
    )
    return verdict
