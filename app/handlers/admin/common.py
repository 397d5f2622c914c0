"""Helpers shared by the owner handlers: their dialog states, replies, and long listings split
into messages. A handler closes its transaction block (:mod:`app.db.uow`) before it replies."""

from __future__ import annotations

from collections.abc import Iterable

from aiogram import F
from aiogram.filters import StateFilter
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import InlineKeyboardMarkup, Message

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


class StockFilesUpload(StatesGroup):
    files = State()


class BroadcastDialog(StatesGroup):
    text = State()


IN_DIALOG = StateFilter(
    AddCategory, AddProduct, EditProduct, StockUpload, StockFilesUpload, BroadcastDialog
)
# An answer in a dialog is text that is not a command (a command is taken by its own handler).
TEXT_INPUT = F.text & ~F.text.startswith("/")


CHUNK = 3800  # characters per message: under Telegram's 4096, with room for the markup's growth


def split_messages(lines: Iterable[str], limit: int = CHUNK) -> list[str]:
    """The lines joined into as few messages as fit ``limit`` characters each, never breaking
    a line (a line is a product, an order: each must stay whole)."""
    chunks: list[str] = []
    for line in lines:
        if chunks and len(chunks[-1]) + 1 + len(line) <= limit:
            chunks[-1] += "\n" + line
        else:
            chunks.append(line)
    return [chunk.strip("\n") for chunk in chunks if chunk.strip()]


async def reply(
    message: Message, text: str, reply_markup: InlineKeyboardMarkup | None = None
) -> None:
    """Answer; the caller's transaction block is closed (no transaction spans an API call)."""
    await message.answer(text, reply_markup=reply_markup)


def input_error(t: Translator, exc: ShopInputError) -> str:
    return t(f"owner.error.{exc.code}", **exc.params)


def command_args(message: Message) -> str:
    """What follows the command in the text or caption ("" when nothing does)."""
    parts = (message.text or message.caption or "").split(maxsplit=1)
    return parts[1].strip() if len(parts) > 1 else ""


async def reply_error(message: Message, t: Translator, exc: ShopInputError) -> None:
    """Say what to correct (the failed step's block, left by the error, rolled it back)."""
    await message.answer(input_error(t, exc))
