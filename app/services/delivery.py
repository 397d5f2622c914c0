"""Handing the goods over: after the sale is committed, never inside its transaction.

A sold order is ``paid`` until its goods were sent, then ``delivered``. Sending takes a lease
first: ``UPDATE … SET next_delivery_at = now + lease WHERE next_delivery_at <= now`` succeeds
for one caller only, so two copies of a payment update, the fulfilment worker and a second
replica never send at the same time. A send that fails pushes the next attempt out with
backoff; a process that dies mid-send leaves the lease to run out, and the worker sends again
(the same key twice to its buyer beats none). Nothing here commits or calls Telegram (the
sends are :func:`app.flows.delivery.send_goods`). The content itself (keys, codes, file ids) is
never logged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import (
    ColumnElement,
    String,
    and_,
    bindparam,
    func,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import (
    ItemKind,
    ItemStatus,
    Order,
    OrderStatus,
    Product,
    StockItem,
    User,
)
from app.i18n import Translator
from app.services import order_items
from app.services.paging import Page, clamp_page

MESSAGE_LIMIT = 4096
PURCHASES_PAGE_SIZE = 5
SEND_LEASE = timedelta(seconds=60)  # far longer than a send with aiogram's timeouts
MAX_BACKOFF = timedelta(hours=1)
SOLD_STATUSES = (OrderStatus.PAID.value, OrderStatus.DELIVERED.value)
# A literal in the SQL, not a bind parameter: only then does PostgreSQL's generic plan (asyncpg
# prepares statements) use the partial index of paid orders (see app.services.availability).
PAID: ColumnElement[str] = literal_column(f"'{OrderStatus.PAID.value}'", String)
HISTORY_STATUSES = (*SOLD_STATUSES, OrderStatus.REFUND_DUE.value, OrderStatus.REFUNDED.value)


@dataclass(frozen=True)
class Unit:
    """One item of an order's goods."""

    title: str
    slug: str
    kind: str
    content: str

    def __repr__(self) -> str:  # keep the content out of tracebacks and logs
        return f"Unit(kind={self.kind!r})"


@dataclass(frozen=True)
class Goods:
    """What a sold order hands over: every unit it bought."""

    order_id: int
    user_id: int
    units: tuple[Unit, ...]
    attempts: int = 0
    language: str | None = None

    def __repr__(self) -> str:  # keep the content out of tracebacks and logs
        return f"Goods(order_id={self.order_id}, units={len(self.units)})"

    @property
    def title(self) -> str:
        return self.units[0].title if self.units else ""


SOLD: ColumnElement[str] = literal_column(f"'{ItemStatus.SOLD.value}'", String)
# One row per unit: the items whose order_id is the order, or (an order of the release before
# order lines) its one unit, orders.stock_item_id.
_GOODS = (
    select(
        Order.id,
        Order.user_id,
        Order.delivery_attempts,
        User.language_code,
        Product.title,
        Product.slug,
        StockItem.kind,
        StockItem.content,
    )
    .join(
        StockItem,
        or_(
            StockItem.order_id == Order.id,
            and_(StockItem.id == Order.stock_item_id, StockItem.order_id.is_(None)),
        ),
    )
    .join(Product, Product.id == StockItem.product_id)
    .outerjoin(User, User.id == Order.user_id)
    .where(
        Order.id == bindparam("order"), Order.status.in_(SOLD_STATUSES), StockItem.status == SOLD
    )
    .order_by(StockItem.product_id, StockItem.id)
)
_TAKE = (
    update(Order)
    .where(
        Order.id == bindparam("order"),
        Order.status == PAID,
        Order.next_delivery_at <= bindparam("now"),
    )
    .values(next_delivery_at=bindparam("until"), delivery_attempts=Order.delivery_attempts + 1)
    .returning(Order.id)
    .execution_options(synchronize_session=False)
)
_DELIVERED = (
    update(Order)
    .where(Order.id == bindparam("order"), Order.status == OrderStatus.PAID.value)
    .values(
        status=OrderStatus.DELIVERED.value, delivered_at=bindparam("now"), next_delivery_at=None
    )
    .execution_options(synchronize_session=False)
)
_FAILED = (
    update(Order)
    .where(Order.id == bindparam("order"), Order.status == OrderStatus.PAID.value)
    .values(next_delivery_at=bindparam("retry_at"))
    .execution_options(synchronize_session=False)
)
_DUE = (
    select(Order.id)
    .where(Order.status == PAID, Order.next_delivery_at <= bindparam("now"))
    .order_by(Order.next_delivery_at)
    .limit(bindparam("limit"))
)
_UNDELIVERED = select(func.count(Order.id)).where(Order.status == PAID)


async def goods_of(session: AsyncSession, order_id: int) -> Goods | None:
    rows = (await session.execute(_GOODS, {"order": order_id})).all()
    if not rows:
        return None
    order, user, attempts, language = rows[0][:4]
    units = tuple(Unit(*row[4:]) for row in rows)
    return Goods(order, user, units, attempts, language)


def goods_from(
    order: Order, items: Sequence[StockItem], products: Mapping[int, Product], language: str | None
) -> Goods | None:
    """The goods :func:`goods_of` would read for ``order``, from the sold ``items`` and their
    products already in hand (the settlement's); None if a product is missing there."""
    if any(item.product_id not in products for item in items):
        return None
    ordered = sorted(items, key=lambda item: (item.product_id, item.id))
    units = tuple(
        Unit(products[i.product_id].title, products[i.product_id].slug, i.kind, i.content)
        for i in ordered
    )
    return Goods(order.id, order.user_id, units, order.delivery_attempts, language)


async def take(session: AsyncSession, order_id: int, now: datetime) -> Goods | None:
    """Lease a paid, undelivered order for one send; None if it is not due (or not ours)."""
    taken = await session.scalar(_TAKE, {"order": order_id, "now": now, "until": now + SEND_LEASE})
    return await goods_of(session, order_id) if taken is not None else None


async def mark_delivered(session: AsyncSession, order_id: int, now: datetime) -> None:
    await session.execute(_DELIVERED, {"order": order_id, "now": now})


def backoff(attempts: int, base: timedelta) -> timedelta:
    """base, 2·base, 4·base … after each failed attempt, at most :data:`MAX_BACKOFF`."""
    delay: timedelta = base * 2 ** max(attempts - 1, 0)
    return min(delay, MAX_BACKOFF)


async def mark_failed(
    session: AsyncSession, order_id: int, attempts: int, now: datetime, base: timedelta
) -> datetime:
    """The send was refused: try again later; returns when."""
    retry_at = now + backoff(attempts, base)
    await session.execute(_FAILED, {"order": order_id, "retry_at": retry_at})
    return retry_at


async def due(session: AsyncSession, now: datetime, limit: int) -> list[int]:
    """Paid orders whose goods are not sent and whose next attempt is due."""
    return list(await session.scalars(_DUE, {"now": now, "limit": limit}))


async def undelivered(session: AsyncSession) -> int:
    return int(await session.scalar(_UNDELIVERED) or 0)


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def message_batches(t: Translator, units: Sequence[Unit]) -> tuple[list[str], list[Unit]]:
    """Text units packed into as few messages as fit :data:`MESSAGE_LIMIT` (a key is never
    split); a key too long for any message is sent as a file, as files are."""
    messages: list[str] = []
    documents: list[Unit] = []
    for unit in units:
        if unit.kind == ItemKind.FILE:
            documents.append(unit)
            continue
        block = t("buyer.delivery.text", title=unit.title, content=unit.content)
        if _utf16_len(block) > MESSAGE_LIMIT:
            documents.append(unit)
        elif messages and _utf16_len(messages[-1]) + 2 + _utf16_len(block) <= MESSAGE_LIMIT:
            messages[-1] += "\n\n" + block
        else:
            messages.append(block)
    return messages, documents


@dataclass(frozen=True)
class Purchase:
    order_id: int
    title: str
    amount: int
    status: str
    paid_at: datetime | None
    items: tuple[tuple[str, int], ...] = ()  # (title, quantity) per line, for an order of several


async def purchases_page(session: AsyncSession, user_id: int, page: int) -> Page[Purchase]:
    """The buyer's paid orders, newest first."""
    where = (Order.user_id == user_id, Order.status.in_(HISTORY_STATUSES))
    total = await session.scalar(select(func.count(Order.id)).where(*where)) or 0
    page, pages = clamp_page(int(total), page, PURCHASES_PAGE_SIZE)
    rows = await session.execute(
        select(
            Order.id,
            Product.title,
            Order.amount,
            Order.status,
            Order.paid_at,
        )
        .join(Product, Product.id == Order.product_id)
        .where(*where)
        .order_by(Order.paid_at.desc(), Order.id.desc())
        .offset(page * PURCHASES_PAGE_SIZE)
        .limit(PURCHASES_PAGE_SIZE)
    )
    found = [Purchase(*row) for row in rows]
    lines = await order_items.items_of(session, [p.order_id for p in found])
    return Page([replace(p, items=tuple(lines.get(p.order_id, ()))) for p in found], page, pages)


async def status_of(session: AsyncSession, order_id: int) -> str | None:
    return await session.scalar(select(Order.status).where(Order.id == order_id))
