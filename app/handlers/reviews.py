"""Reviews: rate a delivered order's product from My purchases (1-5 stars, then an optional
text, or Skip; an order of several products asks which first), and read a product's reviews,
paged, from its card."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.uow import read, write
from app.filters.magic import Match
from app.handlers.screens import show, tell
from app.i18n import Translator
from app.keyboards import buyer as kb
from app.keyboards import reviews as rating_kb
from app.services.products import ShopInputError
from app.services.reviews import MAX_TEXT, add_review, pick, rateable, reviews_page

RETRY = frozenset({"review_link", "review_too_long"})  # the buyer may send another text


class ReviewDialog(StatesGroup):
    text = State()


def _error(t: Translator, exc: ShopInputError) -> str:
    return t(f"buyer.reviews.{exc.code}", **exc.params)


async def rate(
    query: CallbackQuery,
    *,
    callback_data: kb.RateCb,
    state: FSMContext,
    session: AsyncSession,
    bot: Bot,
    t: Translator,
    callback_answer: CallbackAnswer,
) -> None:
    """Rate: the chooser (an order of several products), the stars, then ask for a text."""
    order, rating = callback_data.order, callback_data.rating
    product = callback_data.product or None
    try:
        async with read(session):
            items = await rateable(session, query.from_user.id, order)
        if product is None and len(items) > 1:
            text = t("buyer.reviews.choose", order=order)
            await show(query, bot, text, rating_kb.rate_products(t, order, items))
            return
        chosen = pick(items, product)
    except ShopInputError as exc:
        tell(callback_answer, _error(t, exc), alert=True)
        return
    if not rating:
        if len(items) > 1:
            text = t("buyer.reviews.ask_rating_product", order=order, title=chosen.title)
        else:
            text = t("buyer.reviews.ask_rating", order=order)
        await show(query, bot, text, rating_kb.stars(t, order, callback_data.product))
        return
    await state.set_state(ReviewDialog.text)
    await state.update_data(
        review_order=order, review_rating=rating, review_product=callback_data.product
    )
    text = t("buyer.reviews.ask_text", stars="⭐" * rating, limit=MAX_TEXT)
    await show(query, bot, text, rating_kb.skip_text(t, order, rating, callback_data.product))


async def _save(
    session: AsyncSession,
    t: Translator,
    *,
    user_id: int,
    order: int,
    product: int,
    rating: int,
    text: str,
) -> tuple[str | None, str]:
    """(the error's code or None, the answer); ``product`` 0: the order's only one."""
    try:
        async with write(session):
            await add_review(session, user_id, order, rating, text, product_id=product or None)
    except ShopInputError as exc:
        return exc.code, _error(t, exc)
    return None, t("buyer.reviews.thanks")


async def save_without_text(
    query: CallbackQuery,
    *,
    callback_data: kb.ReviewSaveCb,
    state: FSMContext,
    session: AsyncSession,
    t: Translator,
    callback_answer: CallbackAnswer,
) -> None:
    await state.set_state(None)
    _, text = await _save(
        session,
        t,
        user_id=query.from_user.id,
        order=callback_data.order,
        product=callback_data.product,
        rating=callback_data.rating,
        text="",
    )
    tell(callback_answer, text, alert=True)


async def save_with_text(
    message: Message, state: FSMContext, session: AsyncSession, t: Translator
) -> None:
    data = await state.get_data()
    order, rating = data.get("review_order"), data.get("review_rating")
    product = data.get("review_product", 0)
    if (
        not isinstance(order, int)
        or not isinstance(rating, int)
        or not isinstance(product, int)
        or message.from_user is None
    ):
        await state.set_state(None)
        await message.answer(t("buyer.reviews.review_not_delivered"))
        return
    text = message.text or ""
    if any(
        e.type in {"url", "text_link", "mention", "text_mention"} for e in message.entities or []
    ):
        await message.answer(t("buyer.reviews.review_link"))  # stay in the dialog: try again
        return
    error, reply = await _save(
        session,
        t,
        user_id=message.from_user.id,
        order=order,
        product=product,
        rating=rating,
        text=text,
    )
    if error not in RETRY:
        await state.set_state(None)
    await message.answer(reply)


async def reviews(
    query: CallbackQuery,
    callback_data: kb.ReviewsCb,
    session: AsyncSession,
    bot: Bot,
    t: Translator,
) -> None:
    async with read(session, autocommit=True):
        page = await reviews_page(session, callback_data.product, callback_data.page)
    lines = [t("buyer.reviews.title")]
    for row in page.items:
        line = t("buyer.reviews.line", stars="⭐" * row.rating, date=f"{row.created_at:%Y-%m-%d}")
        lines.append(line + (f"\n{t('buyer.reviews.text', text=row.text)}" if row.text else ""))
        lines[-1] += "\n" + t("buyer.reviews.id", id=row.id)
    if not page.items:
        lines.append(t("buyer.reviews.none"))
    if page.pages > 1:
        lines.append(t("buyer.pager.page", page=page.page + 1, pages=page.pages))
    await show(query, bot, "\n\n".join(lines), kb.reviews(t, page, callback_data.product))


def router() -> Router:
    """This feature's handlers on a new router: each Dispatcher gets its own."""
    feature = Router(name=__name__)
    feature.callback_query.register(rate, kb.RateCb.filter())
    feature.callback_query.register(save_without_text, kb.ReviewSaveCb.filter())
    feature.message.register(
        save_with_text, StateFilter(ReviewDialog.text), Match(F.text & ~F.text.startswith("/"))
    )
    feature.callback_query.register(reviews, kb.ReviewsCb.filter())
    return feature
