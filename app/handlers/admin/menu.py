"""/admin: the owner's menu of inline buttons, and /cancel for any owner dialog."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from app.handlers.admin.broadcast import ask_broadcast
from app.handlers.admin.catalog import send_products
from app.handlers.admin.common import IN_DIALOG, AddCategory, AddProduct, reply
from app.handlers.admin.sales import send_stats
from app.i18n import Translator
from app.keyboards.admin import AdminMenu, menu_keyboard


async def admin_menu(message: Message, t: Translator) -> None:
    await reply(message, t("owner.menu"), menu_keyboard(t))


async def cancel(message: Message, state: FSMContext, t: Translator) -> None:
    await state.clear()
    await reply(message, t("owner.cancelled"))


async def menu_action(
    query: CallbackQuery,
    callback_data: AdminMenu,
    state: FSMContext,
    session: AsyncSession,
    t: Translator,
) -> None:
    message = query.message
    if not isinstance(message, Message):  # too old to answer in place
        return
    action = callback_data.action
    if action == "products":
        await send_products(message, session, t)
    elif action == "stats":
        await send_stats(message, session, t)
    elif action == "broadcast":
        await ask_broadcast(message, state, t)
    elif action == "add_category":
        await state.clear()
        await state.set_state(AddCategory.title)
        await reply(message, t("owner.category.ask"))
    elif action == "add_product":
        await state.clear()
        await state.set_state(AddProduct.slug)
        await reply(message, t("owner.product.ask_slug"))


def router() -> Router:
    """This feature's handlers on a new router: each Dispatcher gets its own."""
    feature = Router(name=__name__)
    feature.message.register(admin_menu, Command("admin"))
    feature.message.register(cancel, Command("cancel"), IN_DIALOG)
    feature.callback_query.register(menu_action, AdminMenu.filter())
    return feature
