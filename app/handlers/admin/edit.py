"""/editproduct: a product's card with buttons per field, or a one-line change.

``/editproduct <slug>`` shows the card; ``/editproduct <slug> <field> <value>`` sets a field
directly (fields: title, description, price, category, active).
"""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Product
from app.db.uow import read, write
from app.handlers.admin.common import (
    TEXT_INPUT,
    EditProduct,
    StockUpload,
    command_args,
    reply,
    reply_error,
)
from app.handlers.screens import tell
from app.i18n import Translator
from app.keyboards.admin import ProductEdit, ProductOpen, product_keyboard
from app.services import products
from app.services.products import EDITABLE_FIELDS, MAX_DESCRIPTION_INPUT, MAX_TITLE, ShopInputError


async def card(session: AsyncSession, t: Translator, product: Product) -> str:
    row = (await products.product_rows(session, product.id))[0]
    return t(
        "owner.product.card",
        title=product.title,
        slug=product.slug,
        price=product.price,
        category=row.category or t("owner.product.no_category"),
        active=t("owner.yes" if product.is_active else "owner.no"),
        available=row.available,
        reserved=row.reserved,
        sold=row.sold,
        description=product.description or "—",
    )


async def show_card(
    message: Message, session: AsyncSession, t: Translator, product: Product
) -> None:
    async with read(session):
        text = await card(session, t, product)
    markup = product_keyboard(t, product.id, active=product.is_active)
    await reply(message, text, markup)


async def edit_product(message: Message, session: AsyncSession, t: Translator) -> None:
    args = command_args(message).split(maxsplit=2)
    if not args:
        await reply(message, t("owner.product.edit_usage"))
        return
    try:
        if len(args) == 1:
            async with read(session):
                product = await products.require_product(session, args[0])
            await show_card(message, session, t, product)
            return
        async with write(session):
            product = await products.require_product(session, args[0])
            if len(args) == 2:
                raise ShopInputError("bad_field", fields=", ".join(EDITABLE_FIELDS))
            await products.update_product(session, product, args[1].lower(), args[2])
    except ShopInputError as exc:
        await reply_error(message, t, exc)
        return
    await message.answer(t("owner.product.updated"))
    await show_card(message, session, t, product)


async def open_product(
    query: CallbackQuery, callback_data: ProductOpen, session: AsyncSession, t: Translator
) -> None:
    async with read(session):
        product = await session.get(Product, callback_data.product_id)
    if product is not None and isinstance(query.message, Message):
        await show_card(query.message, session, t, product)


async def edit_field(
    query: CallbackQuery,
    *,
    callback_data: ProductEdit,
    state: FSMContext,
    session: AsyncSession,
    t: Translator,
    callback_answer: CallbackAnswer,
) -> None:
    field, message = callback_data.field, query.message
    async with write(session):  # the button may toggle "active"
        product = await session.get(Product, callback_data.product_id)
        if product is not None and field == "active":
            product.is_active = not product.is_active
            await session.flush()
            text = await card(session, t, product)
    if product is None or not isinstance(message, Message):
        return
    if field == "active":
        tell(callback_answer, t("owner.product.updated"))
        markup = product_keyboard(t, product.id, active=product.is_active)
        await message.edit_text(text, reply_markup=markup)
        return
    await state.clear()
    if field == "stock":
        await state.set_state(StockUpload.items)
        await state.update_data(product_id=product.id, title=product.title)
        await message.answer(t("owner.stock.ask", title=product.title))
        return
    await state.set_state(EditProduct.value)
    await state.update_data(product_id=product.id, field=field)
    limit = MAX_DESCRIPTION_INPUT if field == "description" else MAX_TITLE
    await message.answer(t(f"owner.product.ask_{field}", n=limit))


async def edit_value(
    message: Message, state: FSMContext, session: AsyncSession, t: Translator
) -> None:
    data = await state.get_data()
    try:
        async with write(session):
            product = await session.get(Product, int(data["product_id"]))
            if product is None:
                await state.clear()
                raise ShopInputError("unknown_product", slug="?")
            await products.update_product(session, product, str(data["field"]), message.text or "")
    except ShopInputError as exc:
        await reply_error(message, t, exc)
        return
    await state.clear()
    await message.answer(t("owner.product.updated"))
    await show_card(message, session, t, product)


def router() -> Router:
    """This feature's handlers on a new router: each Dispatcher gets its own."""
    feature = Router(name=__name__)
    feature.message.register(edit_product, Command("editproduct"))
    feature.callback_query.register(open_product, ProductOpen.filter())
    feature.callback_query.register(edit_field, ProductEdit.filter())
    feature.message.register(edit_value, EditProduct.value, TEXT_INPUT)
    return feature
