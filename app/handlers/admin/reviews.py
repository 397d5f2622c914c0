"""/hidereview <id> and /showreview <id>: take a review off the product's card, or put it back
(the ids are shown under each review)."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.uow import write
from app.handlers.admin.common import command_args, input_error
from app.i18n import Translator
from app.keyboards.fields import MAX_ROW_ID
from app.services.products import ShopInputError
from app.services.reviews import set_hidden


async def _set(message: Message, session: AsyncSession, t: Translator, *, hidden: bool) -> None:
    command = "hide" if hidden else "show"
    args = command_args(message)
    if not (args.isascii() and args.isdigit() and 0 < int(args) <= MAX_ROW_ID):
        await message.answer(t(f"owner.review.{command}_usage"))
        return
    try:
        async with write(session):
            changed = await set_hidden(session, int(args), hidden)
    except ShopInputError as exc:
        await message.answer(input_error(t, exc))
        return
    state = "done" if changed else "already"
    await message.answer(t(f"owner.review.{command}_{state}", id=int(args)))


async def hide_review(message: Message, session: AsyncSession, t: Translator) -> None:
    await _set(message, session, t, hidden=True)


async def show_review(message: Message, session: AsyncSession, t: Translator) -> None:
    await _set(message, session, t, hidden=False)


def router() -> Router:
    """This feature's handlers on a new router: each Dispatcher gets its own."""
    feature = Router(name=__name__)
    feature.message.register(hide_review, Command("hidereview"))
    feature.message.register(show_review, Command("showreview"))
    return feature
