"""An order's own facts, shared by its reservation, its pre-checkout and its settlement.

An order carries a random invoice payload (one placed from the cart is marked so its payment
empties the cart), its lines (:class:`OrderLine`: product, quantity, unit price) and their
quote (the total charged, a promo code's discount taken off in :func:`quote` only). Every unit
of every line is a stock item whose ``order_id`` is the order (:mod:`app.services.holds`).
The buyer's path to the invoice is :mod:`app.services.reservations`, the pre-checkout answer
:mod:`app.services.pre_checkout`, and settling a payment :mod:`app.services.fulfilment`.

Orders made by the release before order lines existed have no lines and one unit
(``orders.stock_item_id``, the item's ``order_id`` unset): :func:`lines_of` and
:func:`app.services.holds.held_units` read them as one line of one unit, so they are paid and
delivered as before. Nothing here commits: the caller holds the write transaction.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import ItemStatus, Order, OrderLine, OrderStatus, Product, StockItem

CURRENCY = "XTR"


# The payload of an order placed from the cart: paying it takes what it bought out of the cart
# (a Buy on a card leaves the cart alone, and its settlement has nothing to delete).
CART_PAYLOAD = "c"


def new_payload(*, from_cart: bool = False) -> str:
    token = secrets.token_urlsafe(24)  # 32 characters, well under Telegram's 128 bytes
    return CART_PAYLOAD + token if from_cart else token


def from_cart(payload: str) -> bool:
    return len(payload) == 33 and payload.startswith(CART_PAYLOAD)


# --- quotes: an order's total, computed in one place ----------------------------------------


@dataclass(frozen=True)
class Line:
    """A line asked for or held: ``quantity`` units of a product at ``unit_price`` each."""

    product_id: int
    quantity: int
    unit_price: int
    title: str = ""

    @property
    def amount(self) -> int:
        return self.quantity * self.unit_price


@dataclass(frozen=True)
class Quote:
    """What an order costs: its lines, their subtotal, and the total charged.

    The total is the subtotal less a promo code's discount (:func:`quote`, the one place it is
    taken off; see :mod:`app.services.redemptions`), and the order row carries the total as
    ``amount`` (and the discount as ``discount``).
    """

    lines: tuple[Line, ...]
    subtotal: int
    total: int

    @property
    def units(self) -> int:
        return sum(line.quantity for line in self.lines)


def quote(lines: Iterable[Line], discount: int = 0) -> Quote:
    """The lines' subtotal, less ``discount`` (a promo code's), never below 1 Star."""
    kept = tuple(lines)
    subtotal = sum(line.amount for line in kept)
    return Quote(kept, subtotal, max(subtotal - discount, min(subtotal, 1)))


# --- reading and locking an order -----------------------------------------------------------

# Built once with bind parameters (see app.services.catalog): a call only binds values.
_LOCK_ORDER = (
    select(Order)
    .where(Order.id == bindparam("id"))
    .with_for_update(key_share=True)
    .execution_options(populate_existing=True)
)
_LINES = (
    select(OrderLine.product_id, OrderLine.quantity, OrderLine.unit_price)
    .where(OrderLine.order_id == bindparam("order"))
    .order_by(OrderLine.id)
)
_PRODUCTS = select(Product).where(Product.id.in_(bindparam("ids", expanding=True)))
# A line's product; an order of the release before order lines has one, the order's own.
_LINE_PRODUCT = func.coalesce(OrderLine.product_id, Order.product_id)
BY_PAYLOAD = select(Order).where(Order.payload == bindparam("payload"))


async def lock_order(session: AsyncSession, order_id: int) -> Order:
    order = await session.scalar(_LOCK_ORDER, {"id": order_id})
    assert order is not None  # orders are never deleted
    return order


def locking(*extra: ColumnElement[Any]) -> Select[Any]:
    """The statement of :func:`lock_with_lines`, with ``extra`` columns read in the same row
    (built once, at import, by each caller that needs more: a call only binds the id)."""
    return (
        select(
            Order,
            _LINE_PRODUCT.label("line_product"),
            OrderLine.quantity,
            OrderLine.unit_price,
            Product,
            *extra,
        )
        .outerjoin(OrderLine, OrderLine.order_id == Order.id)
        .outerjoin(Product, Product.id == _LINE_PRODUCT)
        .where(Order.id == bindparam("id"))
        .order_by(OrderLine.id)
        .with_for_update(key_share=True, of=Order)  # the order's row only, as lock_order
        .execution_options(populate_existing=True)
    )


_LOCK_WITH_LINES = locking()


@dataclass(frozen=True)
class LockedOrder:
    """An order locked for its change, its lines, their products by id, and the ``extra``
    columns of :func:`locking` (as of the first line)."""

    order: Order
    lines: list[Line]
    products: dict[int, Product]
    extra: tuple[Any, ...] = ()


async def lock_with_lines(
    session: AsyncSession, order_id: int, query: Select[Any] = _LOCK_WITH_LINES
) -> LockedOrder:
    """:func:`lock_order`, :func:`lines_of` and :func:`products_of` in one round trip."""
    rows = (await session.execute(query, {"id": order_id})).all()
    assert rows  # orders are never deleted
    order = rows[0][0]
    if rows[0].quantity is None:  # an order of the release before order lines: one unit
        lines = [Line(order.product_id, 1, order.amount)]
    else:
        lines = [Line(row.line_product, row.quantity, row.unit_price) for row in rows]
    products = {row.Product.id: row.Product for row in rows if row.Product is not None}
    return LockedOrder(order, lines, products, tuple(rows[0][5:]))


async def lines_of(session: AsyncSession, order: Order) -> list[Line]:
    rows = (await session.execute(_LINES, {"order": order.id})).all()
    if not rows:  # an order of the release before order lines: one unit
        return [Line(order.product_id, 1, order.amount)]
    return [Line(product, quantity, price) for product, quantity, price in rows]


async def products_of(session: AsyncSession, ids: Iterable[int]) -> dict[int, Product]:
    """The products of these ids, by id (an unknown id is missing)."""
    return {p.id: p for p in await session.scalars(_PRODUCTS, {"ids": list(ids)})}


def fully_held(lines: Sequence[Line], units: Sequence[StockItem]) -> bool:
    """Every unit of every line is reserved by the order (and nothing else is)."""
    reserved = Counter(item.product_id for item in units if item.status == ItemStatus.RESERVED)
    return reserved == Counter({line.product_id: line.quantity for line in lines})


async def add_order(
    session: AsyncSession,
    *,
    user_id: int,
    lines: Sequence[Line],
    amount: int,
    payload: str,
    expires_at: datetime,
    stock_item_id: int | None = None,
) -> Order:
    """A pending order of ``lines`` (its ``product_id`` the first line's, as the release before
    carts reads it), flushed with its order lines."""
    order = Order(
        user_id=user_id,
        product_id=lines[0].product_id,
        stock_item_id=stock_item_id,
        payload=payload,
        amount=amount,
        currency=CURRENCY,
        status=OrderStatus.PENDING.value,
        expires_at=expires_at,
    )
    session.add(order)
    await session.flush()
    session.add_all(
        OrderLine(
            order_id=order.id,
            product_id=line.product_id,
            quantity=line.quantity,
            unit_price=line.unit_price,
        )
        for line in lines
    )
    await session.flush()
    return order
