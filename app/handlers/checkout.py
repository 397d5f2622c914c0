"""Buying: reserve an item and send a Stars invoice, answer the pre-checkout query, and turn
a successful payment into a ledger row, then a sale and a delivery (or a refund)."""

from __future__ import annotations

import contextlib

import structlog
from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery, LabeledPrice, Message, PreCheckoutQuery
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.uow import SessionFactory
from app.filters.magic import Match
from app.flows import payments
from app.i18n import Translator
from app.keyboards.buyer import BuyCb
from app.services import orders
from app.services.ledger import ReportedPayment
from app.services.orders import CURRENCY, Invoice, ReserveStatus, Verdict

log = structlog.get_logger(__name__)

INVOICE_TITLE_LIMIT = 32
INVOICE_DESCRIPTION_LIMIT = 255


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
        max_reservations=settings.max_reservations_per_user,
    )
    if result.invoice is None:
        if result.status is ReserveStatus.LIMIT:
            text = t(
                "buyer.checkout.limit",
                n=settings.max_reservations_per_user,
                minutes=settings.reservation_minutes,
            )
        elif result.status is ReserveStatus.SOLD_OUT:
            text = t("buyer.checkout.sold_out")
        else:
            text = t("buyer.checkout.unavailable")
        await query.answer(text, show_alert=True)
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


async def successful_payment(
    message: Message,
    *,
    session_factory: SessionFactory,
    settings: Settings,
    bot: Bot,
    t: Translator,
) -> None:
    """Record first (a failure here re-raises: the update is delivered again), then settle.

    Whatever fails after the payment is in the ledger is the fulfilment worker's to retry.
    """
    paid = message.successful_payment
    assert paid is not None and message.from_user is not None
    payment = ReportedPayment(
        charge_id=paid.telegram_payment_charge_id,
        user_id=message.from_user.id,
        payload=paid.invoice_payload,
        currency=paid.currency,
        amount=paid.total_amount,
        paid_at=message.date,
        provider_charge_id=paid.provider_payment_charge_id or None,
    )
    await payments.record(session_factory, payment)
    try:
        await payments.settle(bot, session_factory, settings, payment.charge_id, t=t)
    except Exception:  # recorded: the fulfilment worker settles it on its next round
        log.exception("settling a recorded payment failed", charge_id=payment.charge_id)
        with contextlib.suppress(TelegramAPIError):
            await message.answer(t("buyer.payment.delayed"))


def router() -> Router:
    """This feature's handlers on a new router: each Dispatcher gets its own."""
    feature = Router(name=__name__)
    feature.callback_query.register(buy, BuyCb.filter())
    feature.pre_checkout_query.register(pre_checkout)
    feature.message.register(successful_payment, Match(F.successful_payment & F.from_user))
    return feature
