"""What buyers see of the shop: categories, products and how many of each are left.

Only active products are listed. A product is in stock when it has an item that is available,
or reserved by a reservation that already ran out (such an item is claimed again on purchase).
Products without a category are listed under category id :data:`OTHER`. How much is left is
counted up to :data:`~app.services.availability.LEFT_CAP` (:mod:`app.services.availability`),
so no screen reads more rows because the shop has more stock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    String,
    and_,
    bindparam,
    exists,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import utcnow
from app.db.models import Category, Order, OrderLine, OrderStatus, Product
from app.services.availability import capped, claimable_left, in_stock
from app.services.paging import Page, clamp_page

PAGE_SIZE = 8
OTHER = 0  # the pseudo-category of products without a category


@dataclass(frozen=True)
class CategoryRow:
    id: int  # OTHER for products without a category
    title: str | None  # None for OTHER
    products: int


@dataclass(frozen=True)
class ProductListing:
    id: int
    title: str
    price: int
    in_stock: bool


@dataclass(frozen=True)
class ProductCard:
    id: int
    title: str
    description: str
    price: int
    left: int  # claimable items, counted up to LEFT_CAP
    category_id: int  # OTHER when the product has none
    held_by_viewer: bool = False  # the viewer holds a live reservation (Buy resends it)
    rating_count: int = 0  # visible reviews
    rating_sum: int = 0

    @property
    def rating(self) -> float | None:
        return self.rating_sum / self.rating_count if self.rating_count else None


# The buyer-side queries are built once, at import, with bind parameters: each call only binds
# values, so SQLAlchemy neither rebuilds the statement nor recomputes its cache key.
NOW: BindParameter[datetime] = bindparam("now")


def _in_category(other: bool) -> ColumnElement[bool]:
    if other:
        return Product.category_id.is_(None)
    return Product.category_id == bindparam("category")


_CATEGORIES = (
    select(Product.category_id, Category.title, func.count(Product.id))
    .outerjoin(Category, Category.id == Product.category_id)
    .where(Product.is_active)
    .group_by(Product.category_id, Category.title, Category.position)
    .order_by(Product.category_id.is_(None), Category.position, Category.title)
)


async def categories(session: AsyncSession) -> list[CategoryRow]:
    """Categories with at least one active product, in the owner's order; "other" last."""
    rows = await session.execute(_CATEGORIES)
    return [CategoryRow(id_ or OTHER, title, count) for id_, title, count in rows]


async def category_title(session: AsyncSession, category_id: int) -> str | None:
    if category_id == OTHER:
        return None
    return await session.scalar(select(Category.title).where(Category.id == category_id))


def _listing(other: bool) -> tuple[Any, Any]:
    """(the page with the total, the total alone) of one category, or of "other"."""
    where = and_(Product.is_active, _in_category(other))
    page = (
        select(
            Product.id, Product.title, Product.price, in_stock(Product.id, NOW), func.count().over()
        )
        .where(where)
        .order_by(Product.title, Product.id)
        .limit(PAGE_SIZE)
        .offset(bindparam("offset"))
    )
    return page, select(func.count(Product.id)).where(where)


_LISTING = {other: _listing(other) for other in (False, True)}


async def products_page(session: AsyncSession, category_id: int, page: int) -> Page[ProductListing]:
    """Active products of one category (by title), with how many are left.

    One query reads the page and (``count(*) OVER ()``) the total; a page past the end, which
    returns no rows, costs a second one.
    """
    query, count = _LISTING[category_id == OTHER]
    params: dict[str, Any] = {"category": category_id, "now": utcnow()}
    page = max(page, 0)
    rows = (await session.execute(query, params | {"offset": page * PAGE_SIZE})).all()
    if rows:
        total = int(rows[0][4])
    else:
        total = int(await session.scalar(count, params) or 0)
        if total and page > 0:
            page, _ = clamp_page(total, page, PAGE_SIZE)
            rows = (await session.execute(query, params | {"offset": page * PAGE_SIZE})).all()
    page, pages = clamp_page(total, page, PAGE_SIZE)
    items = [ProductListing(id_, title, price, bool(left)) for id_, title, price, left, _ in rows]
    return Page(items, page, pages)


PENDING: ColumnElement[str] = literal_column(f"'{OrderStatus.PENDING.value}'", String)
_CARD = select(
    Product.id,
    Product.title,
    Product.description,
    Product.price,
    *claimable_left(bindparam("product"), NOW),
    Product.category_id,
    exists().where(  # the viewer holds a live reservation for this product (any line of it)
        Order.user_id == bindparam("viewer"),
        Order.status == PENDING,
        Order.expires_at > NOW,
        or_(
            Order.product_id == Product.id,
            exists().where(OrderLine.order_id == Order.id, OrderLine.product_id == Product.id),
        ),
    ),
    Product.rating_count,
    Product.rating_sum,
).where(Product.id == bindparam("product"), Product.is_active)


async def product_card(
    session: AsyncSession, product_id: int, viewer_id: int | None = None
) -> ProductCard | None:
    """One active product with its stock; None if it does not exist or is hidden."""
    params = {"product": product_id, "viewer": viewer_id or 0, "now": utcnow()}  # 0: nobody
    row = (await session.execute(_CARD, params)).first()
    if row is None:
        return None
    id_, title, description, price, available, expired, category_id, held, count, total = row
    left = capped(available, expired)
    return ProductCard(
        id_, title, description, price, left, category_id or OTHER, bool(held), count, total
    )
