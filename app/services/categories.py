"""Editing categories (the web panel): rename, reorder, take every product off sale.

Creating one is :func:`app.services.products.create_category`, as for the bot. Like every
service these only flush; the caller commits.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Category, Product
from app.services.products import ShopInputError, find_category, parse_category_title

MAX_POSITION = 1_000_000


def parse_position(raw: str | int) -> int:
    text = str(raw).strip()
    if not text.lstrip("-").isdigit() or abs(int(text)) > MAX_POSITION:
        raise ShopInputError("bad_position", max=MAX_POSITION)
    return int(text)


async def rename_category(session: AsyncSession, category: Category, raw_title: str) -> None:
    title = parse_category_title(raw_title)
    if title == category.title:
        return
    other = await find_category(session, title)
    if other is not None and other.id != category.id:
        raise ShopInputError("category_exists", title=title)
    category.title = title
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:  # renamed concurrently to the same title
        raise ShopInputError("category_exists", title=title) from None


async def set_category_position(session: AsyncSession, category: Category, raw: str | int) -> None:
    category.position = parse_position(raw)
    await session.flush()


async def take_products_off_sale(session: AsyncSession, category_id: int) -> int:
    """Deactivate every product of the category; returns how many were on sale."""
    result = await session.execute(
        update(Product)
        .where(Product.category_id == category_id, Product.is_active.is_(True))
        .values(is_active=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]  # CursorResult has it
