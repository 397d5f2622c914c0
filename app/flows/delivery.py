"""Sending a paid order's goods: lease it, send, then record the outcome (each step its own
transaction, none of them open while Telegram is called).

A send that fails (Telegram refused it, or its answer did not decode) is retried with backoff;
with a :class:`GiveUp`, an order still not delivered that long after its payment is owed back
instead (:mod:`app.services.undeliverable`). Only a Telegram error's description is logged:
any other aiogram error quotes the whole response, which echoes the goods."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import timedelta

import structlog
from aiogram import Bot
from aiogram.exceptions import AiogramError, TelegramAPIError
from aiogram.types import BufferedInputFile

from app.config import Settings
from app.db.base import utcnow
from app.db.models import ItemKind, OrderStatus
from app.db.uow import SessionFactory, read, transaction
from app.i18n import Translator, translator
from app.services import delivery, undeliverable
from app.services.delivery import Goods

log = structlog.get_logger(__name__)


class Sent(enum.StrEnum):
    SENT = "sent"
    NOT_DUE = "not_due"  # delivered already, being sent by someone else, or waiting to retry
    FAILED = "failed"  # Telegram refused; the order waits for its next attempt
    UNDELIVERABLE = "undeliverable"  # refused past the deadline: DeliveryOutcome.refund_id
    NOT_FOUND = "not_found"  # no such paid order of this buyer (My purchases)


@dataclass(frozen=True)
class DeliveryOutcome:
    result: Sent
    attempts: int = 0
    error: str = ""
    refund_id: int | None = None  # UNDELIVERABLE: the refund to hand over


@dataclass(frozen=True)
class GiveUp:
    """When a paid order that cannot be delivered is refunded instead: ``after`` its payment
    (DELIVERY_REFUND_AFTER), at once with ``auto_refund``, else once an owner does it."""

    after: timedelta
    auto_refund: bool

    @classmethod
    def of(cls, settings: Settings) -> GiveUp:
        return cls(timedelta(hours=settings.delivery_refund_after), settings.auto_refund)


def error_text(exc: AiogramError) -> str:
    """What may be logged of a failed call: Telegram's description, or only the error's type
    (a response that did not decode is quoted whole in its message: the key, the file id)."""
    return exc.message if isinstance(exc, TelegramAPIError) else type(exc).__name__


async def deliver(
    bot: Bot,
    factory: SessionFactory,
    order_id: int,
    *,
    retry_base: timedelta,
    give_up: GiveUp | None = None,
) -> DeliveryOutcome:
    """One delivery attempt of a paid order, if one is due; exactly one sender at a time."""
    now = utcnow()
    async with transaction(factory) as session:
        goods = await delivery.take(session, order_id, now)
    if goods is None:
        return DeliveryOutcome(Sent.NOT_DUE)
    return await send(bot, factory, goods, retry_base=retry_base, give_up=give_up)


async def send(
    bot: Bot,
    factory: SessionFactory,
    goods: Goods,
    *,
    retry_base: timedelta,
    give_up: GiveUp | None = None,
) -> DeliveryOutcome:
    """Send goods whose lease the caller holds, then record the outcome."""
    order_id = goods.order_id
    try:
        await send_goods(bot, translator(goods.language), goods)
    except AiogramError as exc:  # Telegram refused, or its answer did not decode
        return await _failed(factory, goods, error_text(exc), retry_base, give_up)
    async with transaction(factory) as session:
        await delivery.mark_delivered(session, order_id, utcnow())
    log.info("delivered", order_id=order_id, buyer_id=goods.user_id, attempts=goods.attempts)
    return DeliveryOutcome(Sent.SENT, goods.attempts)


async def _failed(
    factory: SessionFactory,
    goods: Goods,
    error: str,
    retry_base: timedelta,
    give_up: GiveUp | None,
) -> DeliveryOutcome:
    """Back off; or, past the deadline, stop sending and open the refund."""
    now, refund_id = utcnow(), None
    retry_at = now
    async with transaction(factory) as session:
        if give_up is not None:
            refund_id = await undeliverable.open_refund(
                session,
                goods.order_id,
                now,
                paid_before=now - give_up.after,
                auto_refund=give_up.auto_refund,
            )
        if refund_id is None:
            retry_at = await delivery.mark_failed(
                session, goods.order_id, goods.attempts, now, retry_base
            )
    facts = {"order_id": goods.order_id, "buyer_id": goods.user_id, "attempts": goods.attempts}
    if refund_id is not None:
        log.error(
            "undeliverable past the deadline; refund due", refund_id=refund_id, error=error, **facts
        )
        return DeliveryOutcome(Sent.UNDELIVERABLE, goods.attempts, error, refund_id)
    log.warning("delivery failed; will retry", retry_at=retry_at.isoformat(), error=error, **facts)
    return DeliveryOutcome(Sent.FAILED, goods.attempts, error)


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
    except AiogramError as exc:
        log.warning("redelivery failed", order_id=order_id, error=error_text(exc))
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
