"""Reservations and pre-checkout: the buyer's path up to the moment Telegram takes the Stars.

A reservation is an :class:`Order` (pending, with a random invoice payload) and its lines
(:class:`OrderLine`: product, quantity, unit price); every unit of every line is a stock item
reserved until ``expires_at`` whose ``order_id`` is the order. A reservation is all or nothing:
in one transaction every unit is claimed, or nothing is held and the buyer learns what is
short (or why the order cannot be: too many units of a product, a total no invoice can carry).
The units' primitives (claims with ``SKIP LOCKED``, holds) are :mod:`app.services.holds`; on
SQLite every write transaction begins ``IMMEDIATE`` (:func:`app.db.uow.write`) and runs alone.

Locks are always taken in the same order (user, then stock items, then order, then product),
so claims and payments never deadlock each other. Nothing here commits: the caller holds the
write transaction. Settling a payment lives in :mod:`app.services.fulfilment`.

Orders made by the release before order lines existed have no lines and one unit
(``orders.stock_item_id``, the item's ``order_id`` unset): :func:`lines_of` and
:func:`held_units` read them as one line of one unit, so they are paid and delivered as before.
The new code keeps writing ``orders.product_id`` (the first line's) and ``orders.stock_item_id``
(the first unit) for the same reason.
"""

from __future__ import annotations

import enum
import secrets
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from aiogram.types import User as TelegramUser
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import DEFAULT_MAX_QUANTITY
from app.db.base import utcnow
from app.db.models import ItemStatus, Order, OrderLine, OrderStatus, Product, StockItem
from app.services import redemptions
from app.services.catalog import NOW, PENDING
from app.services.holds import claim_units, held_units, hold, own_units, put_back
from app.services.products import STARS_INVOICE_MAX
from app.services.users import upsert_user

log = structlog.get_logger(__name__)

CURRENCY = "XTR"
# A pre-checkout that says "ok" keeps the units for at least this long, so the payment that
# follows within seconds always finds them still reserved.
CHECKOUT_GRACE = timedelta(minutes=2)


# The payload of an order placed from the cart: paying it takes what it bought out of the cart
# (a Buy on a card leaves the cart alone, and its settlement has nothing to delete).
CART_PAYLOAD = "c"


def new_payload(*, from_cart: bool = False) -> str:
    token = secrets.token_urlsafe(24)  # 32 characters, well under Telegram's 128 bytes
    return CART_PAYLOAD + token if from_cart else token


def from_cart(payload: str) -> bool:
    return len(payload) == 33 and payload.startswith(CART_PAYLOAD)


class ReserveStatus(enum.StrEnum):
    RESERVED = "reserved"
    SOLD_OUT = "sold_out"  # one product, nothing left of it
    SHORT = "short"  # some line cannot be filled in full: see Reservation.short
    UNAVAILABLE = "unavailable"  # no such product, or it is hidden
    LIMIT = "limit"  # the buyer would hold more than the cap of unpaid units
    TOO_MANY = "too_many"  # more units of one product than a buyer may choose (MAX_QUANTITY)
    OVER_STARS_MAX = "over_stars_max"  # a total over what one Stars invoice can carry


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


# --- what a reservation returns -------------------------------------------------------------


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


# Built once with bind parameters (see app.services.catalog): a call only binds values.
_LOCK_ORDER = (
    select(Order)
    .where(Order.id == bindparam("id"))
    .with_for_update(key_share=True)
    .execution_options(populate_existing=True)
)
# A buyer's live reservations with their lines (at most the cap's worth of orders).
_LIVE = (
    select(
        Order.id,
        Order.product_id,
        Order.amount,
        Order.stock_item_id,
        Order.payload,
        OrderLine.product_id,
        OrderLine.quantity,
        OrderLine.unit_price,
    )
    .outerjoin(OrderLine, OrderLine.order_id == Order.id)
    .where(Order.user_id == bindparam("user"), Order.status == PENDING, Order.expires_at > NOW)
    .order_by(Order.id)
)
_LINES = (
    select(OrderLine.product_id, OrderLine.quantity, OrderLine.unit_price)
    .where(OrderLine.order_id == bindparam("order"))
    .order_by(OrderLine.id)
)
_PRODUCTS = select(Product).where(Product.id.in_(bindparam("ids", expanding=True)))
BY_PAYLOAD = select(Order).where(Order.payload == bindparam("payload"))


async def lock_order(session: AsyncSession, order_id: int) -> Order:
    order = await session.scalar(_LOCK_ORDER, {"id": order_id})
    assert order is not None  # orders are never deleted
    return order


async def lines_of(session: AsyncSession, order: Order) -> list[Line]:
    rows = (await session.execute(_LINES, {"order": order.id})).all()
    if not rows:  # an order of the release before order lines: one unit
        return [Line(order.product_id, 1, order.amount)]
    return [Line(product, quantity, price) for product, quantity, price in rows]


async def _end_reservations(
    session: AsyncSession, orders: Sequence[int], units: Sequence[StockItem]
) -> None:
    """Expire pending orders; ``units`` (theirs, locked) go back on sale."""
    await put_back(session, units)
    for order_id in orders:
        order = await lock_order(session, order_id)
        if order.status == OrderStatus.PENDING and order.telegram_payment_charge_id is None:
            order.status = OrderStatus.EXPIRED.value


@dataclass
class _Live:
    order_id: int
    amount: int
    first_unit: int | None
    cart: bool
    lines: list[Line]

    @property
    def units(self) -> int:
        return sum(line.quantity for line in self.lines)

    def products(self) -> set[int]:
        return {line.product_id for line in self.lines}


async def _live_orders(session: AsyncSession, user_id: int, now: datetime) -> list[_Live]:
    live: dict[int, _Live] = {}
    rows = await session.execute(_LIVE, {"user": user_id, "now": now})
    for order_id, product_id, amount, first_unit, payload, line_product, quantity, price in rows:
        entry = live.setdefault(
            order_id, _Live(order_id, amount, first_unit, from_cart(payload), [])
        )
        if line_product is None:  # an order of the release before order lines
            entry.lines.append(Line(product_id, 1, amount))
        else:
            entry.lines.append(Line(line_product, quantity, price))
    return list(live.values())


def _same(held: _Live, wanted: Sequence[Line]) -> bool:
    key = sorted((line.product_id, line.quantity, line.unit_price) for line in held.lines)
    return key == sorted((line.product_id, line.quantity, line.unit_price) for line in wanted)


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
    products = {p.id: p for p in await session.scalars(_PRODUCTS, {"ids": list(quantities)})}
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
    live = await _live_orders(session, buyer.id, now)
    for held in live:
        if _same(held, quoted.lines) and held.amount == quoted.total and held.cart == cart:
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
        await _end_reservations(session, [held.order_id for held in replaced], extra)
    expires_at = now + timedelta(minutes=minutes)
    order = Order(
        user_id=buyer.id,
        product_id=quoted.lines[0].product_id,
        stock_item_id=taken[0].id,
        payload=new_payload(from_cart=cart),
        amount=quoted.total,
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
        for line in quoted.lines
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
    await _end_reservations(session, [order.id], units[order.id])
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
    PROMO_EXPIRED = "promo_expired"  # the order's promo code expired, was disabled or used up
    PROMO_DISABLED = "promo_disabled"
    PROMO_USED_UP = "promo_used_up"


_PROMO_VERDICTS = {
    "expired": Verdict.PROMO_EXPIRED,
    "disabled": Verdict.PROMO_DISABLED,
    "used_up": Verdict.PROMO_USED_UP,
}


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


def fully_held(lines: Sequence[Line], units: Sequence[StockItem]) -> bool:
    """Every unit of every line is reserved by the order (and nothing else is)."""
    reserved = Counter(item.product_id for item in units if item.status == ItemStatus.RESERVED)
    return reserved == Counter({line.product_id: line.quantity for line in lines})


def _price_verdict(
    order: Order, lines: Sequence[Line], products: dict[int, Product], currency: str, total: int
) -> Verdict:
    if any((p := products.get(line.product_id)) is None or not p.is_active for line in lines):
        return Verdict.UNAVAILABLE
    failed = (
        (
            any(products[line.product_id].price != line.unit_price for line in lines),
            Verdict.PRICE_CHANGED,
        ),
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
    units = (await held_units(session, [(order.id, order.stock_item_id)]))[order.id]
    order = await lock_order(session, order.id)
    if order.status != OrderStatus.PENDING:  # taken over while we waited for the lock
        return Verdict.EXPIRED
    units = await own_units(session, order, units)
    lines = await lines_of(session, order)
    if not fully_held(lines, units):
        return Verdict.SOLD_OUT
    ids = [line.product_id for line in lines]
    products = {p.id: p for p in await session.scalars(_PRODUCTS, {"ids": ids})}
    verdict = _price_verdict(order, lines, products, currency, total)
    if verdict is Verdict.OK and (refused := await redemptions.recheck(session, order, now)):
        return _PROMO_VERDICTS.get(refused.reason, Verdict.PROMO_USED_UP)
    if verdict is Verdict.OK:
        until = max(order.expires_at, now + CHECKOUT_GRACE)
        order.expires_at = until
        await hold(session, order, units, until)
    return verdict


async def check_pre_checkout(
    session: AsyncSession, *, user_id: int, payload: str, currency: str, total_amount: int
) -> Verdict:
    """Decide whether Telegram may take the payment (the caller holds the write transaction).

    "ok" is a promise: every unit is checked and its hold extended (by :data:`CHECKOUT_GRACE`)
    in one transaction, so none can be taken over between this answer and the payment.
    """
    order = await session.scalar(BY_PAYLOAD, {"payload": payload})
    verdict = Verdict.UNKNOWN
    if order is not None:
        verdict = await _verdict(
            session, order, user_id=user_id, currency=currency, total=total_amount
        )
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
