"""A payment, from Telegram's report to the goods or the refund.

1. **Record** it in the ledger, in its own short transaction, before anything else
   (:func:`record`, retried; if it still fails the update must not be confirmed).
2. **Settle** it: the order gets its item or a refund is opened (:func:`settle`).
3. **Hand over**: send the goods, or refund (``AUTO_REFUND``) or alert the owners; goods
   that cannot be delivered for ``DELIVERY_REFUND_AFTER`` hours go the refund's way too.

The update's handler runs all three at once; the fulfilment worker and the reconciliation run
them for payments whose handler never finished (a crash, a database outage, an update lost).
"""

from __future__ import annotations

from datetime import timedelta

import structlog
from aiogram import Bot
from sqlalchemy.exc import SQLAlchemyError

from app.config import Settings
from app.db.base import utcnow
from app.db.models import PaymentSource
from app.db.uow import SessionFactory, transaction
from app.flows.alerts import alert_owners
from app.flows.delivery import DeliveryOutcome, GiveUp, Sent, deliver, send
from app.flows.refunds import hand_over_refund, tell
from app.i18n import Translator, translator
from app.retry import GaveUpError, retry
from app.services import fulfilment, ledger, settle_queue
from app.services.fulfilment import Settled, Settlement
from app.services.ledger import HANDLER_GRACE, ReportedPayment

log = structlog.get_logger(__name__)

RECORD_ATTEMPTS = 3
SETTLE_ALERT_AFTER = 3  # failed settlements of one payment before the owners are alerted


class PaymentNotRecordedError(RuntimeError):
    """The ledger could not be written: the update must be delivered again (webhook: 5xx)."""


async def _record_once(factory: SessionFactory, payment: ReportedPayment) -> bool:
    async with transaction(factory) as session:
        return await ledger.record(
            session, payment, PaymentSource.UPDATE, settle_after=utcnow() + HANDLER_GRACE
        )


async def record(factory: SessionFactory, payment: ReportedPayment) -> bool:
    """Write the payment to the ledger; True if new. Transient errors are retried
    (:data:`RECORD_ATTEMPTS` tries, 0.5 s then 1 s apart): idempotent by charge id."""
    facts = {
        "charge_id": payment.charge_id,
        "payload": payment.payload,
        "amount": payment.amount,
        "buyer_id": payment.user_id,
    }

    def on_retry(attempt: int, error: BaseException, sleep: float) -> None:
        log.warning(
            "recording a payment failed",
            attempt=attempt,
            retry_in=round(sleep, 2),
            error=type(error).__name__,
            **facts,
        )

    try:
        new = await retry(
            lambda: _record_once(factory, payment),
            retry_on=lambda exc: isinstance(exc, SQLAlchemyError | OSError),
            on_retry=on_retry,
            attempts=RECORD_ATTEMPTS,
            first=0.5,
        )
    except GaveUpError as exc:
        log.warning(
            "recording a payment failed",
            attempt=exc.attempts,
            error=type(exc.last).__name__,
            **facts,
        )
        raise PaymentNotRecordedError(payment.charge_id) from None
    log.info(
        "payment recorded" if new else "payment reported again",
        currency=payment.currency,
        **facts,
    )
    return new


async def settle(
    bot: Bot,
    factory: SessionFactory,
    settings: Settings,
    charge_id: str,
    *,
    t: Translator | None = None,
) -> Settlement:
    """Settle a recorded payment and hand over what it bought (goods, or a refund).

    A settlement that fails is postponed with backoff before the error goes on (the worker
    tries again later; the owners hear of one that keeps failing).
    """
    try:
        async with transaction(factory) as session:
            settlement = await fulfilment.settle(
                session, charge_id, auto_refund=settings.auto_refund
            )
    except Exception as exc:
        await _postpone(bot, factory, settings, charge_id, exc)
        raise
    await hand_over(bot, factory, settings, settlement, t=t)
    return settlement


async def _postpone(
    bot: Bot, factory: SessionFactory, settings: Settings, charge_id: str, error: Exception
) -> None:
    try:
        async with transaction(factory) as session:
            postponed = await settle_queue.postpone(
                session, charge_id, utcnow(), timedelta(seconds=settings.retry_interval)
            )
    except (SQLAlchemyError, OSError) as exc:  # the database is down: the marker stays due
        log.warning("could not postpone a failed settlement", charge_id=charge_id, error=repr(exc))
        return
    if postponed is None:
        return
    log.warning(
        "settling a payment failed; postponed",
        charge_id=charge_id,
        attempts=postponed.attempts,
        retry_at=postponed.retry_at.isoformat(),
        error=type(error).__name__,
    )
    if postponed.attempts == SETTLE_ALERT_AFTER:  # once: the attempts only ever go up
        await alert_owners(
            bot,
            factory,
            settings,
            "buyer.alert.settle_failed",
            charge_id=charge_id,
            user=postponed.user_id,
            amount=postponed.amount,
        )


async def hand_over(
    bot: Bot,
    factory: SessionFactory,
    settings: Settings,
    settlement: Settlement,
    *,
    t: Translator | None = None,
) -> None:
    if settlement.kind is Settled.ALREADY:
        if settlement.order_id is not None:  # a copy of a payment: deliver if still due
            await deliver_due(bot, factory, settings, settlement.order_id)
        return
    if settlement.kind is Settled.SOLD:
        assert settlement.goods is not None  # leased to us by the settlement
        retry_base = timedelta(seconds=settings.retry_interval)
        outcome = await send(
            bot, factory, settlement.goods, retry_base=retry_base, give_up=GiveUp.of(settings)
        )
        if outcome.refund_id is not None:  # paid long ago (found late by reconciliation)
            await hand_over_refund(bot, factory, settings, outcome.refund_id, t=t)
        if outcome.result is Sent.FAILED:
            text = (t or translator(None))("buyer.payment.delivery_failed")
            await tell(bot, settlement.user_id, text, order_id=settlement.order_id)
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
    await hand_over_refund(bot, factory, settings, settlement.refund_id, t=t)


async def deliver_due(
    bot: Bot, factory: SessionFactory, settings: Settings, order_id: int
) -> DeliveryOutcome:
    """One attempt of a paid order's delivery, if due; past DELIVERY_REFUND_AFTER a refused
    one hands its refund over instead (refunded, or the owners alerted)."""
    outcome = await deliver(
        bot,
        factory,
        order_id,
        retry_base=timedelta(seconds=settings.retry_interval),
        give_up=GiveUp.of(settings),
    )
    if outcome.refund_id is not None:
        await hand_over_refund(bot, factory, settings, outcome.refund_id)
    return outcome
