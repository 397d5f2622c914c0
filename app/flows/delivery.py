"""Sending a paid order's goods: lease it, send, then record the outcome (each step its own
transaction, none of them open while Telegram is called)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import timedelta

import structlog
from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BufferedInputFile

from app.db.base import utcnow
from app.db.models import ItemKind, OrderStatus
from app.db.uow import SessionFactory, read, transaction
from app.i18n import Translator, translator
from app.services import delivery
from app.services.delivery import Goods

log = structlog.get_logger(__name__)


class Sent(enum.StrEnum):
    SENT = "sent"
    NOT_DUE = "not_due"  # delivered already, being sent by someone else, or waiting to retry
    FAILED = "failed"  # Telegram refused; the order waits for its next attempt
    NOT_FOUND = "not_found"  # no such paid order of this buyer (My purchases)


@dataclass(frozen=True)
class DeliveryOutcome:
    result: Sent
    attempts: int = 0
    error: str = ""


async def deliver(
    bot: Bot, factory: SessionFactory, order_id: int, *, retry_base: timedelta
) -> DeliveryOutcome:
    """One delivery attempt of a paid order, if one is due; exactly one sender at a time."""
    now = utcnow()
    async with transaction(factory) as session:
        goods = await delivery.take(session, order_id, now)
    if goods is None:
        return DeliveryOutcome(Sent.NOT_DUE)
    return await send(bot, factory, goods, retry_base=retry_base)


async def send(
    bot: Bot, factory: SessionFactory, goods: Goods, *, retry_base: timedelta
) -> DeliveryOutcome:
    """Send goods whose lease the caller holds, then record the outcome."""
    order_id = goods.order_id
    try:
        await send_goods(bot, translator(goods.language), goods)
    except TelegramAPIError as exc:
        async with transaction(factory) as session:
            retry_at = await delivery.mark_failed(
                session, order_id, goods.attempts, utcnow(), retry_base
            )
        log.warning(
            "delivery failed; will retry",
            order_id=order_id,
            buyer_id=goods.user_id,
            attempts=goods.attempts,
            retry_at=retry_at.isoformat(),
            error=exc.message,
        )
        return DeliveryOutcome(Sent.FAILED, goods.attempts, exc.message)
    async with transaction(factory) as session:
        await delivery.mark_delivered(session, order_id, utcnow())
    log.info("delivered", order_id=order_id, buyer_id=goods.user_id, attempts=goods.attempts)
    return DeliveryOutcome(Sent.SENT, goods.attempts)


async def redeliver(
    bot: Bot, factory: SessionFactory, t: Translator, *, user_id: int, order_id: int
) -> Sent:
    """Send a buyer's goods again on request from "My purchases" (paid orders count too)."""
    async with factory() as session, read(session):
        goods = await delivery.goods_of(session, order_id)
        status = await delivery.status_of(session, order_id)
    if goods is None or goods.user_id != user_id:
        return Sent.NOT_FOUND
    try:
        await send_goods(bot, t, goods)
    except TelegramAPIError as exc:
        log.warning("redelivery failed", order_id=order_id, error=exc.message)
        return Sent.FAILED
    if status == OrderStatus.PAID:
        async with transaction(factory) as session:
            await delivery.mark_delivered(session, order_id, utcnow())
    log.info("delivered again on request", order_id=order_id, buyer_id=user_id)
    return Sent.SENT


async def send_goods(bot: Bot, t: Translator, goods: Goods) -> None:
    """The goods in as few messages as fit: keys and codes inline, files as documents, a key
    too long for a message as a .txt file. A failure raises; the whole order is sent again."""
    messages, documents = delivery.message_batches(t, goods.units)
    for text in messages:
        await bot.send_message(goods.user_id, text)
    for unit in documents:
        if unit.kind == ItemKind.FILE:
            caption = t("buyer.delivery.file", title=unit.title)
            await bot.send_document(goods.user_id, document=unit.content, caption=caption)
            continue
        document = BufferedInputFile(unit.content.encode("utf-8"), filename=f"{unit.slug}.txt")
        caption = t("buyer.delivery.long", title=unit.title)
        await bot.send_document(goods.user_id, document=document, caption=caption)
