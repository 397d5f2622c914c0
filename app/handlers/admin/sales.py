"""/stats (sales, revenue, stock, refunds due) and /refund <telegram_payment_charge_id>.

/stats is as many messages as it takes (a line per product), split as /products is, so that a
large shop's figures never exceed Telegram's 4096 characters and the refunds due, last, arrive;
then a chart, a PNG of the revenue per day and the top products over the last 30 days.
"""

from __future__ import annotations

import asyncio

import structlog
from aiogram import Bot, Router, html
from aiogram.filters import Command
from aiogram.types import BufferedInputFile, Message
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.uow import SessionFactory, read
from app.flows.refunds import refund_charge
from app.handlers.admin.common import command_args, reply, split_messages
from app.i18n import Translator
from app.services.bans import BANNED_CAP
from app.services.charts import ChartData, ChartLabels, chart_data, render_png
from app.services.sales import CHART_DAYS
from app.services.stats import Period, ShopStats, shop_stats, shown

log = structlog.get_logger(__name__)

CHARGE_ID_LIMIT = 255  # payments.charge_id


def _period(t: Translator, key: str, period: Period) -> str:
    return t(f"owner.stats.{key}", n=period.sales, revenue=period.revenue)


def _banned(t: Translator, count: int) -> str:
    if count >= BANNED_CAP:
        return t("owner.stats.banned_over", n=BANNED_CAP - 1)
    return t("owner.stats.banned", n=count)


def render_stats(t: Translator, stats: ShopStats) -> list[str]:
    """The messages of /stats, in order."""
    lines = [
        t("owner.stats.sales_header"),
        _period(t, "today", stats.today),
        _period(t, "week", stats.week),
        _period(t, "all_time", stats.all_time),
        t("owner.stats.refunded", count=stats.refunded),
        _banned(t, stats.banned),
        t("owner.stats.undelivered", count=stats.undelivered),
        "",
        t("owner.stats.stock_header"),
    ]
    if not stats.products:
        lines.append(t("owner.stats.no_products"))
    for row in stats.products:
        key = "owner.stats.stock_low" if row.low_stock else "owner.stats.stock_row"
        lines.append(
            t(key, slug=row.slug, available=shown(row.available), reserved=shown(row.reserved))
        )
    lines += ["", t("owner.stats.refund_due_header", count=stats.refund_due_count)]
    for due in stats.refund_due:
        lines.append(
            t(
                "owner.stats.refund_due_row",
                user_id=due.user_id,
                amount=due.amount,
                slug=due.slug or "—",
                reason=t(f"owner.stats.reason_{due.reason}"),
                charge_id=due.charge_id,
            )
        )
    return split_messages(lines)


async def send_stats(message: Message, session: AsyncSession, t: Translator) -> None:
    async with read(session):  # ended before the sends
        stats = await shop_stats(session)
        chart = await chart_data(session)
    for chunk in render_stats(t, stats):
        await message.answer(chunk)
    await send_chart(message, t, chart)


async def send_chart(message: Message, t: Translator, chart: ChartData) -> None:
    """The PNG, drawn in a worker thread (matplotlib is imported on the first one)."""
    labels = ChartLabels(
        revenue=t("owner.chart.revenue", days=CHART_DAYS),
        top=t("owner.chart.top", days=CHART_DAYS),
        stars=t("owner.chart.stars"),
        no_sales=t("owner.chart.no_sales"),
    )
    try:
        png = await asyncio.to_thread(render_png, chart, labels)
    except Exception as exc:  # the figures were sent; the owner reads that the chart is missing
        log.warning("chart not drawn", error=repr(exc))
        await message.answer(t("owner.chart.failed"))
        return
    await message.answer_photo(BufferedInputFile(png, filename="stats.png"))


async def stats_command(message: Message, session: AsyncSession, t: Translator) -> None:
    await send_stats(message, session, t)


async def refund_command(
    message: Message,
    *,
    bot: Bot,
    session: AsyncSession,
    session_factory: SessionFactory,
    settings: Settings,
    t: Translator,
) -> None:
    charge_id = command_args(message)
    if not charge_id or len(charge_id.split()) != 1 or len(charge_id) > CHARGE_ID_LIMIT:
        await reply(message, t("owner.refund.usage"))
        return
    result = await refund_charge(bot, session_factory, settings, charge_id)
    text = t(
        f"owner.refund.{result.outcome.value}",
        charge_id=html.quote(charge_id),
        user_id=result.user_id,
        amount=result.amount,
        reason=html.quote(result.reason),
    )
    await message.answer(text)


def router() -> Router:
    """This feature's handlers on a new router: each Dispatcher gets its own."""
    feature = Router(name=__name__)
    feature.message.register(stats_command, Command("stats"))
    feature.message.register(refund_command, Command("refund"))
    return feature
