"""Stock: counts per product, uploads through the bot's import service, items masked.

An upload is a .txt file (one item per line) or a .csv file (the first column; a header row is
skipped and reported), parsed, de-duplicated, imported and reported exactly as the bot's
/stock does (:mod:`app.stock_import`). The item list never shows content: a key reads
``ABCD…89`` until the owner reveals that one item (a POST with the CSRF token), and every
reveal is logged with the item's id and the client's address, never the content.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import structlog
from markupsafe import Markup
from sqladmin import BaseView, ModelView, expose
from sqladmin.filters import StaticValuesFilter
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from app.admin_panel.auth import client_address
from app.admin_panel.context import panel
from app.admin_panel.texts import text
from app.db.models import ItemStatus, StockItem
from app.db.uow import read
from app.i18n import translator
from app.services import products, restock, stock
from app.services.stock_items import mask, reveal_item
from app.stock_import import import_items

log = structlog.get_logger(__name__)


def _refusal(exc: ValueError) -> Markup:
    """Why nothing of the upload was added, in the bot's words."""
    if isinstance(exc, stock.UploadTooLargeError):
        return text("owner.stock.too_large", mb=stock.MAX_UPLOAD_BYTES // 2**20)
    if isinstance(exc, stock.MalformedCsvError):
        if exc.too_large:
            kb = stock.MAX_CSV_FIELD // 1024
            return text("owner.stock.csv_field_too_large", line=exc.line, kb=kb)
        return text("owner.stock.csv_malformed", line=exc.line)
    return text("owner.stock.not_text")


async def _import(request: Request, slug: str, upload: UploadFile) -> dict[str, Any]:
    """Parse the whole file first (nothing is added from a bad one), then add its items in
    the import's short transactions, exactly as the bot's /stock does."""
    data = await upload.read(stock.MAX_UPLOAD_BYTES + 1)
    csv_format = stock.is_csv(upload.filename)
    async with panel(request).session_factory() as session:
        async with read(session):  # ended before the parsing
            product = await products.product_by_slug(session, slug)
        if product is None:
            return {"error": text("owner.error.unknown_product", slug=slug[:64])}
        try:
            parsed = await asyncio.to_thread(stock.read_upload, data, csv_format=csv_format)
        except (stock.NotTextError, stock.UploadTooLargeError, stock.MalformedCsvError) as exc:
            return {"error": _refusal(exc)}
        result = await import_items(session, product.id, parsed)
        async with read(session):
            available = (await products.product_rows(session, product.id))[0].available
    log.info(
        "stock imported",
        product_id=product.id,
        added=result.added,
        duplicates=result.duplicates,
        blank=result.blank,
        header_skipped=result.header is not None,
        source="admin panel",
    )
    report = text(
        "owner.stock.result",
        title=product.title,
        added=result.added,
        duplicates=result.duplicates,
        blank=result.blank,
        available=available,
    )
    if result.header is not None:
        report += Markup("<br>") + text("owner.stock.header_skipped", header=result.header)
    if result.restock is not None:  # the bot's broadcast worker sends it
        report += Markup("<br>") + Markup(restock.owner_line(translator("en"), result.restock))  # noqa: S704 (catalog HTML)
    return {"report": report, "result": result, "chosen": slug}


class StockUploadView(BaseView):
    name = "Stock"
    icon = "fa-solid fa-key"
    category = "Stock"

    @expose("/stock", methods=["GET", "POST"], identity="stock")
    async def stock_page(self, request: Request) -> Response:
        context: dict[str, Any] = {}
        if request.method == "POST":
            form = await request.form()
            upload, slug = form.get("file"), form.get("product")
            if not isinstance(upload, UploadFile) or not upload.filename:
                context["error"] = "Choose a .txt or .csv file to upload."
            elif not isinstance(slug, str) or not slug:
                context["error"] = "Choose the product the items are for."
            else:
                context.update(await _import(request, slug, upload))
            context.setdefault("chosen", slug)
        async with panel(request).session_factory() as session:
            context["rows"] = await products.product_rows(session)
        status = 400 if "error" in context else 200
        return await self.templates.TemplateResponse(
            request, "panel/stock.html", context, status_code=status
        )


def _masked(model: Any, _attribute: Any) -> str:
    return mask(model.content)


class StockItemView(ModelView, model=StockItem):
    name = "Stock item"
    name_plural = "Stock items"
    icon = "fa-solid fa-list"
    category = "Stock"
    can_create = False
    can_edit = False
    can_delete = False
    can_export = False
    details_template = "panel/stock_item.html"
    column_list: ClassVar[Any] = [
        StockItem.id,
        StockItem.product_id,
        StockItem.kind,
        StockItem.content,
        StockItem.status,
        StockItem.created_at,
        StockItem.sold_at,
    ]
    column_details_list = column_list
    column_labels: ClassVar[Any] = {StockItem.content: "Item", StockItem.product_id: "Product id"}
    column_formatters: ClassVar[Any] = {StockItem.content: _masked}
    column_formatters_detail: ClassVar[Any] = {StockItem.content: _masked}
    column_sortable_list: ClassVar[Any] = [StockItem.id, StockItem.status, StockItem.created_at]
    column_default_sort: ClassVar[Any] = [(StockItem.id, True)]
    column_filters: ClassVar[Any] = [
        StaticValuesFilter(
            StockItem.status, values=[(s.value, s.value) for s in ItemStatus], title="Status"
        )
    ]

    @expose("/reveal/{pk:int}", methods=["POST"])
    async def reveal(self, request: Request) -> Response:
        item_id = int(request.path_params["pk"])
        async with panel(request).session_factory() as session:
            item = await reveal_item(session, item_id)
        if item is None:
            raise HTTPException(status_code=404)
        log.warning(
            "stock item revealed",
            item_id=item.item_id,
            product_id=item.product_id,
            status=item.status,
            client=client_address(request),
        )
        response = await self.templates.TemplateResponse(
            request, "panel/revealed.html", {"item": item, "model_view": self}
        )
        response.headers["Cache-Control"] = "no-store"
        return response
