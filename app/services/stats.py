"""Shop figures for the owner: sales and revenue per period, stock left, the money's states.

A sale is an order that was paid and got its item (``paid``, or ``delivered`` once sent); its
time is when it was paid. Refunded orders count neither as sales nor as revenue. Refunds due
and made come from the refunds kept against the payments ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import utcnow
from app.db.models import Order
from app.services import delivery, refunds
from app.services.bans import banned_count
from app.services.products import OwnerProductRow, product_rows
from app.services.refunds import DueRefund


@dataclass(frozen=True)
class Period:
    sales: int
    revenue: int


@dataclass(frozen=True)
class ShopStats:
    today: Period
    week: Period
    all_time: Period
    refunded: int
    products: list[OwnerProductRow]
    undelivered: int  # paid, goods not sent yet (the fulfilment worker retries them)
    refund_due_count: int
    refund_due: list[DueRefund]
    banned: int


async def _period(session: AsyncSession, since: datetime | None) -> Period:
    paid_at = func.coalesce(Order.paid_at, Order.created_at)
    stmt = select(func.count(Order.id), func.coalesce(func.sum(Order.amount), 0)).where(
        Order.status.in_(delivery.SOLD_STATUSES)
    )
    if since is not None:
        stmt = stmt.where(paid_at >= since)
    sales, revenue = (await session.execute(stmt)).one()
    return Period(int(sales), int(revenue))


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
        products=await product_rows(session),
        undelivered=await delivery.undelivered(session),
        refund_due_count=refund_counts.due,
        refund_due=await refunds.due_list(session),
        banned=await banned_count(session),
    )
