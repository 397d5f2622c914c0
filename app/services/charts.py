"""The /stats chart: revenue per UTC day over the last 30 days, and the top products by
revenue over the same days, drawn as one PNG.

A sale is an order paid for and not refunded (``paid`` or ``delivered``, as in
:mod:`app.services.sales`). A product's figures come from the orders' lines: its units sold and
its revenue before discounts (quantity times unit price), while a day's revenue is what was charged
(after a promo code's discount); an order of the release before order lines is one unit of its
product at its amount. matplotlib is imported by :func:`render_png` only, so neither the
bot's start-up nor any other update pays for it; it draws on a bare ``Figure`` with the Agg
canvas (no pyplot, no global state), so it may run in a worker thread.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import utcnow
from app.db.models import Order, OrderLine, Product
from app.services.sales import CHART_DAYS, Day, daily_sales
from app.services.stats import is_sold, sale_time

TOP_PRODUCTS = 5
TITLE_CHARS = 28  # a product's title on the chart's axis


@dataclass(frozen=True)
class TopProduct:
    title: str
    sales: int  # units sold
    revenue: int  # before discounts


@dataclass(frozen=True)
class ChartData:
    days: list[Day]
    top: list[TopProduct]


@dataclass(frozen=True)
class ChartLabels:
    revenue: str  # the first panel's title
    top: str  # the second panel's
    stars: str  # the unit of the axes
    no_sales: str


async def chart_data(session: AsyncSession, now: datetime | None = None) -> ChartData:
    now = now or utcnow()
    days = await daily_sales(session, now, CHART_DAYS)
    first = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=CHART_DAYS - 1)
    sold = and_(is_sold(), sale_time() >= first)  # through ix_orders_sold_at
    lines = (
        select(
            OrderLine.product_id.label("product_id"),
            OrderLine.quantity.label("units"),
            (OrderLine.quantity * OrderLine.unit_price).label("revenue"),
        )
        .join(Order, Order.id == OrderLine.order_id)
        .where(sold)
    )
    no_lines = ~select(OrderLine.id).where(OrderLine.order_id == Order.id).exists()
    legacy = select(Order.product_id, literal(1), Order.amount).where(sold, no_lines)
    units = union_all(lines, legacy).subquery()
    revenue = func.sum(units.c.revenue)
    stmt = (
        select(Product.title, func.sum(units.c.units), revenue)
        .join(Product, Product.id == units.c.product_id)
        .group_by(Product.id, Product.title)
        .order_by(revenue.desc(), Product.title)
        .limit(TOP_PRODUCTS)
    )
    top = [TopProduct(title, int(n), int(r)) for title, n, r in await session.execute(stmt)]
    return ChartData(days, top)


def _short(title: str) -> str:
    return title if len(title) <= TITLE_CHARS else title[: TITLE_CHARS - 1] + "…"


def render_png(data: ChartData, labels: ChartLabels) -> bytes:
    """The chart as PNG bytes (1200 x 900 pixels)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415 (see above)
    from matplotlib.figure import Figure  # noqa: PLC0415

    figure = Figure(figsize=(8, 6), dpi=150, layout="constrained")
    FigureCanvasAgg(figure)
    daily, ranked = figure.subplots(2, 1, height_ratios=(3, 2))
    dates = [day.day.strftime("%d.%m") for day in data.days]
    daily.bar(range(len(dates)), [day.revenue for day in data.days], color="#2a9df4")
    daily.set_xticks(range(0, len(dates), 5), dates[::5])
    daily.set_title(labels.revenue)
    daily.set_ylabel(labels.stars)
    daily.grid(axis="y", alpha=0.3)
    if data.top:
        titles = [_short(product.title) for product in reversed(data.top)]
        ranked.barh(titles, [product.revenue for product in reversed(data.top)], color="#f4a62a")
        ranked.set_xlabel(labels.stars)
    else:
        ranked.text(0.5, 0.5, labels.no_sales, ha="center", va="center")
        ranked.set_axis_off()
    ranked.set_title(labels.top)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
