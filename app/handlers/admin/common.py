"""Helpers shared by the owner handlers: their dialog states and the commit-then-reply rule."""

from __future__ import annotations

from aiogram import F
from aiogram.filters import StateFilter
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from app.i18n import Translator
from app.services.products import ShopInputError


class AddCategory(StatesGroup):
    title = State()


class AddProduct(StatesGroup):
    slug = State()
    title = State()
    price = State()
    category = State()
    description = State()


class EditProduct(StatesGroup):
    value = State()


class StockUpload(StatesGroup):
    items = State()


class BroadcastDialog(StatesGroup):
    text = State()


IN_DIALOG = StateFilter(AddCategory, AddProduct, EditProduct, StockUpload, BroadcastDialog)
# An answer in a dialog is text that is not a command (a command is taken by its own handler).
TEXT_INPUT = F.text & ~F.text.startswith("/")


async def reply(
    session: AsyncSession,
    message: Message,
    text: str,
    reply_markup: InlineKeyboardMarkup | None = None,
) -> None:
    """Commit the update's transaction, then answer (no transaction spans an API call)."""
    await session.commit()
    await message.answer(text, reply_markup=reply_markup)


def input_error(t: Translator, exc: ShopInputError) -> str:
    return t(f"owner.error.{exc.code}", **exc.params)


def command_args(message: Message) -> str:
    """What follows the command in the text or caption ("" when nothing does)."""
    parts = (message.text or message.caption or "").split(maxsplit=1)
    return parts[1].strip() if len(parts) > 1 else ""


async def reply_error(
    session: AsyncSession, message: Message, t: Translator, exc: ShopInputError
) -> None:
    """Undo whatever the failed step wrote, then say what to correct."""
    await session.rollback()
    await message.answer(input_error(t, exc))
