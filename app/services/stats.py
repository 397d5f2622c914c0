"""Shop figures for the owner: sales and revenue per period, stock left, the money's states.

A sale is an order that was paid and got its item (``paid``, or ``delivered`` once sent); its
time is when it was paid (:func:`sale_time`). Refunded orders count neither as sales nor as
revenue. Refunds due and made come from the refunds kept against the payments ledger.

What each /stats statement reads is bounded by what it shows, not by the shop's history: a
period's figures walk the partial index ``ix_orders_sold_at`` (the sale time of sold orders)
from the period's start, and the stock left per product is two capped walks of the stock's
partial indexes per product (as the buyer's screens count it, :mod:`app.services.availability`),
never the sold items. The statuses are literals in the SQL, so that PostgreSQL's generic plans
can prove the partial index applies; the index carries the amount, so PostgreSQL reads a
period's sums from the index alone. The all-time figure alone reads every sale, through that
index.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, String, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.db.base import utcnow
from app.db.models import Category, Order, OrderStatus, Product
from app.services import availability, delivery, refunds
from app.services.availability import LEFT_CAP, capped
from app.services.bans import banned_count
from app.services.refunds import DueRefund

SOLD_LITERALS = tuple(
    literal_column(f"'{status.value}'", String)
    for status in (OrderStatus.PAID, OrderStatus.DELIVERED)
)


def sale_time() -> InstrumentedAttribute[datetime | None]:
    """When an order was sold: its ``paid_at``, which the settlement writes with the status
    (a revision gave the older sold orders without one their ``created_at``)."""
    return Order.paid_at


def is_sold() -> ColumnElement[bool]:
    """Paid and not refunded: the predicate of ``ix_orders_sold_at``, its statuses literals."""
    return Order.status.in_(SOLD_LITERALS)


@dataclass(frozen=True)
class Period:
    sales: int
    revenue: int


@dataclass(frozen=True)
class StockLeft:
    """A product's line of /stats: its unsold items, each kind counted up to LEFT_CAP."""

    slug: str
    is_active: bool
    low_stock_threshold: int
    available: int
    reserved: int

    @property
    def low_stock(self) -> bool:
        return self.is_active and self.available <= self.low_stock_threshold


@dataclass(frozen=True)
class ShopStats:
    today: Period
    week: Period
    all_time: Period
    refunded: int
    products: list[StockLeft]
    undelivered: int  # paid, goods not sent yet (the fulfilment worker retries them)
    refund_due_count: int
    refund_due: list[DueRefund]
    banned: int  # up to bans.BANNED_CAP


async def _period(session: AsyncSession, since: datetime | None) -> Period:
    stmt = select(func.count(), func.coalesce(func.sum(Order.amount), 0)).where(is_sold())
    if since is not None:
        stmt = stmt.where(sale_time() >= since)
    sales, revenue = (await session.execute(stmt)).one()
    return Period(int(sales), int(revenue))


async def stock_left(session: AsyncSession) -> list[StockLeft]:
    """Every product's unsold items, by category then slug; sold items are never read."""
    available, reserved = availability.unsold_counts(Product.id)
    stmt = (
        select(Product.slug, Product.is_active, Product.low_stock_threshold, available, reserved)
        .outerjoin(Category, Category.id == Product.category_id)
        .order_by(Category.title.is_(None), Category.title, Product.slug)
    )
    return [
        StockLeft(slug, active, threshold, capped(left), capped(held))
        for slug, active, threshold, left, held in await session.execute(stmt)
    ]


def shown(count: int, cap: int = LEFT_CAP) -> str:
    """A capped count as the owner reads it: "999+" once it reached the cap."""
    return f"{cap - 1}+" if count >= cap else str(count)


async def shop_stats(session: AsyncSession, now: datetime | None = None) -> ShopStats:
    """The figures as of ``now`` (default: the current time); "today" is the UTC day."""
    now = now or utcnow()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    refund_counts = await refunds.counts(session)
    return ShopStats(
        today=await _period(session, midnight),
        week=await _period(session, now - timedelta(days=7)),
        all_time=await _period(session, None),
        refunded=refund_counts.refunded,
        products=await stock_left(session),
        undelivered=await delivery.undelivered(session),
        refund_due_count=refund_counts.due,
        refund_due=await refunds.due_list(session),
        banned=await banned_count(session),
    )
