"""Buying: reserve an item and send a Stars invoice, answer the pre-checkout query, and turn
a successful payment into a recorded sale and a delivery (or a refund-due order)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import structlog
from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery, LabeledPrice, Message, PreCheckoutQuery
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import OrderStatus
from app.filters.magic import Match
from app.i18n import Translator
from app.keyboards.buyer import BuyCb
from app.services import delivery, notify, orders
from app.services.orders import CURRENCY, Invoice, ReserveStatus, Verdict
from app.services.payments import Payment, PaymentKind, PaymentOutcome, record_payment

log = structlog.get_logger(__name__)
router = Router(name=__name__)

INVOICE_TITLE_LIMIT = 32
INVOICE_DESCRIPTION_LIMIT = 255
RECORD_ATTEMPTS = 3


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def _send_invoice(bot: Bot, chat_id: int, invoice: Invoice, t: Translator) -> None:
    title = _clip(invoice.title, INVOICE_TITLE_LIMIT)
    description = _clip(invoice.description, INVOICE_DESCRIPTION_LIMIT) or t(
        "buyer.checkout.invoice_description"
    )
    await bot.send_invoice(
        chat_id=chat_id,
        title=title,
        description=description,
        payload=invoice.payload,
        currency=CURRENCY,
        prices=[LabeledPrice(label=title, amount=invoice.amount)],
    )


@router.callback_query(BuyCb.filter())
async def buy(
    query: CallbackQuery,
    *,
    callback_data: BuyCb,
    session: AsyncSession,
    settings: Settings,
    bot: Bot,
    t: Translator,
) -> None:
    result = await orders.reserve(
        session,
        buyer=query.from_user,
        product_id=callback_data.product,
        minutes=settings.reservation_minutes,
    )
    if result.invoice is None:
        key = (
            "buyer.checkout.sold_out"
            if result.status is ReserveStatus.SOLD_OUT
            else "buyer.checkout.unavailable"
        )
        await query.answer(t(key), show_alert=True)
        return
    invoice = result.invoice
    try:
        await _send_invoice(bot, query.from_user.id, invoice, t)
    except TelegramAPIError as exc:
        log.warning("invoice not sent", order_id=invoice.order_id, error=exc.message)
        if not invoice.reused:
            await orders.release(session, invoice.order_id)
        await query.answer(t("buyer.checkout.invoice_failed"), show_alert=True)
        return
    if invoice.reused:
        await query.answer(t("buyer.checkout.reused"))
    else:
        await query.answer(t("buyer.checkout.reserved", n=settings.reservation_minutes))


@router.pre_checkout_query()
async def pre_checkout(query: PreCheckoutQuery, session: AsyncSession, t: Translator) -> None:
    """Telegram waits at most 10 s for this answer; any failure answers "not ok"."""
    try:
        verdict = await orders.check_pre_checkout(
            session,
            user_id=query.from_user.id,
            payload=query.invoice_payload,
            currency=query.currency,
            total_amount=query.total_amount,
        )
    except Exception:  # never leave Telegram waiting: "not ok" charges nobody
        log.exception("pre-checkout check failed", payload=query.invoice_payload)
        await session.rollback()
        await query.answer(ok=False, error_message=t("buyer.pre_checkout.error"))
        return
    if verdict is Verdict.OK:
        await query.answer(ok=True)
    else:
        await query.answer(ok=False, error_message=t(f"buyer.pre_checkout.{verdict.value}"))


async def _record(session: AsyncSession, payment: Payment) -> PaymentOutcome | None:
    """Record the payment, retrying transient database errors; None if it could not be."""
    for attempt in range(1, RECORD_ATTEMPTS + 1):
        try:
            return await record_payment(session, payment)
        except Exception:  # idempotent by charge id, so a retry is always safe
            await session.rollback()
            log.exception(
                "recording a payment failed",
                attempt=attempt,
                payload=payment.payload,
                charge_id=payment.charge_id,
                amount=payment.total_amount,
                buyer_id=payment.payer.id,
            )
            await asyncio.sleep(0.5 * attempt)
    return None


@dataclass(frozen=True)
class _PaymentContext:
    message: Message
    session: AsyncSession
    settings: Settings
    bot: Bot
    t: Translator
    payment: Payment

    async def tell(self, text: str) -> None:
        try:
            await self.message.answer(text)
        except TelegramAPIError as exc:
            log.warning(
                "could not message the buyer", buyer_id=self.message.chat.id, error=exc.message
            )

    async def alert(self, key: str, **kwargs: object) -> None:
        await notify.alert_admins(self.bot, self.session, self.settings, key, **kwargs)


@router.message(Match(F.successful_payment & F.from_user))
async def successful_payment(
    message: Message, *, session: AsyncSession, settings: Settings, bot: Bot, t: Translator
) -> None:
    paid = message.successful_payment
    assert paid is not None and message.from_user is not None
    payment = Payment(
        payer=message.from_user,
        payload=paid.invoice_payload,
        currency=paid.currency,
        total_amount=paid.total_amount,
        charge_id=paid.telegram_payment_charge_id,
        provider_charge_id=paid.provider_payment_charge_id,
    )
    context = _PaymentContext(message, session, settings, bot, t, payment)
    outcome = await _record(session, payment)
    if outcome is None or outcome.kind is PaymentKind.UNMATCHED:
        await _no_order(context, failed=outcome is None)
    elif outcome.kind is PaymentKind.REFUND_DUE:
        await _refund_due(context, outcome)
    elif outcome.kind is PaymentKind.SOLD or outcome.order_status == OrderStatus.DELIVERED:
        await _deliver(context, outcome)


async def _deliver(context: _PaymentContext, outcome: PaymentOutcome) -> None:
    """Deliver (a no-op for a payment delivered before), then the low-stock alert."""
    assert outcome.order_id is not None
    result = await delivery.deliver(context.session, context.bot, context.t, outcome.order_id)
    if result is delivery.DeliveryResult.FAILED:
        await context.tell(context.t("buyer.payment.delivery_failed"))
        await context.alert(
            "buyer.alert.delivery_failed",
            order=outcome.order_id,
            title=outcome.title,
            user=context.payment.payer.id,
        )
    if outcome.low_stock is not None:
        low = outcome.low_stock
        key = "buyer.alert.low_stock" if low.left else "buyer.alert.sold_out"
        await context.alert(key, title=low.title, n=low.left, threshold=low.threshold)


async def _refund_due(context: _PaymentContext, outcome: PaymentOutcome) -> None:
    """Paid, but nothing was left: the buyer is told, the owners are asked to refund."""
    amount, charge_id = context.payment.total_amount, context.payment.charge_id
    await context.tell(
        context.t(
            "buyer.payment.refund_due", amount=amount, title=outcome.title, charge_id=charge_id
        )
    )
    await context.alert(
        "buyer.alert.refund_due",
        order=outcome.order_id,
        title=outcome.title,
        amount=amount,
        user=context.payment.payer.id,
        charge_id=charge_id,
    )


async def _no_order(context: _PaymentContext, *, failed: bool) -> None:
    """A payment that could not be matched or recorded: the logs, the owner and the buyer know."""
    amount, charge_id = context.payment.total_amount, context.payment.charge_id
    await context.tell(context.t("buyer.payment.problem", amount=amount, charge_id=charge_id))
    await context.alert(
        "buyer.alert.failed" if failed else "buyer.alert.unmatched",
        amount=amount,
        user=context.payment.payer.id,
        charge_id=charge_id,
    )
