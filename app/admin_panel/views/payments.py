"""The payments ledger and the refunds kept against it, as Telegram reported them.

Both lists are read-only. Any payment in the ledger can be refunded from its page (a payment
that matched no order too): a confirmation, then the panel's refund adapter
(:mod:`app.admin_panel.refunds`), as for an order.
"""

from __future__ import annotations

from typing import Any, ClassVar

import structlog
from sqladmin import ModelView, expose
from sqlalchemy import ColumnElement, Select, or_, select
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from app.admin_panel.auth import client_address
from app.admin_panel.context import panel
from app.admin_panel.refunds import refund_charge
from app.db.models import Payment, Refund, RefundStatus

log = structlog.get_logger(__name__)


class PaymentView(ModelView, model=Payment):
    name = "Payment"
    name_plural = "Payments"
    icon = "fa-solid fa-star"
    category = "Money"
    can_create = False
    can_edit = False
    can_delete = False
    can_export = False
    details_template = "panel/payment.html"
    page_size = 25
    column_list: ClassVar[Any] = [
        Payment.id,
        Payment.charge_id,
        Payment.user_id,
        Payment.amount,
        Payment.currency,
        Payment.paid_at,
        Payment.source,
    ]
    column_details_list: ClassVar[Any] = [*column_list, Payment.payload, Payment.recorded_at]
    column_labels: ClassVar[Any] = {Payment.charge_id: "Charge id", Payment.user_id: "User id"}
    column_searchable_list: ClassVar[Any] = [Payment.charge_id]
    column_sortable_list: ClassVar[Any] = [Payment.id, Payment.amount, Payment.paid_at]
    column_default_sort: ClassVar[Any] = [(Payment.id, True)]

    def search_placeholder(self) -> str:
        return "Charge id or user id"

    def search_query(self, stmt: Select[Any], term: str) -> Select[Any]:
        term = term.strip()
        matches: list[ColumnElement[bool]] = [Payment.charge_id == term]
        if term.isdigit() and len(term) <= 19:
            matches.append(Payment.user_id == int(term))
        return stmt.where(or_(*matches))

    async def _payment(self, request: Request) -> tuple[Payment, Refund | None]:
        async with panel(request).session_factory() as session:
            payment = await session.get(Payment, int(request.path_params["pk"]))
            if payment is None:
                raise HTTPException(status_code=404)
            refund = await session.scalar(
                select(Refund).where(Refund.charge_id == payment.charge_id)
            )
        return payment, refund

    @expose("/refund/{pk:int}", methods=["GET", "POST"])
    async def refund(self, request: Request) -> Response:
        payment, refund = await self._payment(request)
        done = refund is not None and refund.status == RefundStatus.REFUNDED.value
        context: dict[str, Any] = {"payment": payment, "refund": refund, "refundable": not done}
        if request.method == "POST":
            log.info("refund requested in the admin panel", payment_id=payment.id,
                     client=client_address(request))  # fmt: skip
            context["report"] = await refund_charge(panel(request), payment.charge_id)
            context["payment"], context["refund"] = await self._payment(request)
            context["refundable"] = False
        status = 502 if "report" in context and not context["report"].ok else 200
        return await self.templates.TemplateResponse(
            request, "panel/payment_refund.html", context, status_code=status
        )


class RefundView(ModelView, model=Refund):
    name = "Refund"
    name_plural = "Refunds"
    icon = "fa-solid fa-rotate-left"
    category = "Money"
    can_create = False
    can_edit = False
    can_delete = False
    can_export = False
    page_size = 25
    column_list: ClassVar[Any] = [
        Refund.id,
        Refund.charge_id,
        Refund.order_id,
        Refund.user_id,
        Refund.amount,
        Refund.reason,
        Refund.status,
        Refund.attempts,
        Refund.last_error,
        Refund.refunded_at,
    ]
    column_labels: ClassVar[Any] = {Refund.charge_id: "Charge id", Refund.user_id: "User id"}
    column_searchable_list: ClassVar[Any] = [Refund.charge_id]
    column_default_sort: ClassVar[Any] = [(Refund.id, True)]
