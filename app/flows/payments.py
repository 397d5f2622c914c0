"""A payment, from Telegram's report to the goods or the refund.

1. **Record** it in the ledger, in its own short transaction, before anything else
   (:func:`record`, retried; if it still fails the update must not be confirmed).
2. **Settle** it: the order gets its item or a refund is opened (:func:`settle`).
3. **Hand over**: send the goods, or refund (``AUTO_REFUND``) or alert the owners.

The update's handler runs all three at once; the fulfilment worker and the reconciliation run
them for payments whose handler never finished (a crash, a database outage, an update lost).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import structlog
from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from sqlalchemy.exc import SQLAlchemyError

from app.config import Settings
from app.db.base import utcnow
from app.db.models import PaymentSource, RefundReason
from app.db.uow import SessionFactory, transaction
from app.flows.alerts import alert_owners
from app.flows.delivery import Sent, deliver, send
from app.flows.refunds import refund
from app.i18n import Translator, translator
from app.services import fulfilment, ledger, refunds
from app.services.fulfilment import Settled, Settlement
from app.services.ledger import HANDLER_GRACE, ReportedPayment

log = structlog.get_logger(__name__)

RECORD_ATTEMPTS = 3


class PaymentNotRecordedError(RuntimeError):
    """The ledger could not be written: the update must be delivered again (webhook: 5xx)."""


async def record(factory: SessionFactory, payment: ReportedPayment) -> bool:
    """Write the payment to the ledger; True if new. Transient errors are retried."""
    for attempt in range(1, RECORD_ATTEMPTS + 1):
        try:
            async with transaction(factory) as session:
                new = await ledger.record(
                    session,
                    payment,
                    PaymentSource.UPDATE,
                    settle_after=utcnow() + HANDLER_GRACE,
                )
        except (SQLAlchemyError, OSError) as exc:  # idempotent by charge id: a retry is safe
            log.warning(
                "recording a payment failed",
                attempt=attempt,
                charge_id=payment.charge_id,
                payload=payment.payload,
                amount=payment.amount,
                buyer_id=payment.user_id,
                error=type(exc).__name__,
            )
            if attempt == RECORD_ATTEMPTS:
                raise PaymentNotRecordedError(payment.charge_id) from None
            await asyncio.sleep(0.5 * attempt)
        else:
            log.info(
                "payment recorded" if new else "payment reported again",
                charge_id=payment.charge_id,
                payload=payment.payload,
                amount=payment.amount,
                currency=payment.currency,
                buyer_id=payment.user_id,
            )
            return new
    raise AssertionError("unreachable")


async def settle(
    bot: Bot,
    factory: SessionFactory,
    settings: Settings,
    charge_id: str,
    *,
    t: Translator | None = None,
) -> Settlement:
    """Settle a recorded payment and hand over what it bought (goods, or a refund)."""
    async with transaction(factory) as session:
        settlement = await fulfilment.settle(session, charge_id, auto_refund=settings.auto_refund)
    await hand_over(bot, factory, settings, settlement, t=t)
    return settlement


async def hand_over(
    bot: Bot,
    factory: SessionFactory,
    settings: Settings,
    settlement: Settlement,
    *,
    t: Translator | None = None,
) -> None:
    retry_base = timedelta(seconds=settings.retry_interval)
    if settlement.kind is Settled.ALREADY:
        if settlement.order_id is not None:  # a copy of a payment: deliver if still due
            await deliver(bot, factory, settlement.order_id, retry_base=retry_base)
        return
    if settlement.kind is Settled.SOLD:
        assert settlement.goods is not None  # leased to us by the settlement
        outcome = await send(bot, factory, settlement.goods, retry_base=retry_base)
        if outcome.result is Sent.FAILED:
            await _tell(bot, settlement.user_id, t, "buyer.payment.delivery_failed")
            await alert_owners(
                bot,
                factory,
                settings,
                "buyer.alert.delivery_failed",
                order=settlement.order_id,
                title=settlement.title,
                user=settlement.user_id,
            )
        for low in settlement.low_stock:
            key = "buyer.alert.low_stock" if low.left else "buyer.alert.sold_out"
            await alert_owners(
                bot, factory, settings, key, title=low.title, n=low.left, threshold=low.threshold
            )
        return
    assert settlement.refund_id is not None
    if settings.auto_refund:
        await refund(bot, factory, settings, settlement.refund_id)
        return
    await refund_waits_for_owner(bot, factory, settings, settlement.refund_id, t=t)


async def refund_waits_for_owner(
    bot: Bot,
    factory: SessionFactory,
    settings: Settings,
    refund_id: int,
    *,
    t: Translator | None = None,
) -> None:
    """Without AUTO_REFUND: the buyer is told, and the owners are alerted exactly once."""
    async with transaction(factory) as session:
        target = await refunds.target(session, refund_id)
        claimed = target is not None and await refunds.claim_alert(session, refund_id, utcnow())
    if target is None or not claimed:
        return
    if target.reason == RefundReason.SOLD_OUT:
        key = "buyer.payment.refund_due"
        alert = "buyer.alert.refund_due"
    else:
        key, alert = "buyer.payment.problem", "buyer.alert.unmatched"
    params = {"amount": target.amount, "charge_id": target.charge_id, "title": target.title}
    await _tell(bot, target.user_id, t or translator(target.language), key, **params)
    await alert_owners(
        bot, factory, settings, alert, order=target.order_id or 0, user=target.user_id, **params
    )


async def _tell(bot: Bot, user_id: int, t: Translator | None, key: str, **params: object) -> None:
    try:
        await bot.send_message(user_id, (t or translator(None))(key, **params))
    except TelegramAPIError as exc:
        log.warning("could not message the buyer", buyer_id=user_id, error=exc.message)
