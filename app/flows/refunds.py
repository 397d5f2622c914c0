"""Asking Telegram for a refund: lease the refund, call ``refundStarPayment``, then record
what Telegram said. "Already refunded" is the truth too, and is recorded as refunded (the buyer
told, if it was our own earlier request whose answer was lost). A refund waiting for an owner
is alerted at least once: marked only after the alert went out."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import timedelta

import structlog
from aiogram import Bot
from aiogram.exceptions import AiogramError, TelegramAPIError, TelegramBadRequest

from app.config import Settings
from app.db.base import utcnow
from app.db.models import RefundReason, RefundStatus
from app.db.uow import SessionFactory, read, transaction
from app.flows.alerts import alert_owners
from app.i18n import Translator, translator
from app.services import refunds
from app.services.refunds import RefundTarget, UnknownChargeError

log = structlog.get_logger(__name__)

ALREADY_REFUNDED_AT_TELEGRAM = "CHARGE_ALREADY_REFUNDED"
ALERT_AFTER_ATTEMPTS = 3  # an automatic refund still failing after this many tries: tell owners
AUTOMATIC = {
    RefundReason.SOLD_OUT.value,
    RefundReason.UNMATCHED.value,
    RefundReason.UNDELIVERABLE.value,
}
# Without AUTO_REFUND: what the buyer is told and what the owners read, by reason.
WAITING_TEXTS = {
    RefundReason.SOLD_OUT.value: ("buyer.payment.refund_due", "buyer.alert.refund_due"),
    RefundReason.UNDELIVERABLE.value: ("buyer.payment.undeliverable", "buyer.alert.undeliverable"),
}
OTHER_WAITING = ("buyer.payment.problem", "buyer.alert.unmatched")


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
            changed = await refunds.mark_refunded(session, target.refund_id, utcnow())
        log.warning("payment was already refunded at Telegram", charge_id=target.charge_id)
        if changed and target.attempts > 1:  # our earlier request went through; its answer
            await tell_buyer(bot, target)  # (or our record of it) was lost
        return RefundResult(Refunded.ALREADY_REFUNDED, target.charge_id, target.user_id)
    except TelegramAPIError as exc:
        return await _failed(
            bot, factory, settings, target, outcome=Refunded.UNAVAILABLE, error=exc.message
        )
    async with transaction(factory) as session:
        recorded = await refunds.mark_refunded(session, target.refund_id, utcnow())
    log.info(
        "payment refunded",
        charge_id=target.charge_id,
        buyer_id=target.user_id,
        amount=target.amount,
        reason=target.reason,
        order_id=target.order_id,
    )
    if recorded:  # else the reconciliation saw it in Telegram's ledger first, and told them
        await tell_buyer(bot, target)
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
    log.error(
        "refund failed",
        charge_id=target.charge_id,
        attempts=target.attempts,
        outcome=outcome.value,
        error=error,
        retried=base is not None,
    )
    alerted = False
    if base is not None and target.attempts >= ALERT_AFTER_ATTEMPTS and not target.alerted:
        sent = await alert_owners(  # still holding the refund's lease: nobody else alerts
            bot,
            factory,
            settings,
            "buyer.alert.refund_failed",
            amount=target.amount,
            user=target.user_id,
            charge_id=target.charge_id,
            error=error,
        )
        alerted = bool(sent or not settings.admin_ids)
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
        if alerted:  # after the send: a crash before this alerts again on the next failure
            await refunds.mark_alerted(session, target.refund_id, now)
    return RefundResult(outcome, target.charge_id, target.user_id, target.amount, error)


async def tell_buyer(bot: Bot, target: RefundTarget) -> None:
    """The refund notice, in the buyer's language; a buyer who blocked the bot is no error.
    Sent by whoever recorded the refund (once): the flow that heard Telegram's answer, or the
    reconciliation that found the bot's own refund in Telegram's ledger first."""
    t = translator(target.language)
    if target.reason == RefundReason.SOLD_OUT:
        text = t("buyer.payment.refunded_sold_out", title=target.title, amount=target.amount)
    elif target.reason == RefundReason.UNDELIVERABLE:
        text = t("buyer.payment.refunded_undeliverable", title=target.title, amount=target.amount)
    elif target.title:
        text = t("owner.refund.buyer_notice", title=target.title, amount=target.amount)
    else:
        text = t("buyer.payment.refunded_unmatched", amount=target.amount)
    await tell(bot, target.user_id, text, charge_id=target.charge_id)


async def tell(bot: Bot, user_id: int, text: str, **context: object) -> None:
    """A notice to a buyer, who may have blocked the bot: a refusal is logged, never raised.
    Only a Telegram error's description is logged: any other aiogram error (a response that
    did not decode) quotes the whole response, which may echo the text."""
    try:
        await bot.send_message(user_id, text)
    except TelegramAPIError as exc:
        log.info("could not message the buyer", buyer_id=user_id, error=exc.message, **context)
    except AiogramError as exc:
        log.warning("could not message the buyer", buyer_id=user_id, error=type(exc).__name__)


async def hand_over_refund(
    bot: Bot,
    factory: SessionFactory,
    settings: Settings,
    refund_id: int,
    *,
    t: Translator | None = None,
) -> None:
    """A refund just opened: asked for at once (``AUTO_REFUND``), or the owners alerted."""
    if settings.auto_refund:
        await refund(bot, factory, settings, refund_id)
    else:
        await refund_waits_for_owner(bot, factory, settings, refund_id, t=t)


async def refund_waits_for_owner(
    bot: Bot,
    factory: SessionFactory,
    settings: Settings,
    refund_id: int,
    *,
    t: Translator | None = None,
) -> None:
    """Without AUTO_REFUND: the buyer is told, and the owners are alerted at least once (the
    refund is marked alerted after the send; the worker sends again one that is not)."""
    async with factory() as session, read(session):
        target = await refunds.target(session, refund_id)
    if target is None or target.alerted:
        return
    key, alert = WAITING_TEXTS.get(target.reason, OTHER_WAITING)
    params = {"amount": target.amount, "charge_id": target.charge_id, "title": target.title}
    text = (t or translator(target.language))(key, **params)
    await tell(bot, target.user_id, text, charge_id=target.charge_id)
    sent = await alert_owners(
        bot, factory, settings, alert, order=target.order_id or 0, user=target.user_id, **params
    )
    if sent or not settings.admin_ids:
        async with transaction(factory) as session:
            await refunds.mark_alerted(session, refund_id, utcnow())


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
