"""Asking Telegram for a refund: lease the refund, call ``refundStarPayment``, then record
what Telegram said. "Already refunded" is the truth too, and is recorded as refunded."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import timedelta

import structlog
from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest

from app.config import Settings
from app.db.base import utcnow
from app.db.models import RefundReason, RefundStatus
from app.db.uow import SessionFactory, transaction
from app.flows.alerts import alert_owners
from app.i18n import translator
from app.services import refunds
from app.services.refunds import RefundTarget, UnknownChargeError

log = structlog.get_logger(__name__)

ALREADY_REFUNDED_AT_TELEGRAM = "CHARGE_ALREADY_REFUNDED"
ALERT_AFTER_ATTEMPTS = 3  # an automatic refund still failing after this many tries: tell owners
AUTOMATIC = {RefundReason.SOLD_OUT.value, RefundReason.UNMATCHED.value}


class Refunded(enum.StrEnum):
    REFUNDED = "refunded"
    ALREADY_REFUNDED = "already_refunded"
    UNKNOWN_CHARGE = "unknown_charge"
    BUSY = "busy"  # another process is asking Telegram right now, or it waits for its retry
    REFUSED = "refused"  # Telegram answered with an error; nothing changed
    UNAVAILABLE = "unavailable"  # no answer from Telegram; nothing changed, safe to retry


@dataclass(frozen=True)
class RefundResult:
    outcome: Refunded
    charge_id: str = ""
    user_id: int = 0
    amount: int = 0
    reason: str = ""


def _retry_base(settings: Settings, target: RefundTarget) -> timedelta | None:
    """Automatic refunds are retried with backoff; an owner's waits for the owner."""
    if settings.auto_refund and target.reason in AUTOMATIC:
        return timedelta(seconds=settings.retry_interval)
    return None


async def refund(
    bot: Bot, factory: SessionFactory, settings: Settings, refund_id: int, *, force: bool = False
) -> RefundResult:
    now = utcnow()
    async with transaction(factory) as session:
        target = await refunds.take(session, refund_id, now, force=force)
        if target is None:
            known = await refunds.target(session, refund_id)
    if target is None:
        return RefundResult(Refunded.BUSY if known else Refunded.UNKNOWN_CHARGE)
    found = RefundResult(Refunded.REFUNDED, target.charge_id, target.user_id, target.amount)
    try:
        await bot.refund_star_payment(
            user_id=target.user_id, telegram_payment_charge_id=target.charge_id
        )
    except TelegramBadRequest as exc:
        if ALREADY_REFUNDED_AT_TELEGRAM not in exc.message:
            return await _failed(
                bot, factory, settings, target, outcome=Refunded.REFUSED, error=exc.message
            )
        async with transaction(factory) as session:
            await refunds.mark_refunded(session, target.refund_id, utcnow())
        log.warning("payment was already refunded at Telegram", charge_id=target.charge_id)
        return RefundResult(Refunded.ALREADY_REFUNDED, target.charge_id, target.user_id)
    except TelegramAPIError as exc:
        return await _failed(
            bot, factory, settings, target, outcome=Refunded.UNAVAILABLE, error=exc.message
        )
    async with transaction(factory) as session:
        await refunds.mark_refunded(session, target.refund_id, utcnow())
    log.info(
        "payment refunded",
        charge_id=target.charge_id,
        buyer_id=target.user_id,
        amount=target.amount,
        reason=target.reason,
        order_id=target.order_id,
    )
    await _tell_buyer(bot, target)
    return found


async def _failed(
    bot: Bot,
    factory: SessionFactory,
    settings: Settings,
    target: RefundTarget,
    *,
    outcome: Refunded,
    error: str,
) -> RefundResult:
    base = _retry_base(settings, target)
    now = utcnow()
    async with transaction(factory) as session:
        await refunds.mark_failed(
            session,
            target.refund_id,
            error=error,
            attempts=target.attempts,
            now=now,
            retry_base=base,
        )
        alert = (
            base is not None
            and target.attempts >= ALERT_AFTER_ATTEMPTS
            and await refunds.claim_alert(session, target.refund_id, now)
        )
    log.error(
        "refund failed",
        charge_id=target.charge_id,
        attempts=target.attempts,
        outcome=outcome.value,
        error=error,
        retried=base is not None,
    )
    if alert:
        await alert_owners(
            bot,
            factory,
            settings,
            "buyer.alert.refund_failed",
            amount=target.amount,
            user=target.user_id,
            charge_id=target.charge_id,
            error=error,
        )
    return RefundResult(outcome, target.charge_id, target.user_id, target.amount, error)


async def _tell_buyer(bot: Bot, target: RefundTarget) -> None:
    """In the buyer's language; a buyer who blocked the bot is no error."""
    t = translator(target.language)
    if target.reason == RefundReason.SOLD_OUT:
        text = t("buyer.payment.refunded_sold_out", title=target.title, amount=target.amount)
    elif target.title:
        text = t("owner.refund.buyer_notice", title=target.title, amount=target.amount)
    else:
        text = t("buyer.payment.refunded_unmatched", amount=target.amount)
    try:
        await bot.send_message(target.user_id, text)
    except TelegramAPIError as exc:
        log.info(
            "could not tell the buyer about the refund",
            charge_id=target.charge_id,
            error=exc.message,
        )


async def refund_charge(
    bot: Bot, factory: SessionFactory, settings: Settings, charge_id: str
) -> RefundResult:
    """An owner's /refund: any charge id in the ledger, refunded at most once."""
    async with transaction(factory) as session:
        try:
            opened = await refunds.open_for_owner(session, charge_id)
        except UnknownChargeError:
            opened = None
        known = RefundResult(Refunded.REFUNDED, charge_id)
        if opened is not None:
            known = RefundResult(Refunded.REFUNDED, charge_id, opened.user_id, opened.amount)
            refund_id, status = opened.id, opened.status
    if opened is None:
        log.info("refund refused: unknown charge")
        return RefundResult(Refunded.UNKNOWN_CHARGE, charge_id)
    if status == RefundStatus.REFUNDED:
        log.info("refund refused: already refunded", charge_id=charge_id)
        return RefundResult(Refunded.ALREADY_REFUNDED, charge_id, known.user_id, known.amount)
    result = await refund(bot, factory, settings, refund_id, force=True)
    if result.charge_id:
        return result
    return RefundResult(result.outcome, charge_id, known.user_id, known.amount)
