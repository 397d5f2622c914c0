"""A buyer's cart: products and quantities, kept in ``cart_lines`` (one row per product).

The cart holds nothing: stock is claimed only when the buyer pays the cart (one order for
all of it, :func:`app.services.reservations.reserve_lines`), and the products bought leave
the cart when the payment settles (:func:`bought`). A cart lives in the database, so it
survives restarts and is the same on every replica. Nothing here commits or calls Telegram.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aiogram.types import User as TelegramUser
from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import utcnow
from app.db.models import CartLine, Product
from app.services.availability import capped, claimable_left
from app.services.catalog import NOW
from app.services.users import upsert_user

MAX_LINES = 10  # products in one cart: its screen keeps a row of buttons for each
# A line never holds more (MAX_QUANTITY's own bound), so its stock is counted no further:
# each line's walk stops after this many rows, however big the stock.
LINE_CAP = 100


class CartFullError(Exception):
    """The cart already has :data:`MAX_LINES` products."""


@dataclass(frozen=True)
class CartItem:
    product_id: int
    title: str
    price: int
    quantity: int
    left: int  # claimable units now, counted up to LINE_CAP
    on_sale: bool

    @property
    def amount(self) -> int:
        return self.quantity * self.price


@dataclass(frozen=True)
class CartView:
    """The cart's lines. A line whose product is off sale stays in the cart (marked), but
    counts for nothing: neither the total nor what Pay reserves holds it."""

    items: tuple[CartItem, ...]

    @property
    def total(self) -> int:
        return sum(item.amount for item in self.items if item.on_sale)

    @property
    def units(self) -> int:
        return sum(item.quantity for item in self.items)

    @property
    def off_sale(self) -> tuple[CartItem, ...]:
        return tuple(item for item in self.items if not item.on_sale)

    def wanted(self) -> list[tuple[int, int]]:
        """What paying the cart reserves: the lines on sale, as the total counts them."""
        return [(item.product_id, item.quantity) for item in self.items if item.on_sale]


_VIEW = (
    select(
        CartLine.product_id,
        Product.title,
        Product.price,
        CartLine.quantity,
        *claimable_left(Product.id, NOW, cap=LINE_CAP),
        Product.is_active,
    )
    .join(Product, Product.id == CartLine.product_id)
    .where(CartLine.user_id == bindparam("user"))
    .order_by(CartLine.id)
)
_LINE = (
    select(CartLine)
    .where(CartLine.user_id == bindparam("user"), CartLine.product_id == bindparam("product"))
    .with_for_update()
    .execution_options(populate_existing=True)
)
_STOCK = select(*claimable_left(bindparam("product"), NOW, cap=LINE_CAP)).where(
    Product.id == bindparam("product"), Product.is_active
)
_COUNT = select(CartLine.product_id).where(CartLine.user_id == bindparam("user"))


async def view(session: AsyncSession, user_id: int) -> CartView:
    rows = await session.execute(_VIEW, {"user": user_id, "now": utcnow()})
    return CartView(
        tuple(
            CartItem(
                product,
                title,
                price,
                quantity,
                capped(available, expired, cap=LINE_CAP),
                bool(active),
            )
            for product, title, price, quantity, available, expired, active in rows
        )
    )


async def add(
    session: AsyncSession, buyer: TelegramUser, product_id: int, quantity: int, max_quantity: int
) -> int:
    """Add ``quantity`` units of the product; the line's quantity now (0: nothing to add, the
    product is sold out or off sale). A line never holds more than ``max_quantity`` units, nor
    more than are left.

    The user row, upserted first, is locked on PostgreSQL: a buyer's presses apply in turn.
    """
    row = (await session.execute(_STOCK, {"product": product_id, "now": utcnow()})).first()
    left = capped(row[0], row[1], cap=LINE_CAP) if row is not None else 0
    if not left:
        return 0
    top = min(max_quantity, left)
    await upsert_user(session, buyer)
    line = await session.scalar(_LINE, {"user": buyer.id, "product": product_id})
    if line is not None:
        line.quantity = min(line.quantity + quantity, top)
        return line.quantity
    if len((await session.scalars(_COUNT, {"user": buyer.id})).all()) >= MAX_LINES:
        raise CartFullError
    line = CartLine(user_id=buyer.id, product_id=product_id, quantity=min(quantity, top))
    session.add(line)
    await session.flush()
    return line.quantity


async def set_quantity(
    session: AsyncSession, user_id: int, product_id: int, quantity: int, max_quantity: int
) -> None:
    """Change a line's quantity; 0 removes it. A line that is gone stays gone."""
    line = await session.scalar(_LINE, {"user": user_id, "product": product_id})
    if line is None:
        return
    if quantity <= 0:
        await session.delete(line)
    else:
        line.quantity = min(quantity, max_quantity)
    await session.flush()


async def clear(session: AsyncSession, user_id: int) -> None:
    await session.execute(delete(CartLine).where(CartLine.user_id == user_id))


async def bought(session: AsyncSession, user_id: int, product_ids: Sequence[int]) -> None:
    """The buyer paid for these products: they leave the cart."""
    await session.execute(
        delete(CartLine).where(CartLine.user_id == user_id, CartLine.product_id.in_(product_ids))
    )
