"""The digital market's tables, one module per domain; importing this package registers every
table on :data:`app.db.base.Base.metadata` (Alembic's ``env.py`` compares them all), and the
project imports every model and enum from here.

Money is an integer number of Telegram Stars. Every timestamp is aware UTC.
A stock item is one unique digital good (a key, a code, a file) and is sold at most once
(:mod:`~app.db.models.catalog`). An order is created when a buyer reserves: it holds every
unit of its lines (``order_lines``: product, quantity, unit price), each unit a stock item
whose ``order_id`` names the order (:mod:`~app.db.models.orders`). Every payment Telegram
reports is first written to the append-only ``payments`` ledger (with a ``pending_payments``
marker in the same transaction); settling it then either sells the order an item (``paid``,
then ``delivered`` once the goods were sent) or opens a refund (``refunds``, due until
Telegram confirms it; :mod:`~app.db.models.payments`).
"""

from app.db.models.broadcasts import Broadcast, BroadcastKind, BroadcastStatus
from app.db.models.carts import CartLine
from app.db.models.catalog import (
    UNMODELLED_INDEXES,
    Category,
    ItemKind,
    ItemStatus,
    Product,
    StockItem,
)
from app.db.models.orders import Order, OrderLine, OrderStatus
from app.db.models.payments import (
    Payment,
    PaymentSource,
    PendingPayment,
    Refund,
    RefundReason,
    RefundStatus,
    WorkerLease,
)
from app.db.models.promo import PromoCode, PromoKind, PromoRedemption, PromoScope, RedemptionStatus
from app.db.models.referrals import Referral, ReferralLink, ReferralReward, ReferralTerms
from app.db.models.restock import RestockWatch
from app.db.models.reviews import Review
from app.db.models.users import User

__all__ = [
    "UNMODELLED_INDEXES",
    "Broadcast",
    "BroadcastKind",
    "BroadcastStatus",
    "CartLine",
    "Category",
    "ItemKind",
    "ItemStatus",
    "Order",
    "OrderLine",
    "OrderStatus",
    "Payment",
    "PaymentSource",
    "PendingPayment",
    "Product",
    "PromoCode",
    "PromoKind",
    "PromoRedemption",
    "PromoScope",
    "RedemptionStatus",
    "Referral",
    "ReferralLink",
    "ReferralReward",
    "ReferralTerms",
    "Refund",
    "RefundReason",
    "RefundStatus",
    "RestockWatch",
    "Review",
    "StockItem",
    "User",
    "WorkerLease",
]
