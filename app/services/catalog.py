"""What buyers see of the shop: categories, products and how many of each are left.

Only active products are listed. A product is in stock when it has an item that is available,
or reserved by a reservation that already ran out (such an item is claimed again on purchase).
Products without a category are listed under category id :data:`OTHER`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from sqlalchemy import ColumnElement, and_, exists, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import utcnow
from app.db.models import Category, ItemStatus, Order, OrderStatus, Product, StockItem

PAGE_SIZE = 8
OTHER = 0  # the pseudo-category of products without a category

T = TypeVar("T")


def claimable(now: datetime) -> ColumnElement[bool]:
    """Items a new reservation may take: available, or held by an expired reservation."""
    return or_(
        StockItem.status == ItemStatus.AVAILABLE.value,
        and_(StockItem.status == ItemStatus.RESERVED.value, StockItem.reserved_until < now),
    )


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    page: int  # zero-based, clamped into range
    pages: int  # at least 1

    @property
    def has_prev(self) -> bool:
        return self.page > 0

    @property
    def has_next(self) -> bool:
        return self.page + 1 < self.pages


def paginate(items: list[T], page: int, size: int = PAGE_SIZE) -> Page[T]:
    pages = max(1, -(-len(items) // size))
    page = min(max(page, 0), pages - 1)
    return Page(items[page * size : (page + 1) * size], page, pages)


def clamp_page(total: int, page: int, size: int) -> tuple[int, int]:
    """(page, pages) for ``total`` rows: the page number clamped into range."""
    pages = max(1, -(-total // size))
    return min(max(page, 0), pages - 1), pages


@dataclass(frozen=True)
class CategoryRow:
    id: int  # OTHER for products without a category
    title: str | None  # None for OTHER
    products: int


@dataclass(frozen=True)
class ProductRow:
    id: int
    title: str
    price: int
    left: int


@dataclass(frozen=True)
class ProductCard:
    id: int
    title: str
    description: str
    price: int
    left: int
    category_id: int  # OTHER when the product has none
    held_by_viewer: bool = False  # the viewer holds a live reservation (Buy resends it)


def _left(now: datetime) -> ColumnElement[int]:
    return (
        select(func.count(StockItem.id))
        .where(StockItem.product_id == Product.id, claimable(now))
        .correlate(Product)
        .scalar_subquery()
    )


def _in_category(category_id: int) -> ColumnElement[bool]:
    if category_id == OTHER:
        return Product.category_id.is_(None)
    return Product.category_id == category_id


async def categories(session: AsyncSession) -> list[CategoryRow]:
    """Categories with at least one active product, in the owner's order; "other" last."""
    rows = await session.execute(
        select(Product.category_id, Category.title, func.count(Product.id))
        .outerjoin(Category, Category.id == Product.category_id)
        .where(Product.is_active)
        .group_by(Product.category_id, Category.title, Category.position)
        .order_by(Product.category_id.is_(None), Category.position, Category.title)
    )
    return [CategoryRow(id_ or OTHER, title, count) for id_, title, count in rows]


async def category_title(session: AsyncSession, category_id: int) -> str | None:
    if category_id == OTHER:
        return None
    return await session.scalar(select(Category.title).where(Category.id == category_id))


async def products_page(session: AsyncSession, category_id: int, page: int) -> Page[ProductRow]:
    """Active products of one category (by title), with how many are left.

    One query reads the page and (``count(*) OVER ()``) the total; a page past the end, which
    returns no rows, costs a second one.
    """
    where = and_(Product.is_active, _in_category(category_id))
    query = (
        select(Product.id, Product.title, Product.price, _left(utcnow()), func.count().over())
        .where(where)
        .order_by(Product.title, Product.id)
        .limit(PAGE_SIZE)
    )
    page = max(page, 0)
    rows = (await session.execute(query.offset(page * PAGE_SIZE))).all()
    if rows:
        total = int(rows[0][4])
    else:
        total = int(await session.scalar(select(func.count(Product.id)).where(where)) or 0)
        if total and page > 0:
            page, _ = clamp_page(total, page, PAGE_SIZE)
            rows = (await session.execute(query.offset(page * PAGE_SIZE))).all()
    page, pages = clamp_page(total, page, PAGE_SIZE)
    items = [ProductRow(id_, title, price, int(left)) for id_, title, price, left, _ in rows]
    return Page(items, page, pages)


async def product_card(
    session: AsyncSession, product_id: int, viewer_id: int | None = None
) -> ProductCard | None:
    """One active product with its stock; None if it does not exist or is hidden."""
    now = utcnow()
    row = (
        await session.execute(
            select(
                Product.id,
                Product.title,
                Product.description,
                Product.price,
                _left(now),
                Product.category_id,
                _held(viewer_id, now),
            ).where(Product.id == product_id, Product.is_active)
        )
    ).first()
    if row is None:
        return None
    id_, title, description, price, left, category_id, held = row
    return ProductCard(id_, title, description, price, int(left), category_id or OTHER, bool(held))


def _held(viewer_id: int | None, now: datetime) -> ColumnElement[bool]:
    """Whether the viewer holds a live reservation for the product of the row."""
    if viewer_id is None:
        return false()
    return exists().where(
        Order.user_id == viewer_id,
        Order.product_id == Product.id,
        Order.status == OrderStatus.PENDING.value,
        Order.expires_at > now,
    )
