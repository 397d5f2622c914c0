"""Refunding a Stars payment: Telegram first, then the order; never the other way round.

The order is read and the transaction ended before ``refundStarPayment`` is called (no row lock
is held across a network call). Only when Telegram confirms is the order marked refunded, so
the database never says "refunded" for money Telegram kept.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import structlog
from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import utcnow
from app.db.models import Order, OrderStatus, Product, User
from app.i18n import translator

log = structlog.get_logger(__name__)

ALREADY_REFUNDED_AT_TELEGRAM = "CHARGE_ALREADY_REFUNDED"


class RefundOutcome(enum.StrEnum):
    REFUNDED = "refunded"
    UNKNOWN_CHARGE = "unknown_charge"
    ALREADY_REFUNDED = "already_refunded"
    REFUSED = "refused"  # Telegram answered with an error; nothing changed
    UNAVAILABLE = "unavailable"  # no answer from Telegram; nothing changed, safe to retry


@dataclass(frozen=True)
class RefundResult:
    outcome: RefundOutcome
    order_id: int | None = None
    user_id: int | None = None
    amount: int | None = None
    reason: str = ""


async def _mark_refunded(session: AsyncSession, order_id: int) -> None:
    await session.execute(
        update(Order)
        .where(Order.id == order_id, Order.status != OrderStatus.REFUNDED.value)
        .values(status=OrderStatus.REFUNDED.value, refunded_at=utcnow())
    )
    await session.commit()


async def refund_payment(session: AsyncSession, bot: Bot, charge_id: str) -> RefundResult:
    """Refund the order paid with ``charge_id``; commits. Leaves no transaction open."""
    charge_id = charge_id.strip()
    order = (
        await session.scalars(select(Order).where(Order.telegram_payment_charge_id == charge_id))
    ).first()
    await session.commit()  # end the read before talking to Telegram
    if order is None:
        log.info("refund refused: unknown charge")
        return RefundResult(RefundOutcome.UNKNOWN_CHARGE)
    found = RefundResult(RefundOutcome.REFUNDED, order.id, order.user_id, order.amount)
    if order.status == OrderStatus.REFUNDED:
        log.info("refund refused: already refunded", order_id=order.id)
        return RefundResult(RefundOutcome.ALREADY_REFUNDED, order.id, order.user_id, order.amount)
    try:
        await bot.refund_star_payment(user_id=order.user_id, telegram_payment_charge_id=charge_id)
    except TelegramBadRequest as exc:
        if ALREADY_REFUNDED_AT_TELEGRAM in exc.message:
            # Telegram did refund it (earlier, or from a concurrent request): record the truth.
            await _mark_refunded(session, order.id)
            log.warning("order was already refunded at Telegram", order_id=order.id)
            return RefundResult(RefundOutcome.ALREADY_REFUNDED, order.id, order.user_id)
        log.warning("Telegram refused the refund", order_id=order.id, error=exc.message)
        return RefundResult(RefundOutcome.REFUSED, order.id, order.user_id, reason=exc.message)
    except TelegramAPIError as exc:
        log.error("refund request failed", order_id=order.id, error=exc.message)
        return RefundResult(RefundOutcome.UNAVAILABLE, order.id, order.user_id, reason=exc.message)
    await _mark_refunded(session, order.id)
    log.info(
        "order refunded",
        order_id=order.id,
        buyer_id=order.user_id,
        amount=order.amount,
        previous_status=order.status,
    )
    await _notify_buyer(session, bot, order)
    return found


async def _notify_buyer(session: AsyncSession, bot: Bot, order: Order) -> None:
    """Tell the buyer in their language; a buyer who blocked the bot is no error."""
    row = (
        await session.execute(
            select(User.language_code, Product.title)
            .select_from(Order)
            .outerjoin(User, User.id == Order.user_id)
            .join(Product, Product.id == Order.product_id)
            .where(Order.id == order.id)
        )
    ).first()
    await session.commit()
    language, title = (row[0], row[1]) if row is not None else (None, "")
    t = translator(language)
    try:
        await bot.send_message(
            order.user_id, t("owner.refund.buyer_notice", title=title, amount=order.amount)
        )
    except TelegramAPIError as exc:
        log.info("could not tell the buyer about the refund", order_id=order.id, error=exc.message)
