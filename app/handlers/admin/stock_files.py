"""/stockfiles <slug>: file goods. Each document the owner sends becomes one FILE item, which a
buyer receives as that very file (sendDocument by its file_id), until ``/done`` (the totals) or
``/cancel``.

A file is known by its ``file_unique_id``: the same file sent twice is one item (the second is
counted as a duplicate). A photo is refused with a hint: Telegram keeps a compressed copy of a
photo, and a photo's file_id cannot be sent as a document; sent "as a file", it is a document.
"""

from __future__ import annotations

import structlog
from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.uow import read
from app.handlers.admin.common import (
    TEXT_INPUT,
    StockFilesUpload,
    command_args,
    reply,
    reply_error,
)
from app.i18n import Translator
from app.services import products, restock
from app.services.products import ShopInputError
from app.services.stock import SentFile
from app.stock_import import import_files
from app.workers.broadcast import BroadcastManager

log = structlog.get_logger(__name__)


async def _available(session: AsyncSession, product_id: int) -> int:
    async with read(session):
        return (await products.product_rows(session, product_id))[0].available


async def stock_files_command(
    message: Message, state: FSMContext, session: AsyncSession, t: Translator
) -> None:
    slug = command_args(message).split(maxsplit=1)
    if not slug:
        await reply(message, t("owner.stockfiles.usage"))
        return
    try:
        async with read(session):
            product = await products.require_product(session, slug[0])
    except ShopInputError as exc:
        await reply_error(message, t, exc)
        return
    await state.clear()
    await state.set_state(StockFilesUpload.files)
    await state.update_data(product_id=product.id, title=product.title, added=0, duplicates=0)
    await reply(message, t("owner.stockfiles.ask", title=product.title))


async def stock_file(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    t: Translator,
    *,
    broadcasts: BroadcastManager,
) -> None:
    document = message.document
    assert document is not None
    data = await state.get_data()
    product_id, title = int(data["product_id"]), str(data["title"])
    sent = SentFile(document.file_id, document.file_unique_id)
    result = await import_files(session, product_id, [sent])
    if result.restock is not None:
        broadcasts.launch(result.restock.broadcast_id)
    await state.update_data(
        added=int(data.get("added", 0)) + result.added,
        duplicates=int(data.get("duplicates", 0)) + result.duplicates,
    )
    log.info("stock file added", product_id=product_id, added=result.added)  # never the file_id
    if not result.added:
        await reply(message, t("owner.stockfiles.duplicate", title=title))
        return
    text = t("owner.stockfiles.added", title=title, available=await _available(session, product_id))
    if result.restock is not None:
        text += "\n" + restock.owner_line(t, result.restock)
    await reply(message, text)


async def stock_photo(message: Message, t: Translator) -> None:
    await reply(message, t("owner.stockfiles.photo"))


async def stock_files_text(message: Message, t: Translator) -> None:
    await reply(message, t("owner.stockfiles.not_file"))


async def stock_files_done(
    message: Message, state: FSMContext, session: AsyncSession, t: Translator
) -> None:
    data = await state.get_data()
    await state.clear()
    product_id = int(data["product_id"])
    text = t(
        "owner.stockfiles.done",
        title=str(data["title"]),
        added=int(data.get("added", 0)),
        duplicates=int(data.get("duplicates", 0)),
        available=await _available(session, product_id),
    )
    await reply(message, text)


def router() -> Router:
    """This feature's handlers on a new router: each Dispatcher gets its own."""
    feature = Router(name=__name__)
    feature.message.register(stock_files_command, Command("stockfiles"))
    feature.message.register(stock_files_done, StockFilesUpload.files, Command("done"))
    feature.message.register(stock_file, StockFilesUpload.files, F.document)
    feature.message.register(stock_photo, StockFilesUpload.files, F.photo)
    feature.message.register(stock_files_text, StockFilesUpload.files, TEXT_INPUT)
    return feature
