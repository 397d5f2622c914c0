"""/stock <slug>: add items to a product, pasted one per line or sent as a .txt/.csv file.

The items may follow in the same message (on the lines after the command, or as the document
the command is the caption of), or in the next message.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import structlog
from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import Document, Message
from sqlalchemy.ext.asyncio import AsyncSession

from app.handlers.admin.common import TEXT_INPUT, StockUpload, command_args, reply, reply_error
from app.i18n import Translator
from app.services import products as catalog
from app.services import stock
from app.services.products import ShopInputError
from app.services.tx import begin_write

router = Router(name=__name__)
log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Target:
    """The product the items are for."""

    product_id: int
    title: str


async def _import(
    message: Message,
    session: AsyncSession,
    t: Translator,
    target: Target,
    upload: str | bytes,
    *,
    csv_format: bool = False,
) -> None:
    await begin_write(session)
    try:
        if isinstance(upload, bytes):
            result = await stock.import_bytes(
                session, target.product_id, upload, csv_format=csv_format
            )
        else:
            result = await stock.import_text(session, target.product_id, upload)
    except stock.NotTextError:
        await session.rollback()
        key = "owner.stock.not_text" if isinstance(upload, bytes) else "owner.stock.control_chars"
        await message.answer(t(key))
        return
    except stock.UploadTooLargeError:
        await session.rollback()
        await message.answer(t("owner.stock.too_large", mb=stock.MAX_UPLOAD_BYTES // 2**20))
        return
    await session.commit()
    available = (await catalog.product_rows(session, target.product_id))[0].available
    log.info(
        "stock imported",
        product_id=target.product_id,
        added=result.added,
        duplicates=result.duplicates,
        blank=result.blank,
    )
    text = t(
        "owner.stock.result",
        title=target.title,
        added=result.added,
        duplicates=result.duplicates,
        blank=result.blank,
        available=available,
    )
    await reply(session, message, text)


async def _download(bot: Bot, document: Document) -> bytes | None:
    """The file's bytes; None when Telegram would not give them."""
    buffer = io.BytesIO()
    try:
        await bot.download(document, destination=buffer)
    except TelegramAPIError as exc:
        log.warning("stock file download failed", error=exc.message)
        return None
    return buffer.getvalue()


async def _import_document(
    message: Message,
    bot: Bot,
    session: AsyncSession,
    t: Translator,
    target: Target,
) -> None:
    document = message.document
    assert document is not None
    await session.commit()  # no transaction across the download
    if (document.file_size or 0) > stock.MAX_UPLOAD_BYTES:
        await message.answer(t("owner.stock.too_large", mb=stock.MAX_UPLOAD_BYTES // 2**20))
        return
    data = await _download(bot, document)
    if data is None:
        await message.answer(t("owner.stock.download_failed"))
        return
    csv_format = stock.is_csv(document.file_name)
    await _import(message, session, t, target, data, csv_format=csv_format)


@router.message(Command("stock"))
async def stock_command(
    message: Message, bot: Bot, state: FSMContext, session: AsyncSession, t: Translator
) -> None:
    first_line, _, more = command_args(message).partition("\n")
    words = first_line.split(maxsplit=1)
    if not words:
        await reply(session, message, t("owner.stock.usage"))
        return
    pasted = f"{words[1]}\n{more}" if len(words) > 1 else more  # items may start on line one
    try:
        product = await catalog.require_product(session, words[0])
    except ShopInputError as exc:
        await reply_error(session, message, t, exc)
        return
    await state.clear()
    target = Target(product.id, product.title)
    if message.document is not None:
        await _import_document(message, bot, session, t, target)
    elif pasted.strip():
        await _import(message, session, t, target, pasted)
    else:
        await state.set_state(StockUpload.items)
        await state.update_data(product_id=product.id, title=product.title)
        await reply(session, message, t("owner.stock.ask", title=product.title))


@router.message(StockUpload.items, F.document)
async def stock_document(
    message: Message, bot: Bot, state: FSMContext, session: AsyncSession, t: Translator
) -> None:
    data = await state.get_data()
    await state.clear()
    target = Target(int(data["product_id"]), str(data["title"]))
    await _import_document(message, bot, session, t, target)


@router.message(StockUpload.items, TEXT_INPUT)
async def stock_text(
    message: Message, state: FSMContext, session: AsyncSession, t: Translator
) -> None:
    data = await state.get_data()
    await state.clear()
    target = Target(int(data["product_id"]), str(data["title"]))
    await _import(message, session, t, target, message.text or "")
