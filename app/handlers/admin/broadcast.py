"""/broadcast <text> (or /broadcast, then the text): a message to every user; /stopbroadcast.

The text keeps the owner's formatting (it is re-rendered as HTML from the message entities).
Sending happens in the background (see :mod:`app.workers.broadcast`); the owner
gets a report when it is done.
"""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.uow import read, write
from app.handlers.admin.common import TEXT_INPUT, BroadcastDialog
from app.i18n import Translator
from app.services.broadcast import audience_size, cancel_running, create_broadcast
from app.workers.broadcast import BroadcastManager


async def ask_broadcast(message: Message, state: FSMContext, t: Translator) -> None:
    await state.clear()
    await state.set_state(BroadcastDialog.text)
    await message.answer(t("owner.broadcast.ask"))


async def _start(
    message: Message,
    session: AsyncSession,
    t: Translator,
    broadcasts: BroadcastManager,
    text: str,
) -> None:
    async with read(session):
        recipients = await audience_size(session)
    if recipients == 0:
        await message.answer(t("owner.broadcast.no_audience"))
        return
    author = message.from_user.id if message.from_user else 0
    async with write(session):
        broadcast = await create_broadcast(session, text, author)
    broadcasts.launch(broadcast.id)
    await message.answer(t("owner.broadcast.started", id=broadcast.id, n=recipients))


async def broadcast_command(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    t: Translator,
    broadcasts: BroadcastManager,
) -> None:
    parts = message.html_text.split(maxsplit=1)
    if len(parts) < 2:
        await ask_broadcast(message, state, t)
        return
    await state.clear()
    await _start(message, session, t, broadcasts, parts[1])


async def broadcast_text(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    t: Translator,
    broadcasts: BroadcastManager,
) -> None:
    await state.clear()
    await _start(message, session, t, broadcasts, message.html_text)


async def stop_broadcast(message: Message, session: AsyncSession, t: Translator) -> None:
    async with write(session):
        cancelled = await cancel_running(session)
    key = "owner.broadcast.stopped" if cancelled else "owner.broadcast.none_running"
    await message.answer(t(key, ids=", ".join(f"#{i}" for i in cancelled)))


def router() -> Router:
    """This feature's handlers on a new router: each Dispatcher gets its own."""
    feature = Router(name=__name__)
    feature.message.register(broadcast_command, Command("broadcast"))
    feature.message.register(broadcast_text, BroadcastDialog.text, TEXT_INPUT)
    feature.message.register(stop_broadcast, Command("stopbroadcast"))
    return feature
