"""/broadcast <text> (or /broadcast, then the text): a message to every user; /stopbroadcast.

The text keeps the owner's formatting (it is re-rendered as HTML from the message entities).
Sending happens in the background (see :mod:`app.handlers.admin.broadcast_tasks`); the owner
gets a report when it is done.
"""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from app.handlers.admin.broadcast_tasks import BroadcastManager
from app.handlers.admin.common import TEXT_INPUT, BroadcastDialog, reply
from app.i18n import Translator
from app.services.broadcast import audience_size, cancel_running, create_broadcast
from app.services.tx import begin_write

router = Router(name=__name__)


async def ask_broadcast(
    message: Message, state: FSMContext, session: AsyncSession, t: Translator
) -> None:
    await state.clear()
    await state.set_state(BroadcastDialog.text)
    await reply(session, message, t("owner.broadcast.ask"))


async def _start(
    message: Message,
    session: AsyncSession,
    t: Translator,
    broadcasts: BroadcastManager,
    text: str,
) -> None:
    recipients = await audience_size(session)
    if recipients == 0:
        await reply(session, message, t("owner.broadcast.no_audience"))
        return
    author = message.from_user.id if message.from_user else 0
    await begin_write(session)
    broadcast = await create_broadcast(session, text, author)
    await session.commit()
    broadcasts.launch(broadcast.id)
    await message.answer(t("owner.broadcast.started", id=broadcast.id, n=recipients))


@router.message(Command("broadcast"))
async def broadcast_command(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    t: Translator,
    broadcasts: BroadcastManager,
) -> None:
    parts = message.html_text.split(maxsplit=1)
    if len(parts) < 2:
        await ask_broadcast(message, state, session, t)
        return
    await state.clear()
    await _start(message, session, t, broadcasts, parts[1])


@router.message(BroadcastDialog.text, TEXT_INPUT)
async def broadcast_text(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    t: Translator,
    broadcasts: BroadcastManager,
) -> None:
    await state.clear()
    await _start(message, session, t, broadcasts, message.html_text)


@router.message(Command("stopbroadcast"))
async def stop_broadcast(message: Message, session: AsyncSession, t: Translator) -> None:
    cancelled = await cancel_running(session)
    key = "owner.broadcast.stopped" if cancelled else "owner.broadcast.none_running"
    await reply(session, message, t(key, ids=", ".join(f"#{i}" for i in cancelled)))
