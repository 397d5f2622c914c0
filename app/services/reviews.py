"""Reviews: a buyer rates a product of a delivered order 1-5, with an optional short text;
owners hide.

One review per order and product: a cart of Alpha and Beta rates each on its own card (a
unique index on both decides a race). A text is at most
:data:`MAX_TEXT` characters and carries no link and no @mention (spam and phishing are what
shops' reviews attract). The product's ``rating_count``/``rating_sum`` change in the same
transaction as its visible reviews, so the card's average is two columns, not an aggregate
over every review. Like every service these only flush; the caller commits.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import utcnow
from app.db.models import Order, OrderStatus, Product, Review
from app.services import orders
from app.services.paging import Page, clamp_page
from app.services.products import ShopInputError

MAX_TEXT = 500
REVIEWS_PAGE = 5
# A scheme, "www.", or a dotted name with a known-looking top-level part (t.me/x, shop.ru).
_LINK = re.compile(
    r"(?i)(\b[a-z][a-z0-9+.-]*://|\bwww\.|\b[\w-]+(\.[\w-]+)*\.[a-z]{2,}(/|\b))", re.UNICODE
)
_MENTION = re.compile(r"(?<![\w@])@[A-Za-z0-9_]{3,}")


class ReviewError(ShopInputError):
    """What the buyer reads: texts ``buyer.reviews.<code>``."""


@dataclass(frozen=True)
class ReviewRow:
    id: int
    rating: int
    text: str
    created_at: datetime


def check_text(raw: str) -> str:
    """The review's text, trimmed; ShopInputError when too long or with a link or a mention."""
    text = raw.strip()
    if len(text) > MAX_TEXT:
        raise ReviewError("review_too_long", limit=MAX_TEXT)
    if _LINK.search(text) or _MENTION.search(text):
        raise ReviewError("review_link")
    return text


@dataclass(frozen=True)
class Rateable:
    """A product of a delivered order, and whether the buyer rated it already."""

    product_id: int
    title: str
    reviewed: bool


async def _delivered(session: AsyncSession, user_id: int, order_id: int) -> Order:
    order = await session.get(Order, order_id)
    if order is None or order.user_id != user_id or order.status != OrderStatus.DELIVERED:
        raise ReviewError("review_not_delivered")
    return order


async def rateable(session: AsyncSession, user_id: int, order_id: int) -> list[Rateable]:
    """The products of the buyer's delivered order, in the order of its lines (one for an
    order of a single product); ShopInputError if it is not such an order."""
    order = await _delivered(session, user_id, order_id)
    ids = [line.product_id for line in await orders.lines_of(session, order)]
    rows = await session.execute(select(Product.id, Product.title).where(Product.id.in_(ids)))
    titles = {pid: title for pid, title in rows}
    reviewed = set(
        await session.scalars(select(Review.product_id).where(Review.order_id == order_id))
    )
    return [Rateable(pid, titles[pid], pid in reviewed) for pid in ids]


async def reviewable(
    session: AsyncSession, user_id: int, order_id: int, product_id: int | None = None
) -> Rateable:
    """The product of the buyer's delivered order to rate, not rated yet; ``None``: the
    order's only product. ShopInputError otherwise."""
    return pick(await rateable(session, user_id, order_id), product_id)


def pick(items: Sequence[Rateable], product_id: int | None) -> Rateable:
    """The product of :func:`rateable`'s list to rate (``None``: the only one), not rated yet;
    ShopInputError otherwise."""
    if product_id is None and len(items) != 1:
        raise ReviewError("review_choose")
    chosen = [item for item in items if product_id in (None, item.product_id)]
    if not chosen:  # not a product of this order (a forged button)
        raise ReviewError("review_not_delivered")
    if chosen[0].reviewed:
        raise ReviewError("review_exists")
    return chosen[0]


async def add_review(
    session: AsyncSession,
    user_id: int,
    order_id: int,
    rating: int,
    raw_text: str = "",
    *,
    product_id: int | None = None,
) -> Review:
    """Rate a product of the buyer's delivered order (``None``: its only product)."""
    if not 1 <= rating <= 5:
        raise ReviewError("review_rating")
    text = check_text(raw_text)
    product = await reviewable(session, user_id, order_id, product_id)
    review = Review(
        order_id=order_id,
        user_id=user_id,
        product_id=product.product_id,
        rating=rating,
        text=text,
    )
    session.add(review)
    try:
        await session.flush()
    except IntegrityError as exc:  # a second review of it, a moment before this one
        raise ReviewError("review_exists") from exc
    await _count(session, product.product_id, rating, +1)
    return review


async def _count(session: AsyncSession, product_id: int, rating: int, sign: int) -> None:
    await session.execute(
        update(Product)
        .where(Product.id == product_id)
        .values(
            rating_count=Product.rating_count + sign, rating_sum=Product.rating_sum + sign * rating
        )
    )


async def set_hidden(session: AsyncSession, review_id: int, hidden: bool) -> bool:
    """Hide or show a review; False when it already was so. Unknown id: ShopInputError."""
    review = await session.get(Review, review_id, with_for_update=True)
    if review is None:
        raise ShopInputError("unknown_review", review_id=review_id)
    if (review.hidden_at is not None) == hidden:
        return False
    review.hidden_at = utcnow() if hidden else None
    await _count(session, review.product_id, review.rating, -1 if hidden else +1)
    await session.flush()
    return True


async def reviews_page(session: AsyncSession, product_id: int, page: int) -> Page[ReviewRow]:
    """The product's visible reviews, newest first, REVIEWS_PAGE a page."""
    total = await session.scalar(select(Product.rating_count).where(Product.id == product_id))
    page, pages = clamp_page(int(total or 0), page, REVIEWS_PAGE)
    stmt = (
        select(Review.id, Review.rating, Review.text, Review.created_at)
        .where(Review.product_id == product_id, Review.hidden_at.is_(None))
        .order_by(Review.id.desc())
        .limit(REVIEWS_PAGE)
        .offset(page * REVIEWS_PAGE)
    )
    rows = [ReviewRow(*row) for row in await session.execute(stmt)]
    return Page(rows, page, pages)
