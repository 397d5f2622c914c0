"""Adding categories and products (/addcategory, /addproduct dialogs) and listing them."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.uow import read, write
from app.handlers.admin.common import (
    TEXT_INPUT,
    AddCategory,
    AddProduct,
    command_args,
    reply,
    reply_error,
    split_messages,
)
from app.i18n import Translator
from app.keyboards.admin import products_keyboard
from app.services import products
from app.services.products import MAX_DESCRIPTION_INPUT, MAX_TITLE, ShopInputError

# --- categories -----------------------------------------------------------------------


async def _add_category(
    message: Message, state: FSMContext, session: AsyncSession, t: Translator, title: str
) -> None:
    try:
        async with write(session):
            category = await products.create_category(session, title)
    except ShopInputError as exc:
        await reply_error(message, t, exc)
        return
    await state.clear()
    await reply(message, t("owner.category.created", title=category.title))


async def add_category(
    message: Message, state: FSMContext, session: AsyncSession, t: Translator
) -> None:
    if title := command_args(message):
        await _add_category(message, state, session, t, title)
        return
    await state.set_state(AddCategory.title)
    await reply(message, t("owner.category.ask"))


async def add_category_title(
    message: Message, state: FSMContext, session: AsyncSession, t: Translator
) -> None:
    await _add_category(message, state, session, t, message.text or "")


# --- products -------------------------------------------------------------------------


async def add_product(
    message: Message, state: FSMContext, session: AsyncSession, t: Translator
) -> None:
    await state.clear()
    await state.set_state(AddProduct.slug)
    await reply(message, t("owner.product.ask_slug"))


async def add_product_slug(
    message: Message, state: FSMContext, session: AsyncSession, t: Translator
) -> None:
    try:
        async with read(session):
            slug = await products.ensure_slug_free(session, message.text or "")
    except ShopInputError as exc:
        await reply_error(message, t, exc)
        return
    await state.update_data(slug=slug)
    await state.set_state(AddProduct.title)
    await reply(message, t("owner.product.ask_title", n=MAX_TITLE))


async def add_product_title(
    message: Message, state: FSMContext, session: AsyncSession, t: Translator
) -> None:
    try:
        title = products.parse_title(message.text or "")
    except ShopInputError as exc:
        await reply_error(message, t, exc)
        return
    await state.update_data(title=title)
    await state.set_state(AddProduct.price)
    await reply(message, t("owner.product.ask_price"))


async def add_product_price(
    message: Message, state: FSMContext, session: AsyncSession, t: Translator
) -> None:
    try:
        price = products.parse_price(message.text or "")
    except ShopInputError as exc:
        await reply_error(message, t, exc)
        return
    await state.update_data(price=price)
    await state.set_state(AddProduct.category)
    async with read(session):
        names = [c.title for c in await products.list_categories(session)]
    existing = t("owner.product.existing_categories", names=", ".join(names)) if names else ""
    await reply(message, t("owner.product.ask_category") + existing)


async def add_product_category(
    message: Message, state: FSMContext, session: AsyncSession, t: Translator
) -> None:
    name = (message.text or "").strip()
    if name != "-":
        try:
            name = products.parse_category_title(name)
        except ShopInputError as exc:
            await reply_error(message, t, exc)
            return
    await state.update_data(category=name)
    await state.set_state(AddProduct.description)
    await reply(message, t("owner.product.ask_description", n=MAX_DESCRIPTION_INPUT))


async def add_product_description(
    message: Message, state: FSMContext, session: AsyncSession, t: Translator
) -> None:
    data = await state.get_data()
    try:
        async with write(session):
            product = await products.create_product(
                session,
                slug=str(data["slug"]),
                title=str(data["title"]),
                price=int(data["price"]),
                category=str(data["category"]),
                description=message.text or "",
            )
    except ShopInputError as exc:
        await reply_error(message, t, exc)
        if exc.code == "slug_taken":  # taken meanwhile: ask for another slug
            await state.set_state(AddProduct.slug)
        return
    await state.clear()
    text = t("owner.product.created", title=product.title, slug=product.slug, price=product.price)
    await reply(message, text)


# --- listing --------------------------------------------------------------------------


async def send_products(message: Message, session: AsyncSession, t: Translator) -> None:
    async with read(session):
        rows = await products.product_rows(session)
    if not rows:
        await message.answer(t("owner.product.list_empty"))
        return
    lines = [t("owner.product.list_header")]
    for row in rows:
        lines.append(
            t(
                "owner.product.list_row",
                mark="✅" if row.is_active else "⏸",
                slug=row.slug,
                title=row.title,
                price=row.price,
                category=row.category or t("owner.product.no_category"),
                available=row.available,
                reserved=row.reserved,
                sold=row.sold,
            )
        )
    chunks = split_messages(lines)
    for number, chunk in enumerate(chunks, start=1):
        markup = products_keyboard(rows) if number == len(chunks) else None
        await message.answer(chunk, reply_markup=markup)


async def list_products(message: Message, session: AsyncSession, t: Translator) -> None:
    await send_products(message, session, t)


def router() -> Router:
    """This feature's handlers on a new router: each Dispatcher gets its own."""
    feature = Router(name=__name__)
    feature.message.register(add_category, Command("addcategory"))
    feature.message.register(add_category_title, AddCategory.title, TEXT_INPUT)
    feature.message.register(add_product, Command("addproduct"))
    feature.message.register(add_product_slug, AddProduct.slug, TEXT_INPUT)
    feature.message.register(add_product_title, AddProduct.title, TEXT_INPUT)
    feature.message.register(add_product_price, AddProduct.price, TEXT_INPUT)
    feature.message.register(add_product_category, AddProduct.category, TEXT_INPUT)
    feature.message.register(add_product_description, AddProduct.description, TEXT_INPUT)
    feature.message.register(list_products, Command("products"))
    return feature
