"""The digital market's tables.

Money is an integer number of Telegram Stars. Every timestamp is aware UTC.
A stock item is one unique digital good (a key, a code, a file) and is sold at most once.
An order is created when a buyer reserves: it holds every unit of its lines
(``order_lines``: product, quantity, unit price), each unit a stock item whose ``order_id``
names the order. Every payment Telegram reports is first
written to the append-only ``payments`` ledger (with a ``pending_payments`` marker in the same
transaction); settling it then either sells the order an item (``paid``, then ``delivered``
once the goods were sent) or opens a refund (``refunds``, due until Telegram confirms it).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db.base import Base, TimestampMixin, utcnow


class ItemKind(enum.StrEnum):
    TEXT = "text"  # a key or code, delivered as a message
    FILE = "file"  # a Telegram file_id, delivered as a document


class ItemStatus(enum.StrEnum):
    AVAILABLE = "available"
    RESERVED = "reserved"
    SOLD = "sold"


class BroadcastStatus(enum.StrEnum):
    RUNNING = "running"
    DONE = "done"
    CANCELLED = "cancelled"


class BroadcastKind(enum.StrEnum):
    ALL = "all"  # every user who has not blocked the bot (/broadcast, the panel)
    RESTOCK = "restock"  # the watchers of one product that is back in stock


class OrderStatus(enum.StrEnum):
    PENDING = "pending"  # an item is reserved and an invoice was sent
    EXPIRED = "expired"  # the reservation ran out before any payment
    PAID = "paid"  # paid and the item is the buyer's; the goods are not sent yet
    DELIVERED = "delivered"  # paid, and the item was handed over
    REFUND_DUE = "refund_due"  # paid, but nothing was left to deliver: the owner must refund
    REFUNDED = "refunded"


class PromoKind(enum.StrEnum):
    PERCENT = "percent"  # value: 1..100 percent off the lines in scope
    FIXED = "fixed"  # value: Stars off the lines in scope


class PromoScope(enum.StrEnum):
    SHOP = "shop"
    CATEGORY = "category"
    PRODUCT = "product"


class RedemptionStatus(enum.StrEnum):
    HELD = "held"  # applied to a pending order; counts while the order waits for its payment
    USED = "used"  # the order was paid
    RELEASED = "released"  # given back: the payment was refunded, or the code was dropped


class PaymentSource(enum.StrEnum):
    UPDATE = "update"  # the successful_payment update
    RECONCILIATION = "reconciliation"  # found in getStarTransactions, its update never handled


class RefundStatus(enum.StrEnum):
    DUE = "due"
    REFUNDED = "refunded"


class RefundReason(enum.StrEnum):
    SOLD_OUT = "sold_out"  # paid, but nothing was left to sell
    UNMATCHED = "unmatched"  # the payload matches no order
    OWNER = "owner"  # /refund
    EXTERNAL = "external"  # refunded outside this bot (seen in Telegram's ledger)
    UNDELIVERABLE = "undeliverable"  # sold, but Telegram refused its goods past the deadline


# Indexes that revisions build but the models do not declare: expression indexes on PostgreSQL
# only (search's full-text GIN index, app/services/search.py), which autogenerate can compare
# on no other backend. The migrations' model comparison leaves them out.
UNMODELLED_INDEXES = frozenset({"ix_products_search"})


def _values(enum_cls: type[enum.StrEnum]) -> str:
    return ", ".join(f"'{member.value}'" for member in enum_cls)


class User(TimestampMixin, Base):
    __tablename__ = "users"
    __table_args__ = (
        # The bot reloads the banned ids every few seconds: a read as short as the ban list.
        Index(
            "ix_users_banned",
            "id",
            postgresql_where=text("banned_at IS NOT NULL"),
            sqlite_where=text("banned_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    username: Mapped[str | None] = mapped_column(String(64))
    first_name: Mapped[str] = mapped_column(String(128), default="", server_default="")
    language_code: Mapped[str | None] = mapped_column(String(16))
    is_blocked: Mapped[bool] = mapped_column(default=False, server_default=false())
    last_seen_at: Mapped[datetime] = mapped_column(
        default=utcnow, server_default=text("CURRENT_TIMESTAMP")
    )
    banned_at: Mapped[datetime | None] = mapped_column(
        comment="set by the owner: the bot ignores this user's updates (payments excepted)"
    )


class Category(TimestampMixin, Base):
    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(64), unique=True)
    position: Mapped[int] = mapped_column(default=0, server_default="0")

    products: Mapped[list[Product]] = relationship(back_populates="category")


class Product(TimestampMixin, Base):
    __tablename__ = "products"
    # Also ix_products_search (PostgreSQL only, see UNMODELLED_INDEXES).
    __table_args__ = (CheckConstraint("price > 0", name="price_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    price: Mapped[int] = mapped_column(comment="price in Telegram Stars (XTR)")
    category_id: Mapped[int | None] = mapped_column(
        ForeignKey("categories.id", ondelete="SET NULL"), index=True
    )
    is_active: Mapped[bool] = mapped_column(default=True, server_default=true())
    low_stock_threshold: Mapped[int] = mapped_column(default=3, server_default="3")
    rating_count: Mapped[int] = mapped_column(
        default=0, server_default="0", comment="visible reviews (kept with them, for the card)"
    )
    rating_sum: Mapped[int] = mapped_column(
        default=0, server_default="0", comment="sum of the visible reviews' ratings"
    )

    category: Mapped[Category | None] = relationship(back_populates="products")


class StockItem(TimestampMixin, Base):
    __tablename__ = "stock_items"
    __table_args__ = (
        UniqueConstraint("product_id", "fingerprint"),
        CheckConstraint(f"kind IN ({_values(ItemKind)})", name="kind_known"),
        CheckConstraint(f"status IN ({_values(ItemStatus)})", name="status_known"),
        Index("ix_stock_items_product_id_status", "product_id", "status"),
        # The buyer's walks (app/services/availability.py): claimable items in claim order.
        Index(
            "ix_stock_items_available",
            "product_id",
            "id",
            postgresql_where=text("status = 'available'"),
            sqlite_where=text("status = 'available'"),
        ),
        Index(
            "ix_stock_items_reserved",
            "product_id",
            "reserved_until",
            postgresql_where=text("status = 'reserved'"),
            sqlite_where=text("status = 'reserved'"),
        ),
        # The units an order holds or bought (pre-checkout, settlement, delivery).
        Index(
            "ix_stock_items_order_id",
            "order_id",
            postgresql_where=text("order_id IS NOT NULL"),
            sqlite_where=text("order_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="RESTRICT"))
    # use_alter: orders.stock_item_id points the other way (the first unit, kept for the
    # releases that read it); the cycle is resolved by adding this key after both tables.
    order_id: Mapped[int | None] = mapped_column(
        ForeignKey("orders.id", ondelete="RESTRICT", use_alter=True),
        comment="the order that holds (reserved) or bought (sold) this item",
    )
    kind: Mapped[str] = mapped_column(String(8), default=ItemKind.TEXT)
    content: Mapped[str] = mapped_column(Text, comment="the key or code, or a Telegram file_id")
    fingerprint: Mapped[str] = mapped_column(String(64), comment="sha256 of content")
    status: Mapped[str] = mapped_column(String(16), default=ItemStatus.AVAILABLE)
    reserved_until: Mapped[datetime | None]
    sold_at: Mapped[datetime | None]


class Order(TimestampMixin, Base):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(f"status IN ({_values(OrderStatus)})", name="status_known"),
        Index("ix_orders_user_id_created_at", "user_id", "created_at"),
        Index("ix_orders_user_id_status", "user_id", "status"),
        Index("ix_orders_created_at_id", "created_at", "id"),  # /export orders, by day
        # /stats: the sales of a period, however long the history (app/services/stats.py).
        Index(
            "ix_orders_sold_at",
            "paid_at",
            postgresql_where=text("status IN ('paid', 'delivered')"),
            sqlite_where=text("status IN ('paid', 'delivered')"),
            postgresql_include=["amount"],
        ),
        Index(
            "ix_orders_undelivered",
            "next_delivery_at",
            postgresql_where=text("status = 'paid'"),
            sqlite_where=text("status = 'paid'"),
        ),
        # A buyer's open reservations (the product card, Buy), however many orders they have.
        Index(
            "ix_orders_pending",
            "user_id",
            "product_id",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="RESTRICT"), index=True
    )  # the first line's product (kept for the releases and reports that read it)
    stock_item_id: Mapped[int | None] = mapped_column(
        ForeignKey("stock_items.id", ondelete="RESTRICT"), index=True
    )  # the first unit; all the units are the stock items whose order_id is this order
    payload: Mapped[str] = mapped_column(String(64), unique=True, comment="invoice payload")
    amount: Mapped[int] = mapped_column(comment="Telegram Stars")  # charged: the invoice's total
    currency: Mapped[str] = mapped_column(String(8), default="XTR", server_default="XTR")
    status: Mapped[str] = mapped_column(String(16), default=OrderStatus.PENDING)
    expires_at: Mapped[datetime]
    telegram_payment_charge_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    provider_payment_charge_id: Mapped[str | None] = mapped_column(String(255))
    paid_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    refunded_at: Mapped[datetime | None]
    delivery_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    next_delivery_at: Mapped[datetime | None] = mapped_column(
        comment="paid orders: when the next delivery attempt may start (a lease while sending)"
    )
    discount: Mapped[int] = mapped_column(
        default=0, server_default="0", comment="Stars taken off the price by a promo code"
    )

    product: Mapped[Product] = relationship()
    stock_item: Mapped[StockItem | None] = relationship(foreign_keys=[stock_item_id])


class OrderLine(Base):
    """One product of an order: how many units, at what price each when it was reserved."""

    __tablename__ = "order_lines"
    __table_args__ = (
        UniqueConstraint("order_id", "product_id"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price > 0", name="unit_price_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="RESTRICT"))
    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="RESTRICT"), index=True
    )
    quantity: Mapped[int]
    unit_price: Mapped[int] = mapped_column(comment="Telegram Stars per unit")


class CartLine(TimestampMixin, Base):
    """A product in a buyer's cart, kept in the database (restarts, replicas)."""

    __tablename__ = "cart_lines"
    __table_args__ = (
        UniqueConstraint("user_id", "product_id"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="RESTRICT"), index=True
    )
    quantity: Mapped[int]


class Broadcast(TimestampMixin, Base):
    """A message to every user, sent in user-id order; ``last_user_id`` lets a restart resume.

    ``lease_until`` is held by the process that is sending, so that one replica sends at a time.
    A ``restock`` broadcast goes to the watchers of ``product_id`` instead (the watches up to
    ``audience_until``: a watch made after it was enqueued waits for the next restock).
    """

    __tablename__ = "broadcasts"
    __table_args__ = (
        CheckConstraint(f"status IN ({_values(BroadcastStatus)})", name="status_known"),
        CheckConstraint(f"kind IN ({_values(BroadcastKind)})", name="kind_known"),
        CheckConstraint(
            "(kind = 'restock') = (product_id IS NOT NULL AND audience_until IS NOT NULL)",
            name="restock_audience",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    created_by: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default=BroadcastStatus.RUNNING)
    last_user_id: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    sent: Mapped[int] = mapped_column(default=0, server_default="0")
    blocked: Mapped[int] = mapped_column(default=0, server_default="0")
    failed: Mapped[int] = mapped_column(default=0, server_default="0")
    lease_until: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    kind: Mapped[str] = mapped_column(
        String(16), default=BroadcastKind.ALL, server_default=BroadcastKind.ALL.value
    )
    product_id: Mapped[int | None] = mapped_column(
        ForeignKey("products.id", ondelete="RESTRICT"), comment="restock: the product back"
    )
    audience_until: Mapped[int | None] = mapped_column(
        comment="restock: the last watch (restock_watches.id) of its audience"
    )


class RestockWatch(TimestampMixin, Base):
    """A buyer waiting for a sold-out product; deleted when told it is back (or on leaving).

    The restock alert walks a product's watches in user-id order (the unique constraint's
    index); an import finds the newest by ``(product_id, id)``; a buyer's own list (/alerts)
    reads the user-id index.
    """

    __tablename__ = "restock_watches"
    __table_args__ = (
        UniqueConstraint("product_id", "user_id"),
        # A product's newest watch, and the watches past a running alert's audience (enqueue).
        Index("ix_restock_watches_product_id_id", "product_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="RESTRICT"))


class Payment(Base):
    """Telegram's ``successful_payment`` as it was reported: written first, never changed."""

    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(f"source IN ({_values(PaymentSource)})", name="source_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    charge_id: Mapped[str] = mapped_column(
        String(255), unique=True, comment="telegram_payment_charge_id"
    )
    provider_charge_id: Mapped[str | None] = mapped_column(String(255))
    user_id: Mapped[int] = mapped_column(BigInteger, comment="the payer")
    payload: Mapped[str] = mapped_column(String(128), comment="invoice payload")
    currency: Mapped[str] = mapped_column(String(8))
    amount: Mapped[int]
    paid_at: Mapped[datetime] = mapped_column(comment="when Telegram took the payment")
    source: Mapped[str] = mapped_column(String(16))
    recorded_at: Mapped[datetime] = mapped_column(
        default=utcnow, server_default=text("CURRENT_TIMESTAMP")
    )


class PendingPayment(Base):
    """A recorded payment that is not settled yet (no item claimed, no refund opened).

    Written in the ledger row's transaction and deleted in the one that settles it, so the
    fulfilment worker reads a queue as long as the backlog, never the whole ledger.
    """

    __tablename__ = "pending_payments"

    charge_id: Mapped[str] = mapped_column(
        ForeignKey("payments.charge_id", ondelete="RESTRICT"), primary_key=True
    )
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(index=True)


class Refund(TimestampMixin, Base):
    """A refund owed or made, one per payment; ``refunded_at`` once Telegram confirmed it."""

    __tablename__ = "refunds"
    __table_args__ = (
        CheckConstraint(f"status IN ({_values(RefundStatus)})", name="status_known"),
        CheckConstraint(f"reason IN ({_values(RefundReason)})", name="reason_known"),
        Index(
            "ix_refunds_due",
            "next_attempt_at",
            postgresql_where=text("status = 'due'"),
            sqlite_where=text("status = 'due'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    charge_id: Mapped[str] = mapped_column(
        ForeignKey("payments.charge_id", ondelete="RESTRICT"), unique=True
    )
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="RESTRICT"))
    user_id: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int]
    reason: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=RefundStatus.DUE)
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(
        comment="automatic refunds: when to ask Telegram again; NULL waits for an owner"
    )
    last_error: Mapped[str | None] = mapped_column(String(255))
    alerted_at: Mapped[datetime | None]
    refunded_at: Mapped[datetime | None]


class WorkerLease(Base):
    """Which process runs a singleton job (reconciliation), until when, and where it got to."""

    __tablename__ = "worker_leases"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]
    checkpoint: Mapped[int] = mapped_column(
        BigInteger, default=0, server_default="0", comment="reconciliation: transactions read"
    )
    updated_at: Mapped[datetime | None]


class Review(TimestampMixin, Base):
    """A buyer's rating (1-5) of a product of a delivered order, with an optional text; one
    per order and product (a cart of two products gets a review of each).

    The product's ``rating_count`` and ``rating_sum`` follow its visible reviews, changed in
    the same transaction as a review is added or hidden, so the card reads two columns.
    """

    __tablename__ = "reviews"
    __table_args__ = (
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),
        Index("ix_reviews_product_id_id", "product_id", "id"),
        # Built concurrently, then the one-per-order constraint it replaces dropped.
        Index("uq_reviews_order_id_product_id", "order_id", "product_id", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="RESTRICT"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="RESTRICT"))
    rating: Mapped[int]
    text: Mapped[str] = mapped_column(Text, default="", server_default="")
    hidden_at: Mapped[datetime | None] = mapped_column(comment="hidden by an owner")


class PromoCode(TimestampMixin, Base):
    """A discount a buyer applies by its code (stored upper-case) before the invoice.

    ``owner_user_id`` binds it to one buyer (a referral reward). Uses are counted from
    :class:`PromoRedemption` rows (held or used) with this row locked, so the last use is
    taken once.
    """

    __tablename__ = "promo_codes"
    __table_args__ = (
        CheckConstraint(f"kind IN ({_values(PromoKind)})", name="kind_known"),
        CheckConstraint(f"scope IN ({_values(PromoScope)})", name="scope_known"),
        CheckConstraint("value > 0 AND (kind <> 'percent' OR value <= 100)", name="value_range"),
        # /promo list: the owners' codes a page at a time, past any number of referral rewards.
        Index(
            "ix_promo_codes_shop",
            "id",
            postgresql_where=text("owner_user_id IS NULL"),
            sqlite_where=text("owner_user_id IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(8))
    value: Mapped[int] = mapped_column(comment="percent (1-100) or Stars")
    scope: Mapped[str] = mapped_column(String(8), default=PromoScope.SHOP)
    category_id: Mapped[int | None] = mapped_column(
        ForeignKey("categories.id", ondelete="RESTRICT")
    )
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id", ondelete="RESTRICT"))
    min_total: Mapped[int] = mapped_column(
        default=0, server_default="0", comment="Stars the lines in scope must reach"
    )
    expires_at: Mapped[datetime | None]
    max_uses: Mapped[int | None] = mapped_column(comment="NULL: no limit")
    per_user: Mapped[int | None] = mapped_column(comment="uses per buyer; NULL: no limit")
    owner_user_id: Mapped[int | None] = mapped_column(
        BigInteger, comment="only this buyer may use it (a referral reward)"
    )
    disabled_at: Mapped[datetime | None]


class PromoRedemption(TimestampMixin, Base):
    """One code's use by one order: held at the invoice, used at payment, released on refund."""

    __tablename__ = "promo_redemptions"
    __table_args__ = (
        CheckConstraint(f"status IN ({_values(RedemptionStatus)})", name="status_known"),
        Index("ix_promo_redemptions_promo_id_user_id", "promo_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    promo_id: Mapped[int] = mapped_column(ForeignKey("promo_codes.id", ondelete="RESTRICT"))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="RESTRICT"), unique=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    discount: Mapped[int] = mapped_column(comment="Stars taken off the order")
    status: Mapped[str] = mapped_column(String(16), default=RedemptionStatus.HELD)
    used_at: Mapped[datetime | None]
    released_at: Mapped[datetime | None]


class ReferralLink(Base):
    """A user's stable referral code (``/start ref_<code>``), made when first asked for."""

    __tablename__ = "referral_links"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), primary_key=True
    )
    code: Mapped[str] = mapped_column(String(16), unique=True)


class Referral(Base):
    """Who brought whom: written at the referee's first /start only, one referrer each.

    The referee's first paid order is recorded by the settlement that pays it, and the referral
    is settled once the reward pass granted its reward or found that order refunded: the pass
    reads only the referrals between the two (``ix_referrals_waiting``), never the referees who
    never paid nor those settled long ago.
    """

    __tablename__ = "referrals"
    __table_args__ = (
        Index(
            "ix_referrals_waiting",
            "first_paid_at",
            postgresql_where=text("first_paid_at IS NOT NULL AND settled_at IS NULL"),
            sqlite_where=text("first_paid_at IS NOT NULL AND settled_at IS NULL"),
        ),
    )

    referee_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), primary_key=True
    )
    referrer_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(
        default=utcnow, server_default=text("CURRENT_TIMESTAMP")
    )
    first_order_id: Mapped[int | None] = mapped_column(
        ForeignKey("orders.id", ondelete="RESTRICT"), comment="the referee's first paid order"
    )
    first_paid_at: Mapped[datetime | None] = mapped_column(
        comment="that order's paid_at: its hold runs from here"
    )
    settled_at: Mapped[datetime | None] = mapped_column(
        comment="rewarded, or forfeited (the first paid order refunded)"
    )


class ReferralReward(TimestampMixin, Base):
    """The referrer's reward for one referee's first paid order: at most one per referee."""

    __tablename__ = "referral_rewards"
    __table_args__ = (
        Index("ix_referral_rewards_referrer_id_created_at", "referrer_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    referee_id: Mapped[int] = mapped_column(
        ForeignKey("referrals.referee_id", ondelete="RESTRICT"), unique=True
    )
    referrer_id: Mapped[int] = mapped_column(BigInteger)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="RESTRICT"))
    promo_id: Mapped[int] = mapped_column(
        ForeignKey("promo_codes.id", ondelete="RESTRICT"), unique=True
    )
    notified_at: Mapped[datetime | None] = mapped_column(comment="the referrer was told")


class ReferralTerms(Base):
    """The referral programme's terms as the owners set them (``/referral``, ``python -m app
    referral``): one row, id 1. A NULL column keeps the environment's value (``REFERRAL_*``)."""

    __tablename__ = "referral_terms"
    __table_args__ = (
        CheckConstraint("id = 1", name="one_row"),
        CheckConstraint("hold_days BETWEEN 0 AND 365", name="hold_days_range"),
        CheckConstraint("reward_percent BETWEEN 1 AND 100", name="reward_percent_range"),
        CheckConstraint("daily_cap BETWEEN 1 AND 1000", name="daily_cap_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    hold_days: Mapped[float | None] = mapped_column(
        comment="days a referee's first paid order must stay unrefunded"
    )
    reward_percent: Mapped[int | None] = mapped_column(comment="the reward code's percent off")
    daily_cap: Mapped[int | None] = mapped_column(comment="rewards per referrer per UTC day")
    updated_at: Mapped[datetime | None]
    updated_by: Mapped[int | None] = mapped_column(BigInteger, comment="the owner; NULL: the CLI")
