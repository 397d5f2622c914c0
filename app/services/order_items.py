"""What an order bought, as its buyer and its owner read it: ``(title, quantity)`` per line.

One query serves a whole page of orders. An order of the release before order lines has no
lines: it reads as one unit of ``orders.product_id``.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Order, OrderLine, Product

Items = list[tuple[str, int]]
LABEL_LIMIT = 200  # a label goes into alerts and buyer notices; long carts end "…"

_LINES = (
    select(OrderLine.order_id, Product.title, OrderLine.quantity)
    .join(Product, Product.id == OrderLine.product_id)
    .where(OrderLine.order_id.in_(bindparam("orders", expanding=True)))
    .order_by(OrderLine.order_id, OrderLine.id)
)
_SINGLE = (
    select(Order.id, Product.title)
    .join(Product, Product.id == Order.product_id)
    .where(Order.id.in_(bindparam("orders", expanding=True)))
)


async def items_of(session: AsyncSession, order_ids: Sequence[int]) -> dict[int, Items]:
    """order id -> its lines in the order they were added; every id given is in the answer
    (an unknown id with no lines)."""
    found: dict[int, Items] = {order_id: [] for order_id in order_ids}
    if not found:
        return found
    for order_id, title, quantity in await session.execute(_LINES, {"orders": list(found)}):
        found[order_id].append((title, quantity))
    single = [order_id for order_id, items in found.items() if not items]
    if single:
        for order_id, title in await session.execute(_SINGLE, {"orders": single}):
            found[order_id].append((title, 1))
    return found


def label(items: Items, limit: int = LABEL_LIMIT) -> str:
    """``Title ×2, Other``: a line of one unit reads as its title alone."""  # noqa: RUF002
    parts = (title if quantity == 1 else f"{title} ×{quantity}" for title, quantity in items)
    text = ", ".join(parts)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def label_of(session: AsyncSession, order_id: int) -> str:
    return label((await items_of(session, [order_id]))[order_id])
