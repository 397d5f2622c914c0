"""Stock items as the owner sees them in the web panel: masked, and revealed one at a time.

A key or code is shown as its first four and last two characters (``ABCD…89``); shorter ones
show less. The full content is read only by :func:`reveal_item`, for one item; the caller logs
every reveal (the item's id, never its content).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Product, StockItem

ELLIPSIS = "…"


def mask(content: str) -> str:
    if len(content) >= 10:
        return f"{content[:4]}{ELLIPSIS}{content[-2:]}"
    if len(content) >= 6:
        return f"{content[:2]}{ELLIPSIS}{content[-1:]}"
    return ELLIPSIS


@dataclass(frozen=True)
class RevealedItem:
    item_id: int
    product_id: int
    product_slug: str
    kind: str
    status: str
    content: str


async def reveal_item(session: AsyncSession, item_id: int) -> RevealedItem | None:
    row = (
        await session.execute(
            select(
                StockItem.id,
                StockItem.product_id,
                Product.slug,
                StockItem.kind,
                StockItem.status,
                StockItem.content,
            )
            .join(Product, Product.id == StockItem.product_id)
            .where(StockItem.id == item_id)
        )
    ).first()
    return None if row is None else RevealedItem(*row)
