"""The panel's views, one module per part of the shop."""

from __future__ import annotations

from sqladmin import Admin

from app.admin_panel.views.broadcasts import BroadcastView, NewBroadcastView
from app.admin_panel.views.catalog import CategoryView, ProductView
from app.admin_panel.views.orders import OrderView
from app.admin_panel.views.payments import PaymentView, RefundView
from app.admin_panel.views.promo import PromoView
from app.admin_panel.views.stock import StockItemView, StockUploadView
from app.admin_panel.views.users import UserView


def add_views(admin: Admin) -> None:
    views = (
        ProductView,
        CategoryView,
        StockUploadView,
        StockItemView,
        OrderView,
        PaymentView,
        RefundView,
        UserView,
        PromoView,
        BroadcastView,
        NewBroadcastView,
    )
    for view in views:
        admin.add_view(view)
