"""Sales figures for the web panel's dashboard: revenue per period and per day, and what needs
the owner (paid but undelivered, refunds due, low stock).

A sale is an order paid for and not refunded (``paid``: the goods are on their way, or
``delivered``), at the time it was paid; refunded orders and refunds due count neither as sales
nor as revenue. Refunds due come from the refunds kept against the payments ledger (a payment
that matched no order is owed back too). Days are UTC days. Each figure is one aggregate
query, however many orders there are.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import utcnow
from app.db.models import Order
from app.services import delivery, refunds
from app.services.products import OwnerProductRow, product_rows
from app.services.refunds import DueRefund
from app.services.stats import Period, is_sold, sale_time

CHART_DAYS = 30


@dataclass(frozen=True)
class Day:
    day: date
    sales: int
    revenue: int


@dataclass(frozen=True)
class Dashboard:
    today: Period
    week: Period
    month: Period
    days: list[Day]  # the last CHART_DAYS UTC days, oldest first, today last
    undelivered: int  # paid, but the goods are not handed over yet
    refund_due_count: int
    refund_due: list[DueRefund]
    low_stock: list[OwnerProductRow]


def _midnight(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _sold_between(start: datetime, end: datetime) -> Any:
    return and_(sale_time() >= start, sale_time() < end)


async def daily_sales(session: AsyncSession, now: datetime, days: int = CHART_DAYS) -> list[Day]:
    """Sales and revenue per UTC day for the last ``days`` days, in one query."""
    first = _midnight(now) - timedelta(days=days - 1)
    bounds = [first + timedelta(days=i) for i in range(days + 1)]
    columns = []
    for start, end in itertools.pairwise(bounds):
        in_day = _sold_between(start, end)
        columns.append(func.coalesce(func.sum(case((in_day, 1), else_=0)), 0))
        columns.append(func.coalesce(func.sum(case((in_day, Order.amount), else_=0)), 0))
    stmt = select(*columns).where(is_sold(), _sold_between(first, bounds[-1]))  # the index
    row = (await session.execute(stmt)).one()
    return [Day(bounds[i].date(), int(row[2 * i]), int(row[2 * i + 1])) for i in range(days)]


def _sum(days: list[Day]) -> Period:
    return Period(sum(d.sales for d in days), sum(d.revenue for d in days))


async def dashboard(session: AsyncSession, now: datetime | None = None) -> Dashboard:
    now = now or utcnow()
    days = await daily_sales(session, now)
    counts = await refunds.counts(session)
    return Dashboard(
        today=_sum(days[-1:]),
        week=_sum(days[-7:]),
        month=_sum(days),
        days=days,
        undelivered=await delivery.undelivered(session),
        refund_due_count=counts.due,
        refund_due=await refunds.due_list(session),
        low_stock=[row for row in await product_rows(session) if row.low_stock],
    )
