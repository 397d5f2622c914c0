"""Orders and their lines: an order holds every unit of its lines until it is paid or expires."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db.base import Base, TimestampMixin, sql_values
from app.db.models.catalog import Product, StockItem


class OrderStatus(enum.StrEnum):
    PENDING = "pending"  # an item is reserved and an invoice was sent
    EXPIRED = "expired"  # the reservation ran out before any payment
    PAID = "paid"  # paid and the item is the buyer's; the goods are not sent yet
    DELIVERED = "delivered"  # paid, and the item was handed over
    REFUND_DUE = "refund_due"  # paid, but nothing was left to deliver: the owner must refund
    REFUNDED = "refunded"


class Order(TimestampMixin, Base):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(f"status IN ({sql_values(OrderStatus)})", name="status_known"),
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
