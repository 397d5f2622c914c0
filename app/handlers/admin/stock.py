"""/stock <slug>: add items to a product, pasted one per line or sent as a .txt/.csv file.

The items may follow in the same message (on the lines after the command, or as the document
the command is the caption of). Otherwise ``/stock <slug>`` opens a dialog that takes any
number of messages and files, each imported as it arrives, until ``/done`` (or ``/cancel``):
Telegram splits a long paste into several messages, which arrive together, and the owner's
updates are handled one at a time (the Dispatcher's event isolation), so every part lands in
the dialog. Every upload gets an answer: its counts, or why nothing was added (not text, too
large, a malformed CSV file, a download that failed); ``/done`` gives the dialog's totals.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import aiohttp
import structlog
from aiogram import Bot, F, Router
from aiogram.exceptions import ClientDecodeError, TelegramAPIError
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import Document, Message
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.uow import read
from app.handlers.admin.common import TEXT_INPUT, StockUpload, command_args, reply, reply_error
from app.i18n import Translator
from app.services import products, restock, stock
from app.services.products import ShopInputError
from app.services.stock import ImportResult
from app.stock_import import import_items
from app.workers.broadcast import BroadcastManager

log = structlog.get_logger(__name__)

DOWNLOAD_TIMEOUT = 60  # seconds for a file of up to MAX_UPLOAD_BYTES


@dataclass(frozen=True)
class Target:
    """The product the items are for."""

    product_id: int
    title: str


def _refusal(t: Translator, exc: ValueError, *, pasted: bool) -> str:
    """Why nothing of this upload was added."""
    if isinstance(exc, stock.UploadTooLargeError):
        return t("owner.stock.too_large", mb=stock.MAX_UPLOAD_BYTES // 2**20)
    if isinstance(exc, stock.MalformedCsvError):
        if exc.too_large:
            return t(
                "owner.stock.csv_field_too_large", line=exc.line, kb=stock.MAX_CSV_FIELD // 1024
            )
        return t("owner.stock.csv_malformed", line=exc.line)
    return t("owner.stock.control_chars" if pasted else "owner.stock.not_text")


async def _import(
    message: Message,
    session: AsyncSession,
    t: Translator,
    target: Target,
    upload: str | bytes,
    *,
    broadcasts: BroadcastManager,
    csv_format: bool = False,
    in_dialog: bool = False,
) -> ImportResult | None:
    """Import one upload and answer with its counts; None (and why) when nothing was added.

    No transaction is open while a large file is parsed; the items go in the import's own
    short transactions. A restock alert the import enqueued starts sending at once."""
    try:
        parsed = stock.read_upload(upload, csv_format=csv_format)
    except (stock.NotTextError, stock.UploadTooLargeError, stock.MalformedCsvError) as exc:
        await message.answer(_refusal(t, exc, pasted=isinstance(upload, str)))
        return None
    result = await import_items(session, target.product_id, parsed)
    if result.restock is not None:
        broadcasts.launch(result.restock.broadcast_id)
    available = await _available(session, target)
    log.info(
        "stock imported",
        product_id=target.product_id,
        added=result.added,
        duplicates=result.duplicates,
        blank=result.blank,
        header_skipped=result.header is not None,
    )
    text = t(
        "owner.stock.result",
        title=target.title,
        added=result.added,
        duplicates=result.duplicates,
        blank=result.blank,
        available=available,
    )
    if result.header is not None:
        text += "\n" + t("owner.stock.header_skipped", header=result.header)
    if result.restock is not None:
        text += "\n" + restock.owner_line(t, result.restock)
    if in_dialog:
        text += "\n" + t("owner.stock.more")
    await reply(message, text)
    return result


async def _available(session: AsyncSession, target: Target) -> int:
    async with read(session):
        return (await products.product_rows(session, target.product_id))[0].available


async def _download(bot: Bot, document: Document) -> bytes | None:
    """The file's bytes; None when Telegram would not give them (getFile or the download
    failed, answered something that is not the Bot API's JSON, or timed out)."""
    buffer = io.BytesIO()
    try:
        await bot.download(document, destination=buffer, timeout=DOWNLOAD_TIMEOUT)
    except TelegramAPIError as exc:
        log.warning("stock file download failed", error=exc.message)
        return None
    except aiohttp.ClientResponseError as exc:  # the file URL answered an HTTP error
        log.warning("stock file download failed", status=exc.status, error=exc.message)
        return None
    except (ClientDecodeError, aiohttp.ClientError, TimeoutError) as exc:
        log.warning("stock file download failed", error=type(exc).__name__)
        return None
    return buffer.getvalue()


async def _import_document(
    message: Message,
    bot: Bot,
    session: AsyncSession,
    t: Translator,
    target: Target,
    *,
    broadcasts: BroadcastManager,
    in_dialog: bool = False,
) -> ImportResult | None:
    document = message.document
    assert document is not None
    if (document.file_size or 0) > stock.MAX_UPLOAD_BYTES:
        await message.answer(t("owner.stock.too_large", mb=stock.MAX_UPLOAD_BYTES // 2**20))
        return None
    data = await _download(bot, document)
    if data is None:
        await message.answer(t("owner.stock.download_failed"))
        return None
    csv_format = stock.is_csv(document.file_name)
    return await _import(
        message,
        session,
        t,
        target,
        data,
        broadcasts=broadcasts,
        csv_format=csv_format,
        in_dialog=in_dialog,
    )


async def stock_command(
    message: Message,
    bot: Bot,
    state: FSMContext,
    session: AsyncSession,
    t: Translator,
    *,
    broadcasts: BroadcastManager,
) -> None:
    first_line, _, more = command_args(message).partition("\n")
    words = first_line.split(maxsplit=1)
    if not words:
        await reply(message, t("owner.stock.usage"))
        return
    pasted = f"{words[1]}\n{more}" if len(words) > 1 else more  # items may start on line one
    try:
        async with read(session):  # ended before the download, the parsing and the import
            product = await products.require_product(session, words[0])
    except ShopInputError as exc:
        await reply_error(message, t, exc)
        return
    await state.clear()
    target = Target(product.id, product.title)
    if message.document is not None:
        await _import_document(message, bot, session, t, target, broadcasts=broadcasts)
    elif pasted.strip():
        await _import(message, session, t, target, pasted, broadcasts=broadcasts)
    else:
        await state.set_state(StockUpload.items)
        await state.update_data(product_id=product.id, title=product.title)
        await reply(message, t("owner.stock.ask", title=product.title))


def _dialog_target(data: dict[str, object]) -> Target:
    return Target(int(str(data["product_id"])), str(data["title"]))


async def _tally(state: FSMContext, result: ImportResult | None) -> None:
    """Add one upload's counts to the dialog's totals (kept in the FSM data)."""
    if result is None:
        return
    data = await state.get_data()
    await state.update_data(
        added=int(data.get("added", 0)) + result.added,
        duplicates=int(data.get("duplicates", 0)) + result.duplicates,
        uploads=int(data.get("uploads", 0)) + 1,
    )


async def stock_document(
    message: Message,
    bot: Bot,
    state: FSMContext,
    session: AsyncSession,
    t: Translator,
    *,
    broadcasts: BroadcastManager,
) -> None:
    target = _dialog_target(await state.get_data())
    result = await _import_document(
        message, bot, session, t, target, broadcasts=broadcasts, in_dialog=True
    )
    await _tally(state, result)


async def stock_text(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    t: Translator,
    *,
    broadcasts: BroadcastManager,
) -> None:
    target = _dialog_target(await state.get_data())
    text = message.text or ""
    result = await _import(message, session, t, target, text, broadcasts=broadcasts, in_dialog=True)
    await _tally(state, result)


async def stock_done(
    message: Message, state: FSMContext, session: AsyncSession, t: Translator
) -> None:
    data = await state.get_data()
    await state.clear()
    target = _dialog_target(data)
    text = t(
        "owner.stock.done",
        title=target.title,
        uploads=int(data.get("uploads", 0)),
        added=int(data.get("added", 0)),
        duplicates=int(data.get("duplicates", 0)),
        available=await _available(session, target),
    )
    await reply(message, text)


def router() -> Router:
    """This feature's handlers on a new router: each Dispatcher gets its own."""
    feature = Router(name=__name__)
    feature.message.register(stock_command, Command("stock"))
    feature.message.register(stock_document, StockUpload.items, F.document)
    feature.message.register(stock_text, StockUpload.items, TEXT_INPUT)
    feature.message.register(stock_done, StockUpload.items, Command("done"))
    return feature
