"""A buyer's promo code, entered before the invoice.

- 🎟 Promo code on a product's card (or on the cart) asks for the code, reserves the units as
  Buy (or the cart's Pay) does, applies the code and sends the invoice at the discounted total.
  A code refused there leaves the reservation made: the buyer reads why, and the invoice comes
  at the full price (``/code`` applies another code to it).
- ``/code <CODE>`` applies a code to the buyer's latest open reservation and sends its invoice
  again at the discounted total (the invoice sent before no longer passes the pre-checkout).

``/promo`` is the owners' command (:mod:`app.handlers.admin.promo`), hence ``/code`` here.
"""

from __future__ import annotations

import contextlib

import structlog
from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, LabeledPrice, Message
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.base import utcnow
from app.db.uow import read, write
from app.filters.magic import Match
from app.handlers.admin.common import command_args
from app.handlers.checkout import INVOICE_DESCRIPTION_LIMIT, clip, invoice_texts, refusal
from app.i18n import Translator
from app.keyboards.buyer import PromoCartCb, PromoCb
from app.services import cart, discounts, reservations
from app.services.discounts import Priced
from app.services.orders import CURRENCY
from app.services.promo import PromoRefusedError
from app.services.reservations import Invoice

log = structlog.get_logger(__name__)

WANTED = "promo_wanted"  # [[product id, quantity], …], or "cart"


class PromoEntry(StatesGroup):
    code = State()


async def _ask(state: FSMContext, bot: Bot, user_id: int, t: Translator, wanted: object) -> None:
    await state.set_state(PromoEntry.code)
    await state.update_data({WANTED: wanted})
    await bot.send_message(user_id, t("buyer.promo.ask"))


async def ask_code(
    query: CallbackQuery, *, callback_data: PromoCb, state: FSMContext, bot: Bot, t: Translator
) -> None:
    await _ask(state, bot, query.from_user.id, t, [[callback_data.product, callback_data.qty]])


async def ask_cart_code(query: CallbackQuery, state: FSMContext, bot: Bot, t: Translator) -> None:
    await _ask(state, bot, query.from_user.id, t, "cart")


async def _wanted(session: AsyncSession, user_id: int, kept: object) -> list[tuple[int, int]]:
    if kept == "cart":
        async with read(session):
            return (await cart.view(session, user_id)).wanted()
    if isinstance(kept, list):
        return [(int(product), int(qty)) for product, qty in kept]
    return []


async def code_typed(
    message: Message,
    *,
    state: FSMContext,
    session: AsyncSession,
    settings: Settings,
    bot: Bot,
    t: Translator,
) -> None:
    """Reserve what the button was for, apply the code to it, then send the invoice: at the
    discounted total, or (the code refused) at the full price after saying why."""
    buyer = message.from_user
    assert buyer is not None and message.text is not None
    kept = (await state.get_data()).get(WANTED)
    wanted = await _wanted(session, buyer.id, kept)
    await state.set_state(None)
    if not wanted:
        await message.answer(t("buyer.promo.no_order"))
        return
    refused: PromoRefusedError | None = None
    priced: Priced | None = None
    async with write(session):
        result = await reservations.reserve_lines(
            session,
            buyer=buyer,
            wanted=wanted,
            minutes=settings.reservation_minutes,
            max_units=settings.max_reserved_units,
            max_quantity=settings.max_quantity,
            cart=kept == "cart",  # its payment takes what it bought out of the cart
        )
        if result.invoice is not None:
            try:  # a refused code leaves the reservation made, as Buy would
                priced = await discounts.apply_to_order(
                    session, result.invoice.order_id, buyer.id, message.text, utcnow()
                )
            except PromoRefusedError as exc:
                refused = exc
    if (invoice := result.invoice) is None:
        await message.answer(refusal(t, settings, result))
        return
    if refused is not None:
        reason = t(f"buyer.promo.{refused.reason}", **refused.params)
        await message.answer(reason + "\n" + t("buyer.promo.full_price", amount=invoice.amount))
    sent = await _priced(message, bot, t, priced, refused, full_price=invoice)
    if not sent and not invoice.reused:  # no invoice to pay it with: the units go back
        async with write(session):
            await reservations.release(session, invoice.order_id)


async def code_command(
    message: Message, *, state: FSMContext, session: AsyncSession, bot: Bot, t: Translator
) -> None:
    buyer = message.from_user
    assert buyer is not None
    await state.set_state(None)
    code = command_args(message)
    if not code:
        await message.answer(t("buyer.promo.code_usage"))
        return
    refused: PromoRefusedError | None = None
    priced: Priced | None = None
    async with write(session):
        order_id = await discounts.latest_open_order(session, buyer.id, utcnow())
        if order_id is not None:
            try:
                priced = await discounts.apply_to_order(session, order_id, buyer.id, code, utcnow())
            except PromoRefusedError as exc:
                refused = exc
    if order_id is None:
        await message.answer(t("buyer.promo.no_order"))
        return
    await _priced(message, bot, t, priced, refused)


async def _priced(
    message: Message,
    bot: Bot,
    t: Translator,
    priced: Priced | None,
    refused: PromoRefusedError | None,
    *,
    full_price: Invoice | None = None,
) -> bool:
    """After the transaction: the discounted invoice; or, the code refused, why (``/code``) or
    the reservation's invoice at the full price (the refusal told already). True if an invoice
    went out."""
    saving: dict[str, object] | None = None
    if priced is not None:
        saving = {
            "code": priced.code,
            "saving": priced.discount,
            "total": priced.subtotal,
            "amount": priced.amount,
        }
        await message.answer(t("buyer.promo.applied", **saving))
        invoice = _discounted(priced)
    elif full_price is not None:
        invoice = full_price
    else:  # /code: the earlier invoice still stands
        assert refused is not None
        await message.answer(t(f"buyer.promo.{refused.reason}", **refused.params))
        return False
    try:
        await _send_invoice(bot, message.chat.id, invoice, t, saving)
    except TelegramAPIError as exc:
        log.warning("invoice not sent", order_id=invoice.order_id, error=exc.message)
        with contextlib.suppress(TelegramAPIError):
            await message.answer(t("buyer.checkout.invoice_failed"))
        return False
    return True


def _discounted(priced: Priced) -> Invoice:
    return Invoice(
        order_id=priced.order_id,
        product_id=priced.lines[0].product_id,
        payload=priced.payload,
        amount=priced.amount,
        title=priced.title,
        description=priced.description,
        expires_at=utcnow(),
        reused=False,
        lines=priced.lines,
    )


async def _send_invoice(
    bot: Bot, chat_id: int, invoice: Invoice, t: Translator, saving: dict[str, object] | None
) -> None:
    """One price line, the total; with a code, its description names the code and saving."""
    title, description = invoice_texts(t, invoice)
    label = title
    if saving is not None:
        description = clip(
            t("buyer.promo.invoice_description", **saving) + " " + description,
            INVOICE_DESCRIPTION_LIMIT,
        )
        label = clip(t("buyer.promo.invoice_label", title=title, code=saving["code"]), 64)
    await bot.send_invoice(
        chat_id=chat_id,
        title=title,
        description=description,
        payload=invoice.payload,
        currency=CURRENCY,
        prices=[LabeledPrice(label=label, amount=invoice.amount)],
    )


def router() -> Router:
    """This feature's handlers on a new router: each Dispatcher gets its own."""
    feature = Router(name=__name__)
    feature.callback_query.register(ask_code, PromoCb.filter())
    feature.callback_query.register(ask_cart_code, PromoCartCb.filter())
    feature.message.register(code_command, Command("code"), Match(F.from_user))
    typed = Match(F.text & ~F.text.startswith("/") & F.from_user)
    feature.message.register(code_typed, StateFilter(PromoEntry.code), typed)
    return feature
