"""carts and order lines: an order holds several units of several products

Revision ID: d4e6f8a0b2c4
Revises: c3d5f7a9b1e2
Create Date: 2026-12-02 07:00:00.000000+00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d4e6f8a0b2c4"
down_revision: str | Sequence[str] | None = "c3d5f7a9b1e2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Zero-downtime declarations, read by the migrating start and `python -m app migrations lint`
# (README, "Authoring a revision"):
# - phase: "expand" if the previous release's code still runs on the schema this revision
#   leaves (it only adds: a table, a nullable column, an index); "contract" if it does not
#   (it drops, renames or tightens something that code uses).
# - lint_acknowledged: {"squawk-rule": "why it is safe here"} for each rule this revision
#   breaks on purpose; the start logs the reason when it applies the revision.
# - concurrent: True if upgrade() builds an index concurrently (app.db.online_ddl).
phase: str = "expand"  # new tables and a nullable column; orders keep every column they had
lint_acknowledged: dict[str, str] = {}
concurrent: bool = False

FK_NAME = "fk_stock_items_order_id_orders"
ORDER_ID_COMMENT = "the order that holds (reserved) or bought (sold) this item"


def upgrade() -> None:
    op.create_table(
        "order_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price", sa.Integer(), nullable=False, comment="Telegram Stars per unit"),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_order_lines_quantity_positive")),
        sa.CheckConstraint("unit_price > 0", name=op.f("ck_order_lines_unit_price_positive")),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_order_lines_order_id_orders"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_order_lines_product_id_products"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_lines")),
        sa.UniqueConstraint(
            "order_id", "product_id", name=op.f("uq_order_lines_order_id_product_id")
        ),
    )
    op.create_index(op.f("ix_order_lines_product_id"), "order_lines", ["product_id"])
    op.create_table(
        "cart_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_cart_lines_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_cart_lines_product_id_products"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_cart_lines_user_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cart_lines")),
        sa.UniqueConstraint("user_id", "product_id", name=op.f("uq_cart_lines_user_id_product_id")),
    )
    op.create_index(op.f("ix_cart_lines_product_id"), "cart_lines", ["product_id"])

    column = sa.Column("order_id", sa.Integer(), nullable=True, comment=ORDER_ID_COMMENT)
    if op.get_context().dialect.name == "postgresql":
        # A nullable column without a default: no rewrite. The key is added NOT VALID (no scan
        # under a lock that stops writes); the next revision validates it without blocking.
        op.add_column("stock_items", column)
        op.execute(
            f"ALTER TABLE stock_items ADD CONSTRAINT {FK_NAME} FOREIGN KEY (order_id) "
            "REFERENCES orders (id) ON DELETE RESTRICT NOT VALID"
        )
    else:
        with op.batch_alter_table("stock_items") as batch:
            batch.add_column(column)
            batch.create_foreign_key(FK_NAME, "orders", ["order_id"], ["id"], ondelete="RESTRICT")

    # The orders of the releases before this one: one line each, one unit (orders.stock_item_id).
    op.execute(
        "INSERT INTO order_lines (order_id, product_id, quantity, unit_price) "
        "SELECT id, product_id, 1, amount FROM orders"
    )
    # An item belongs to the latest order that pointed at it (a takeover makes a newer order);
    # available items belong to nobody.
    op.execute(
        "UPDATE stock_items SET order_id = ("
        "SELECT max(orders.id) FROM orders WHERE orders.stock_item_id = stock_items.id"
        ") WHERE status IN ('reserved', 'sold') AND EXISTS ("
        "SELECT 1 FROM orders WHERE orders.stock_item_id = stock_items.id)"
    )


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.drop_constraint(FK_NAME, "stock_items", type_="foreignkey")
        op.drop_column("stock_items", "order_id")
    else:
        with op.batch_alter_table("stock_items") as batch:
            batch.drop_constraint(FK_NAME, type_="foreignkey")
            batch.drop_column("order_id")
    op.drop_index(op.f("ix_cart_lines_product_id"), table_name="cart_lines")
    op.drop_table("cart_lines")
    op.drop_index(op.f("ix_order_lines_product_id"), table_name="order_lines")
    op.drop_table("order_lines")
