"""My purchases: the buyer's paid orders, newest first, each deliverable again."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.uow import SessionFactory, read
from app.filters.magic import Match
from app.flows.delivery import Sent, redeliver
from app.handlers.screens import show, tell
from app.i18n import Translator
from app.keyboards import buyer as kb
from app.services import delivery
from app.services.delivery import Purchase
from app.services.paging import Page


def _title(t: Translator, purchase: Purchase) -> str:
    """The product, or the items of an order of several units."""
    if sum(quantity for _, quantity in purchase.items) <= 1:
        return purchase.title
    return ", ".join(
        t("buyer.checkout.invoice_item", title=title, n=n) for title, n in purchase.items
    )


def _screen(t: Translator, page: Page[Purchase]) -> tuple[str, InlineKeyboardMarkup]:
    if not page.items:
        return t("buyer.purchases.empty"), kb.back_to_menu(t)
    lines = [t("buyer.purchases.title"), ""]
    for purchase in page.items:
        date = purchase.paid_at.strftime("%Y-%m-%d") if purchase.paid_at else "—"
        status = t(f"buyer.purchases.status_{purchase.status}")
        lines.append(
            t(
                "buyer.purchases.line",
                order=purchase.order_id,
                title=_title(t, purchase),
                amount=purchase.amount,
                date=date,
                status=status,
            )
        )
    if any(p.status in delivery.SOLD_STATUSES for p in page.items):
        lines += ["", t("buyer.purchases.hint")]
    if page.pages > 1:
        lines += ["", t("buyer.pager.page", page=page.page + 1, pages=page.pages)]
    return "\n".join(lines), kb.purchases(t, page)


async def purchases_command(message: Message, session: AsyncSession, t: Translator) -> None:
    async with read(session, autocommit=True):
        assert message.from_user is not None
        page = await delivery.purchases_page(session, message.from_user.id, 0)
    text, markup = _screen(t, page)
    await message.answer(text, reply_markup=markup)


async def purchases(
    query: CallbackQuery, session: AsyncSession, bot: Bot, t: Translator, callback_data: object
) -> None:
    async with read(session, autocommit=True):
        number = callback_data.page if isinstance(callback_data, kb.PurchasesCb) else 0
        page = await delivery.purchases_page(session, query.from_user.id, number)
    text, markup = _screen(t, page)
    await show(query, bot, text, markup)


async def resend(
    query: CallbackQuery,
    *,
    callback_data: kb.ResendCb,
    session_factory: SessionFactory,
    bot: Bot,
    t: Translator,
    callback_answer: CallbackAnswer,
) -> None:
    result = await redeliver(
        bot, session_factory, t, user_id=query.from_user.id, order_id=callback_data.order
    )
    notices = {
        Sent.SENT: ("buyer.delivery.resent", False),
        Sent.NOT_FOUND: ("buyer.delivery.not_found", True),
        Sent.FAILED: ("buyer.delivery.failed", True),
    }
    key, alert = notices.get(result, ("buyer.delivery.resent", False))
    tell(callback_answer, t(key), alert=alert)


def router() -> Router:
    """This feature's handlers on a new router: each Dispatcher gets its own."""
    feature = Router(name=__name__)
    feature.message.register(purchases_command, Command("purchases"), Match(F.from_user))
    feature.callback_query.register(purchases, kb.MenuCb.filter(F.action == "purchases"))
    feature.callback_query.register(purchases, kb.PurchasesCb.filter())
    feature.callback_query.register(resend, kb.ResendCb.filter())
    return feature
