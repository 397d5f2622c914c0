"""Buying: reserve every unit and send one Stars invoice, answer the pre-checkout query, and
turn a successful payment into a ledger row, then a sale and a delivery (or a refund)."""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections.abc import Callable, Sequence

import structlog
from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery, LabeledPrice, Message, PreCheckoutQuery
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db import uow
from app.db.uow import SessionFactory
from app.filters.magic import Match
from app.flows import payments
from app.handlers.screens import tell
from app.i18n import Translator
from app.keyboards.buyer import BuyCb, BuyQtyCb
from app.services import reservations
from app.services.ledger import ReportedPayment
from app.services.orders import CURRENCY
from app.services.pre_checkout import Verdict, check_pre_checkout
from app.services.products import STARS_INVOICE_MAX
from app.services.reservations import Invoice, Reservation, ReserveStatus

log = structlog.get_logger(__name__)
INVOICE_TITLE_LIMIT = 32
INVOICE_DESCRIPTION_LIMIT = 255
ALERT_TITLE_LIMIT = 64  # a callback answer holds 200 characters
# Seconds the pre-checkout check may take: Telegram's 10 s, less the answer's round trip.
PRE_CHECKOUT_BUDGET = 7.0


def clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def summarize(parts: Sequence[str], limit: int, more: Callable[[int], str]) -> str:
    """As many of ``parts`` as fit in ``limit`` characters, then "+N more" for the rest; the
    first part alone is shortened with "…" when even it does not fit."""
    parts = [" ".join(part.split()) for part in parts]
    for shown in range(len(parts), 0, -1):
        rest = len(parts) - shown
        text = ", ".join(parts[:shown]) + (", " + more(rest) if rest else "")
        if len(text) <= limit:
            return text
    tail = ", " + more(len(parts) - 1) if len(parts) > 1 else ""
    return clip(parts[0], limit - len(tail)) + tail


def invoice_texts(t: Translator, invoice: Invoice) -> tuple[str, str]:
    """The invoice's title and description: a single unit reads as its product does; several
    list the items (Telegram allows 32 and 255 characters)."""
    lines = invoice.lines
    if len(lines) <= 1 and invoice.units <= 1:
        title = clip(invoice.title, INVOICE_TITLE_LIMIT)
        description = clip(invoice.description, INVOICE_DESCRIPTION_LIMIT)
        return title, description or t("buyer.checkout.invoice_description")
    more = lambda n: t("buyer.checkout.invoice_more", n=n)  # noqa: E731
    title = summarize([line.title for line in lines], INVOICE_TITLE_LIMIT, more)
    items = [t("buyer.checkout.invoice_item", title=line.title, n=line.quantity) for line in lines]
    return title, summarize(items, INVOICE_DESCRIPTION_LIMIT, more)


async def _send_invoice(bot: Bot, chat_id: int, invoice: Invoice, t: Translator) -> None:
    title, description = invoice_texts(t, invoice)
    await bot.send_invoice(
        chat_id=chat_id,
        title=title,
        description=description,
        payload=invoice.payload,
        currency=CURRENCY,
        prices=[LabeledPrice(label=title, amount=invoice.amount)],  # one line: the total
    )


class Placed(enum.StrEnum):
    SENT = "sent"  # a new reservation and its invoice
    RESENT = "resent"  # the same reservation's invoice again
    REFUSED = "refused"  # nothing reserved: Reservation.status says why
    NOT_SENT = "not_sent"  # Telegram refused the invoice; the reservation was released


async def place(
    query: CallbackQuery,
    session: AsyncSession,
    settings: Settings,
    bot: Bot,
    t: Translator,
    *,
    wanted: Sequence[tuple[int, int]],
    cart: bool = False,
) -> tuple[Placed, Reservation]:
    """Reserve every unit of ``wanted`` in one transaction, then send one invoice for all."""
    async with uow.write(session):
        result = await reservations.reserve_lines(
            session,
            buyer=query.from_user,
            wanted=wanted,
            minutes=settings.reservation_minutes,
            max_units=settings.max_reserved_units,
            max_quantity=settings.max_quantity,
            cart=cart,
        )
    if (invoice := result.invoice) is None:
        return Placed.REFUSED, result
    try:
        await _send_invoice(bot, query.from_user.id, invoice, t)
    except TelegramAPIError as exc:
        log.warning("invoice not sent", order_id=invoice.order_id, error=exc.message)
        if not invoice.reused:
            async with uow.write(session):
                await reservations.release(session, invoice.order_id)
        return Placed.NOT_SENT, result
    return (Placed.RESENT if invoice.reused else Placed.SENT), result


def refusal(t: Translator, settings: Settings, result: Reservation) -> str:
    if result.status is ReserveStatus.LIMIT:
        return t(
            "buyer.checkout.limit",
            n=settings.max_reserved_units,
            minutes=settings.reservation_minutes,
        )
    if result.status is ReserveStatus.TOO_MANY:
        return t("buyer.checkout.too_many", n=settings.max_quantity)
    if result.status is ReserveStatus.OVER_STARS_MAX:
        return t("buyer.checkout.over_stars_max", max=STARS_INVOICE_MAX)
    if result.status is ReserveStatus.SOLD_OUT:
        return t("buyer.checkout.sold_out")
    if result.status is ReserveStatus.SHORT:
        return "\n".join(
            t("buyer.checkout.short", n=s.left, title=clip(s.title, ALERT_TITLE_LIMIT))
            for s in result.short
        )
    return t("buyer.checkout.unavailable")


async def _buy(
    query: CallbackQuery,
    session: AsyncSession,
    settings: Settings,
    bot: Bot,
    t: Translator,
    *,
    callback_answer: CallbackAnswer,
    product: int,
    quantity: int,
) -> None:
    placed, result = await place(query, session, settings, bot, t, wanted=[(product, quantity)])
    tell_placed(callback_answer, t, settings, placed, result)


def tell_placed(
    answer: CallbackAnswer, t: Translator, settings: Settings, placed: Placed, result: Reservation
) -> None:
    """The press's answer once the order is placed, or why it is not."""
    if placed is Placed.REFUSED:
        tell(answer, refusal(t, settings, result)[:200], alert=True)
    elif placed is Placed.NOT_SENT:
        tell(answer, t("buyer.checkout.invoice_failed"), alert=True)
    elif placed is Placed.RESENT:
        tell(answer, t("buyer.checkout.reused"))
    else:
        tell(answer, t("buyer.checkout.reserved", n=settings.reservation_minutes))


async def buy(
    query: CallbackQuery,
    *,
    callback_data: BuyCb,
    session: AsyncSession,
    settings: Settings,
    bot: Bot,
    t: Translator,
    callback_answer: CallbackAnswer,
) -> None:
    await _buy(
        query,
        session,
        settings,
        bot,
        t,
        callback_answer=callback_answer,
        product=callback_data.product,
        quantity=1,
    )


async def buy_quantity(
    query: CallbackQuery,
    *,
    callback_data: BuyQtyCb,
    session: AsyncSession,
    settings: Settings,
    bot: Bot,
    t: Translator,
    callback_answer: CallbackAnswer,
) -> None:
    if callback_data.qty > settings.max_quantity:
        tell(callback_answer, t("buyer.checkout.too_many", n=settings.max_quantity), alert=True)
        return
    await _buy(
        query,
        session,
        settings,
        bot,
        t,
        callback_answer=callback_answer,
        product=callback_data.product,
        quantity=callback_data.qty,
    )


async def pre_checkout(query: PreCheckoutQuery, session: AsyncSession, t: Translator) -> None:
    """Telegram waits at most 10 s for this answer (and takes no event lock for it, see
    :mod:`app.middlewares.fsm`); a check that fails or outlasts :data:`PRE_CHECKOUT_BUDGET`
    (rows locked by another transaction) is rolled back and answered "not ok"."""
    try:
        async with asyncio.timeout(PRE_CHECKOUT_BUDGET), uow.write(session):
            verdict = await check_pre_checkout(
                session,
                user_id=query.from_user.id,
                payload=query.invoice_payload,
                currency=query.currency,
                total_amount=query.total_amount,
            )
    except Exception:  # never leave Telegram waiting: "not ok" charges nobody
        log.exception("pre-checkout check failed", payload=query.invoice_payload)
        await query.answer(ok=False, error_message=t("buyer.pre_checkout.error"))
        return
    if verdict is Verdict.OK:
        await query.answer(ok=True)
    elif verdict is Verdict.BANNED:
        await query.answer(ok=False, error_message=t("buyer.banned"))
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
    feature.callback_query.register(buy_quantity, BuyQtyCb.filter())
    feature.pre_checkout_query.register(pre_checkout)
    feature.message.register(successful_payment, Match(F.successful_payment & F.from_user))
    return feature
