"""Reservations: the buyer's path up to the invoice, and its early end.

A reservation is an :class:`Order` (pending, with a random invoice payload) and its lines
(:class:`OrderLine`: product, quantity, unit price); every unit of every line is a stock item
reserved until ``expires_at`` whose ``order_id`` is the order. A reservation is all or nothing:
in one transaction every unit is claimed, or nothing is held and the buyer learns what is
short (or why the order cannot be: too many units of a product, a total no invoice can carry).
The units' primitives (claims with ``SKIP LOCKED``, holds) are :mod:`app.services.holds`, the
order's own (payload, lines, quote) :mod:`app.services.orders`; on SQLite every write
transaction begins ``IMMEDIATE`` (:func:`app.db.uow.write`) and runs alone.

Locks are always taken in the same order (user, then stock items, then order, then product),
so claims and payments never deadlock each other. Nothing here commits: the caller holds the
write transaction. Pre-checkout is :mod:`app.services.pre_checkout`.

The new code keeps writing ``orders.product_id`` (the first line's) and ``orders.stock_item_id``
(the first unit) for the release before order lines, which reads them.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from aiogram.types import User as TelegramUser
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import DEFAULT_MAX_QUANTITY
from app.db.base import utcnow
from app.db.models import ItemStatus, Order, OrderStatus, Product, StockItem
from app.services.holds import claim_units, held_units, hold
from app.services.live_reservations import end_reservations, live_orders
from app.services.orders import Line, Quote, add_order, new_payload, products_of, quote
from app.services.products import STARS_INVOICE_MAX
from app.services.users import upsert_user

log = structlog.get_logger(__name__)


class ReserveStatus(enum.StrEnum):
    RESERVED = "reserved"
    SOLD_OUT = "sold_out"  # one product, nothing left of it
    SHORT = "short"  # some line cannot be filled in full: see Reservation.short
    UNAVAILABLE = "unavailable"  # no such product, or it is hidden
    LIMIT = "limit"  # the buyer would hold more than the cap of unpaid units
    TOO_MANY = "too_many"  # more units of one product than a buyer may choose (MAX_QUANTITY)
    OVER_STARS_MAX = "over_stars_max"  # a total over what one Stars invoice can carry


@dataclass(frozen=True)
class Shortage:
    product_id: int
    title: str
    wanted: int
    left: int  # units that could be claimed for this buyer now


@dataclass(frozen=True)
class Invoice:
    order_id: int
    product_id: int  # the first line's
    payload: str
    amount: int
    title: str  # the first line's product
    description: str  # the first line's product
    expires_at: datetime
    reused: bool  # the buyer already held a live reservation of exactly these lines
    lines: tuple[Line, ...] = ()

    @property
    def units(self) -> int:
        return sum(line.quantity for line in self.lines)


@dataclass(frozen=True)
class Reservation:
    status: ReserveStatus
    invoice: Invoice | None = None
    short: tuple[Shortage, ...] = ()


def _invoice(order: Order, quoted: Quote, products: dict[int, Product], *, reused: bool) -> Invoice:
    first = products[quoted.lines[0].product_id]
    return Invoice(
        order_id=order.id,
        product_id=first.id,
        payload=order.payload,
        amount=order.amount,
        title=first.title,
        description=first.description,
        expires_at=order.expires_at,
        reused=reused,
        lines=quoted.lines,
    )


async def _claim_lines(
    session: AsyncSession,
    lines: Sequence[Line],
    own: dict[int, list[StockItem]],
    now: datetime,
) -> tuple[list[StockItem], list[Shortage]]:
    """Every unit of every line: the buyer's own reserved units first, then claims."""
    reusable: dict[int, list[StockItem]] = {}
    for item in (item for items in own.values() for item in items):
        if item.status == ItemStatus.RESERVED:
            reusable.setdefault(item.product_id, []).append(item)
    taken: list[StockItem] = []
    short: list[Shortage] = []
    for line in lines:
        mine = reusable.get(line.product_id, [])[: line.quantity]
        more = await claim_units(
            session, line.product_id, line.quantity - len(mine), now, for_order=None
        )
        if (got := len(mine) + len(more)) < line.quantity:
            short.append(Shortage(line.product_id, line.title, line.quantity, got))
        taken += mine + more
    return taken, short


def _out_of_bounds(quoted: Quote, max_quantity: int) -> ReserveStatus | None:
    if any(line.quantity > max_quantity for line in quoted.lines):
        return ReserveStatus.TOO_MANY
    if quoted.total > STARS_INVOICE_MAX:
        return ReserveStatus.OVER_STARS_MAX
    return None


async def reserve_lines(
    session: AsyncSession,
    *,
    buyer: TelegramUser,
    wanted: Sequence[tuple[int, int]],
    minutes: int,
    max_units: int | None = None,
    max_quantity: int = DEFAULT_MAX_QUANTITY,
    cart: bool = False,
) -> Reservation:
    """Reserve every unit of ``wanted`` (product id, quantity) for the buyer, or nothing
    (``cart``: the cart's order, whose payment empties the cart of what it bought).

    Every path to an order comes here, so the bounds are kept here, before anything is held:
    at most ``max_quantity`` units of a product (``TOO_MANY``, whatever a callback said) and a
    total one Stars invoice can carry (``OVER_STARS_MAX``). A buyer holds one live reservation
    per product: one of exactly these lines at today's prices is given back (same payload, same
    invoice); any other that shares a product ends, its units going to the new one first. The
    buyer then holds at most ``max_units`` unpaid units across the shop (``LIMIT``); the user
    row, locked first, makes the count exact under concurrent presses. Nothing is written
    unless every unit was claimed.
    """
    quantities: Counter[int] = Counter()
    for product_id, quantity in wanted:
        if quantity > 0:
            quantities[product_id] += quantity
    await upsert_user(session, buyer)  # orders need the user row; it also locks it (PostgreSQL)
    now = utcnow()
    products = await products_of(session, quantities)
    if not quantities or any(
        (p := products.get(pid)) is None or not p.is_active for pid in quantities
    ):
        return Reservation(ReserveStatus.UNAVAILABLE)
    quoted = quote(
        Line(pid, qty, products[pid].price, products[pid].title)
        for pid, qty in sorted(quantities.items())
    )
    if (refused := _out_of_bounds(quoted, max_quantity)) is not None:
        log.info("reservation refused", buyer_id=buyer.id, reason=refused.value)
        return Reservation(refused)
    live = await live_orders(session, buyer.id, now)
    for held in live:
        if held.same_lines(quoted.lines) and held.amount == quoted.total and held.cart == cart:
            order = await session.get(Order, held.order_id)
            assert order is not None
            log.info("reservation reused", order_id=order.id, units=quoted.units)
            return Reservation(
                ReserveStatus.RESERVED, _invoice(order, quoted, products, reused=True)
            )
    replaced = [held for held in live if held.products() & set(quantities)]
    if max_units is not None:
        holding = sum(held.units for held in live) - sum(held.units for held in replaced)
        if holding + quoted.units > max_units:
            log.info("reservation cap reached", buyer_id=buyer.id, held=holding)
            return Reservation(ReserveStatus.LIMIT)
    own = await held_units(session, [(held.order_id, held.first_unit) for held in replaced])
    taken, short = await _claim_lines(session, quoted.lines, own, now)
    if short:
        log.info(
            "not enough stock", buyer_id=buyer.id, short=[(s.product_id, s.left) for s in short]
        )
        sold_out = len(quoted.lines) == 1 and not short[0].left
        status = ReserveStatus.SOLD_OUT if sold_out else ReserveStatus.SHORT
        return Reservation(status, short=tuple(short))
    if replaced:
        kept = {item.id for item in taken}
        extra = [item for items in own.values() for item in items if item.id not in kept]
        await end_reservations(session, [held.order_id for held in replaced], extra)
    expires_at = now + timedelta(minutes=minutes)
    order = await add_order(
        session,
        user_id=buyer.id,
        lines=quoted.lines,
        amount=quoted.total,
        payload=new_payload(from_cart=cart),
        expires_at=expires_at,
        stock_item_id=taken[0].id,
    )
    await hold(session, order, taken, expires_at)
    await session.flush()
    log.info(
        "reserved",
        order_id=order.id,
        payload=order.payload,
        product_ids=[line.product_id for line in quoted.lines],
        units=quoted.units,
        amount=order.amount,
        expires_at=expires_at.isoformat(),
    )
    return Reservation(ReserveStatus.RESERVED, _invoice(order, quoted, products, reused=False))


async def reserve(
    session: AsyncSession,
    *,
    buyer: TelegramUser,
    product_id: int,
    minutes: int,
    quantity: int = 1,
    max_units: int | None = None,
    max_quantity: int = DEFAULT_MAX_QUANTITY,
) -> Reservation:
    """Reserve ``quantity`` units of one product (Buy on its card); see :func:`reserve_lines`."""
    return await reserve_lines(
        session,
        buyer=buyer,
        wanted=[(product_id, quantity)],
        minutes=minutes,
        max_units=max_units,
        max_quantity=max_quantity,
    )


async def release(session: AsyncSession, order_id: int) -> None:
    """End an unpaid reservation early (its invoice could not be sent)."""
    order = await session.get(Order, order_id)
    if order is None or order.status != OrderStatus.PENDING:
        return
    units = await held_units(session, [(order.id, order.stock_item_id)])
    await end_reservations(session, [order.id], units[order.id])
    log.info("reservation released", order_id=order_id)
