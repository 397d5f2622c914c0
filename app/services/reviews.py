"""Reviews: a buyer rates a delivered order 1-5, with an optional short text; owners hide.

One review per order (a unique constraint decides a race). A text is at most
:data:`MAX_TEXT` characters and carries no link and no @mention (spam and phishing are what
shops' reviews attract). The product's ``rating_count``/``rating_sum`` change in the same
transaction as its visible reviews, so the card's average is two columns, not an aggregate
over every review. Like every service these only flush; the caller commits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import utcnow
from app.db.models import Order, OrderStatus, Product, Review
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


async def reviewable_order(session: AsyncSession, user_id: int, order_id: int) -> Order:
    """The buyer's delivered order with no review yet; ShopInputError otherwise."""
    order = await session.get(Order, order_id)
    if order is None or order.user_id != user_id or order.status != OrderStatus.DELIVERED:
        raise ReviewError("review_not_delivered")
    if await session.scalar(select(Review.id).where(Review.order_id == order_id)) is not None:
        raise ReviewError("review_exists")
    return order


async def add_review(
    session: AsyncSession, user_id: int, order_id: int, rating: int, raw_text: str = ""
) -> Review:
    if not 1 <= rating <= 5:
        raise ReviewError("review_rating")
    text = check_text(raw_text)
    order = await reviewable_order(session, user_id, order_id)
    review = Review(
        order_id=order.id, user_id=user_id, product_id=order.product_id, rating=rating, text=text
    )
    session.add(review)
    try:
        await session.flush()
    except IntegrityError as exc:  # a second review of the order, a moment before this one
        raise ReviewError("review_exists") from exc
    await _count(session, order.product_id, rating, +1)
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
