"""Orders: search by user id, charge id or product, filter by status, refund a paid order.

The Refund button opens a confirmation page; confirming posts (with the CSRF token) to the
panel's refund adapter (:mod:`app.admin_panel.refunds`), which calls the same service as the
bot's /refund. An order is never refunded twice.
"""

from __future__ import annotations

from typing import Any, ClassVar

import structlog
from sqladmin import ModelView, expose
from sqladmin.filters import StaticValuesFilter
from sqlalchemy import Select, or_, select
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from app.admin_panel.auth import client_address
from app.admin_panel.context import panel
from app.admin_panel.refunds import refund_charge
from app.db.models import Order, OrderStatus, Product

log = structlog.get_logger(__name__)

REFUNDABLE = (OrderStatus.PAID.value, OrderStatus.DELIVERED.value, OrderStatus.REFUND_DUE.value)


def refundable(order: Order) -> bool:
    return order.status in REFUNDABLE and bool(order.telegram_payment_charge_id)


def _product(model: Any, _attribute: Any) -> str:
    return model.product.slug if model.product is not None else "—"


class OrderView(ModelView, model=Order):
    name = "Order"
    name_plural = "Orders"
    icon = "fa-solid fa-receipt"
    can_create = False
    can_edit = False
    can_delete = False
    can_export = False
    details_template = "panel/order.html"
    page_size = 25
    column_list: ClassVar[Any] = [
        Order.id,
        Order.user_id,
        Order.product,
        Order.amount,
        Order.status,
        Order.telegram_payment_charge_id,
        Order.paid_at,
        Order.created_at,
    ]
    column_details_list: ClassVar[Any] = [
        Order.id,
        Order.user_id,
        Order.product,
        Order.amount,
        Order.currency,
        Order.status,
        Order.telegram_payment_charge_id,
        Order.created_at,
        Order.paid_at,
        Order.delivered_at,
        Order.refunded_at,
    ]
    column_labels: ClassVar[Any] = {
        Order.telegram_payment_charge_id: "Charge id",
        Order.amount: "Stars",
        Order.user_id: "User id",
    }
    column_formatters: ClassVar[Any] = {Order.product: _product}
    column_formatters_detail: ClassVar[Any] = {Order.product: _product}
    column_searchable_list: ClassVar[Any] = [Order.telegram_payment_charge_id]
    column_sortable_list: ClassVar[Any] = [Order.id, Order.amount, Order.paid_at, Order.status]
    column_default_sort: ClassVar[Any] = [(Order.id, True)]
    column_filters: ClassVar[Any] = [
        StaticValuesFilter(
            Order.status, values=[(s.value, s.value) for s in OrderStatus], title="Status"
        )
    ]

    def search_placeholder(self) -> str:
        return "User id, charge id or product"

    def search_query(self, stmt: Select[Any], term: str) -> Select[Any]:
        """A user id or order id (digits), a charge id (exact), or a product's slug or title."""
        term = term.strip()
        product_ids = select(Product.id).where(
            or_(Product.slug.ilike(f"%{term}%"), Product.title.ilike(f"%{term}%"))
        )
        matches = [Order.telegram_payment_charge_id == term, Order.product_id.in_(product_ids)]
        if term.isdigit() and len(term) <= 19:
            matches += [Order.user_id == int(term), Order.id == int(term)]
        return stmt.where(or_(*matches))

    async def _order(self, request: Request) -> Order:
        async with panel(request).session_factory() as session:
            order = await session.get(Order, int(request.path_params["pk"]))
            if order is None:
                raise HTTPException(status_code=404)
            await session.refresh(order, ["product"])
        return order

    @expose("/refund/{pk:int}", methods=["GET", "POST"])
    async def refund(self, request: Request) -> Response:
        order = await self._order(request)
        context: dict[str, Any] = {"order": order, "model_view": self, "refundable": False}
        if request.method == "GET":
            context["refundable"] = refundable(order)
            return await self.templates.TemplateResponse(request, "panel/refund.html", context)
        if not order.telegram_payment_charge_id:
            raise HTTPException(status_code=400, detail="This order was never paid.")
        log.info("refund requested in the admin panel", order_id=order.id,
                 client=client_address(request))  # fmt: skip
        context["report"] = await refund_charge(panel(request), order.telegram_payment_charge_id)
        context["order"] = await self._order(request)
        status = 200 if context["report"].ok else 502
        return await self.templates.TemplateResponse(
            request, "panel/refund.html", context, status_code=status
        )
