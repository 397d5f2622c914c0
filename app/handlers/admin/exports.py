"""/export orders (a CSV of every order, without delivered content) and /export stock <slug>
(the product's unsold items as a text file, one per line, as /stock reads them back).

Each export is read in one short read transaction, ended before the upload. A stock export is
logged with the owner and the product, never with the content.
"""

from __future__ import annotations

import structlog
from aiogram import Router
from aiogram.filters import Command
from aiogram.types import BufferedInputFile, Message
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import utcnow
from app.db.uow import read
from app.handlers.admin.common import command_args, input_error, reply
from app.i18n import Translator
from app.services.exports import orders_csv, unsold_stock
from app.services.products import ShopInputError, require_product

log = structlog.get_logger(__name__)

UPLOAD_LIMIT = 50 * 1024 * 1024  # bytes: the largest file a bot may upload


async def _send(message: Message, t: Translator, content: bytes, name: str, caption: str) -> None:
    if len(content) > UPLOAD_LIMIT:
        await message.answer(t("owner.export.too_large", mb=UPLOAD_LIMIT // 2**20))
        return
    await message.answer_document(BufferedInputFile(content, filename=name), caption=caption)


async def _export_orders(message: Message, session: AsyncSession, t: Translator) -> None:
    async with read(session):  # ended before the upload
        content, count = await orders_csv(session)
    name = f"orders-{utcnow():%Y%m%d-%H%M}.csv"
    await _send(message, t, content, name, t("owner.export.orders", n=count))


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
    if args == ["orders"]:
        await _export_orders(message, session, t)
    elif len(args) == 2 and args[0] == "stock":
        await _export_stock(message, session, t, args[1])
    else:
        await reply(message, t("owner.export.usage"))


def router() -> Router:
    """This feature's handlers on a new router: each Dispatcher gets its own."""
    feature = Router(name=__name__)
    feature.message.register(export_command, Command("export"))
    return feature
