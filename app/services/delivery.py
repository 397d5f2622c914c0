"""Handing the goods over: after the payment is committed, never inside its transaction.

``delivered_at`` is the delivery's ticket: ``UPDATE … SET delivered_at = now WHERE delivered_at
IS NULL`` succeeds for one caller only, so two copies of a payment update cannot both send.
If sending fails the ticket is returned (``delivered_at`` back to NULL) and a retry or "My
purchases" delivers later. The content itself (keys, codes, file ids) is never logged.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

import structlog
from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BufferedInputFile
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import utcnow
from app.db.models import ItemKind, Order, OrderStatus, Product, StockItem
from app.i18n import Translator
from app.services.catalog import Page, clamp_page
from app.services.tx import begin_write

log = structlog.get_logger(__name__)

MESSAGE_LIMIT = 4096
PURCHASES_PAGE_SIZE = 5
HISTORY_STATUSES = (
    OrderStatus.DELIVERED.value,
    OrderStatus.REFUND_DUE.value,
    OrderStatus.REFUNDED.value,
)


class DeliveryResult(enum.StrEnum):
    SENT = "sent"
    ALREADY = "already"  # delivered before (or being delivered by a concurrent copy)
    FAILED = "failed"  # Telegram refused; delivered_at is NULL again
    NOT_FOUND = "not_found"  # no such paid order of this buyer


@dataclass(frozen=True)
class Goods:
    order_id: int
    user_id: int
    title: str
    slug: str
    kind: str
    content: str

    def __repr__(self) -> str:  # keep the content out of tracebacks and logs
        return f"Goods(order_id={self.order_id}, kind={self.kind!r})"


_GOODS = (
    select(
        Order.id,
        Order.user_id,
        Product.title,
        Product.slug,
        StockItem.kind,
        StockItem.content,
    )
    .join(Product, Product.id == Order.product_id)
    .join(StockItem, StockItem.id == Order.stock_item_id)
    .where(Order.id == bindparam("order"), Order.status == OrderStatus.DELIVERED.value)
)
_TAKE_TICKET = (
    update(Order)
    .where(
        Order.id == bindparam("order"),
        Order.status == OrderStatus.DELIVERED.value,
        Order.delivered_at.is_(None),
    )
    .values(delivered_at=bindparam("stamp"))
    .returning(Order.id)
    .execution_options(synchronize_session=False)  # the loaded Order is not read again
)


async def _goods(session: AsyncSession, order_id: int) -> Goods | None:
    row = (await session.execute(_GOODS, {"order": order_id})).first()
    return Goods(*row) if row is not None else None


async def _take_ticket(session: AsyncSession, order_id: int, stamp: datetime) -> bool:
    taken = await session.scalar(_TAKE_TICKET, {"order": order_id, "stamp": stamp})
    return taken is not None


async def _return_ticket(session: AsyncSession, order_id: int, stamp: datetime) -> None:
    await begin_write(session)
    await session.execute(
        update(Order)
        .where(Order.id == order_id, Order.delivered_at == stamp)
        .values(delivered_at=None)
        .execution_options(synchronize_session=False)
    )
    await session.commit()


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


async def send_goods(bot: Bot, t: Translator, goods: Goods) -> None:
    """One message with the goods: a text key inline, a long one as a .txt file, a file by id."""
    if goods.kind == ItemKind.FILE:
        caption = t("buyer.delivery.file", title=goods.title)
        await bot.send_document(goods.user_id, document=goods.content, caption=caption)
        return
    text = t("buyer.delivery.text", title=goods.title, content=goods.content)
    if _utf16_len(text) <= MESSAGE_LIMIT:
        await bot.send_message(goods.user_id, text)
        return
    document = BufferedInputFile(goods.content.encode("utf-8"), filename=f"{goods.slug}.txt")
    caption = t("buyer.delivery.long", title=goods.title)
    await bot.send_document(goods.user_id, document=document, caption=caption)


async def _send(
    session: AsyncSession, bot: Bot, t: Translator, goods: Goods, stamp: datetime | None
) -> DeliveryResult:
    try:
        await send_goods(bot, t, goods)
    except TelegramAPIError as exc:
        if stamp is not None:
            await _return_ticket(session, goods.order_id, stamp)
        log.warning(
            "delivery failed", order_id=goods.order_id, buyer_id=goods.user_id, error=exc.message
        )
        return DeliveryResult.FAILED
    except BaseException:
        # Whatever went wrong, cancellation included (a replica stopping mid-send), the goods
        # must stay deliverable: sending the same key twice to its buyer beats sending none.
        if stamp is not None:
            await _return_ticket(session, goods.order_id, stamp)
        raise
    log.info("delivered", order_id=goods.order_id, buyer_id=goods.user_id, kind=goods.kind)
    return DeliveryResult.SENT


async def deliver(session: AsyncSession, bot: Bot, t: Translator, order_id: int) -> DeliveryResult:
    """Deliver a paid order exactly once (a no-op if it was delivered already)."""
    await begin_write(session)
    stamp = utcnow()
    goods = None
    if await _take_ticket(session, order_id, stamp):
        goods = await _goods(session, order_id)
    await session.commit()
    if goods is None:
        return DeliveryResult.ALREADY
    return await _send(session, bot, t, goods, stamp)


async def redeliver(
    session: AsyncSession, bot: Bot, t: Translator, *, user_id: int, order_id: int
) -> DeliveryResult:
    """Send a buyer's paid goods again, on request from "My purchases"."""
    await begin_write(session)
    goods = await _goods(session, order_id)
    if goods is None or goods.user_id != user_id:
        await session.commit()
        return DeliveryResult.NOT_FOUND
    stamp = utcnow()
    first_time = await _take_ticket(session, order_id, stamp)
    await session.commit()
    return await _send(session, bot, t, goods, stamp if first_time else None)


@dataclass(frozen=True)
class Purchase:
    order_id: int
    title: str
    amount: int
    status: str
    paid_at: datetime | None
    delivered: bool


async def purchases_page(session: AsyncSession, user_id: int, page: int) -> Page[Purchase]:
    """The buyer's paid orders, newest first."""
    where = (Order.user_id == user_id, Order.status.in_(HISTORY_STATUSES))
    total = await session.scalar(select(func.count(Order.id)).where(*where)) or 0
    page, pages = clamp_page(int(total), page, PURCHASES_PAGE_SIZE)
    rows = await session.execute(
        select(
            Order.id,
            Product.title,
            Order.amount,
            Order.status,
            Order.paid_at,
            Order.delivered_at.is_not(None),
        )
        .join(Product, Product.id == Order.product_id)
        .where(*where)
        .order_by(Order.paid_at.desc(), Order.id.desc())
        .offset(page * PURCHASES_PAGE_SIZE)
        .limit(PURCHASES_PAGE_SIZE)
    )
    return Page([Purchase(*row) for row in rows], page, pages)
