"""/export orders [since=YYYY-MM-DD] [until=YYYY-MM-DD] (a CSV of the orders, without delivered
content) and /export stock <slug> (the product's unsold items as a text file, one per line, as
/stock reads them back).

The orders are read a page at a time, each page in a short read block, and written to
temporary files as they come, a new numbered part (each a whole CSV with its header) before
one would pass Telegram's upload limit; the parts are sent once every page is read. The stock
export is read in one short read block, ended before the upload, and logged with the owner
and the product, never with the content.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import structlog
from aiogram import Router
from aiogram.filters import Command
from aiogram.types import BufferedInputFile, FSInputFile, Message
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import utcnow
from app.db.uow import read
from app.handlers.admin.common import command_args, input_error, reply
from app.i18n import Translator
from app.services.exports import (
    ORDER_COLUMNS,
    PAGE,
    CsvParts,
    OrderSpan,
    orders_page,
    parse_span,
    unsold_stock,
)
from app.services.products import ShopInputError, require_product

log = structlog.get_logger(__name__)

UPLOAD_LIMIT = 50 * 1024 * 1024  # bytes: the largest file a bot may upload


async def _send(message: Message, t: Translator, content: bytes, name: str, caption: str) -> None:
    if len(content) > UPLOAD_LIMIT:
        await message.answer(t("owner.export.too_large", mb=UPLOAD_LIMIT // 2**20))
        return
    await message.answer_document(BufferedInputFile(content, filename=name), caption=caption)


async def _write_orders(
    session: AsyncSession, span: OrderSpan, folder: Path, stem: str
) -> tuple[list[Path], int]:
    """Every order of ``span`` into CSV parts in ``folder``; the parts and the count."""
    parts = CsvParts(folder, stem, ORDER_COLUMNS, UPLOAD_LIMIT)
    after, count = None, 0
    while True:
        async with read(session):  # a short read per page, ended before the next
            rows, after = await orders_page(session, span, after)
        await asyncio.to_thread(parts.write, rows)
        count += len(rows)
        if len(rows) < PAGE:
            return await asyncio.to_thread(parts.close), count


async def _export_orders(
    message: Message, session: AsyncSession, t: Translator, options: list[str]
) -> None:
    try:
        span = parse_span(options)
    except ShopInputError as exc:
        await reply(message, input_error(t, exc) + "\n" + t("owner.export.usage"))
        return
    stem = f"orders-{utcnow():%Y%m%d-%H%M}"
    with tempfile.TemporaryDirectory(prefix="export-") as folder:
        paths, count = await _write_orders(session, span, Path(folder), stem)
        caption = t("owner.export.orders", n=count)
        for number, path in enumerate(paths, 1):
            if len(paths) == 1:
                document, text = FSInputFile(path, filename=f"{stem}.csv"), caption
            else:
                part = t("owner.export.part", part=number, parts=len(paths))
                document, text = FSInputFile(path, filename=path.name), f"{caption} {part}"
            await message.answer_document(document, caption=text)


async def _export_stock(message: Message, session: AsyncSession, t: Translator, slug: str) -> None:
    try:
        async with read(session):
            product = await require_product(session, slug)
            export = await unsold_stock(session, product.id)
    except ShopInputError as exc:
        await reply(message, input_error(t, exc))
        return
    owner = message.from_user.id if message.from_user else None
    log.info(
        "stock exported",
        owner_id=owner,
        product_slug=product.slug,
        items=export.items,
        files=export.files,
    )
    files = "\n" + t("owner.export.stock_files", n=export.files) if export.files else ""
    if not export.items:
        await message.answer(t("owner.export.stock_empty", slug=product.slug) + files)
        return
    caption = t("owner.export.stock", n=export.items, slug=product.slug) + files
    await _send(message, t, export.content, f"{product.slug}-stock.txt", caption)


async def export_command(message: Message, session: AsyncSession, t: Translator) -> None:
    args = command_args(message).split()
    if args[:1] == ["orders"]:
        await _export_orders(message, session, t, args[1:])
    elif len(args) == 2 and args[0] == "stock":
        await _export_stock(message, session, t, args[1])
    else:
        await reply(message, t("owner.export.usage"))


def router() -> Router:
    """This feature's handlers on a new router: each Dispatcher gets its own."""
    feature = Router(name=__name__)
    feature.message.register(export_command, Command("export"))
    return feature
