"""The catalog: categories, products, and their stock (one row per unique good, sold once)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db.base import Base, TimestampMixin, sql_values

# Indexes that revisions build but the models do not declare: expression indexes on PostgreSQL
# only (search's full-text GIN index, app/services/search.py), which autogenerate can compare
# on no other backend. The migrations' model comparison leaves them out.
UNMODELLED_INDEXES = frozenset({"ix_products_search"})


class ItemKind(enum.StrEnum):
    TEXT = "text"  # a key or code, delivered as a message
    FILE = "file"  # a Telegram file_id, delivered as a document


class ItemStatus(enum.StrEnum):
    AVAILABLE = "available"
    RESERVED = "reserved"
    SOLD = "sold"


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
        CheckConstraint(f"kind IN ({sql_values(ItemKind)})", name="kind_known"),
        CheckConstraint(f"status IN ({sql_values(ItemStatus)})", name="status_known"),
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
