"""Shop figures for the owner: sales and revenue per period, stock left, refunds waiting.

A sale is an order in status ``delivered``; its time is when it was paid. Refunded orders
have status ``refunded``, so they count neither as sales nor as revenue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import utcnow
from app.db.models import Order, OrderStatus, Product
from app.services.bans import banned_count
from app.services.products import ProductRow, product_rows

REFUND_DUE_SHOWN = 10


@dataclass(frozen=True)
class Period:
    sales: int
    revenue: int


@dataclass(frozen=True)
class RefundDue:
    order_id: int
    user_id: int
    amount: int
    product_slug: str
    charge_id: str | None


@dataclass(frozen=True)
class ShopStats:
    today: Period
    week: Period
    all_time: Period
    refunded: int
    products: list[ProductRow]
    refund_due_count: int
    refund_due: list[RefundDue]
    banned: int


async def _period(session: AsyncSession, since: datetime | None) -> Period:
    paid_at = func.coalesce(Order.paid_at, Order.created_at)
    stmt = select(func.count(Order.id), func.coalesce(func.sum(Order.amount), 0)).where(
        Order.status == OrderStatus.DELIVERED.value
    )
    if since is not None:
        stmt = stmt.where(paid_at >= since)
    sales, revenue = (await session.execute(stmt)).one()
    return Period(int(sales), int(revenue))


async def refund_due_orders(
    session: AsyncSession, limit: int = REFUND_DUE_SHOWN
) -> list[RefundDue]:
    charge_id = Order.telegram_payment_charge_id
    stmt = (
        select(Order.id, Order.user_id, Order.amount, Product.slug, charge_id)
        .join(Product, Product.id == Order.product_id)
        .where(Order.status == OrderStatus.REFUND_DUE.value)
        .order_by(Order.id)
        .limit(limit)
    )
    return [RefundDue(*row) for row in await session.execute(stmt)]


async def shop_stats(session: AsyncSession, now: datetime | None = None) -> ShopStats:
    """The figures as of ``now`` (default: the current time); "today" is the UTC day."""
    now = now or utcnow()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    count_by_status = select(func.count(Order.id))
    refunded = await session.scalar(
        count_by_status.where(Order.status == OrderStatus.REFUNDED.value)
    )
    due_count = await session.scalar(
        count_by_status.where(Order.status == OrderStatus.REFUND_DUE.value)
    )
    return ShopStats(
        today=await _period(session, midnight),
        week=await _period(session, now - timedelta(days=7)),
        all_time=await _period(session, None),
        refunded=int(refunded or 0),
        products=await product_rows(session),
        refund_due_count=int(due_count or 0),
        refund_due=await refund_due_orders(session),
        banned=await banned_count(session),
    )
