"""reviews, and the products' rating counters

Revision ID: c3d5f7a9b1e2
Revises: a7c4e2f1b9d3
Create Date: 2026-12-02 01:40:00.000000+00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c3d5f7a9b1e2"
down_revision: str | Sequence[str] | None = "a7c4e2f1b9d3"
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
phase: str = "expand"  # a new table, and columns with constant defaults
lint_acknowledged: dict[str, str] = {}
concurrent: bool = False


def upgrade() -> None:
    with op.batch_alter_table("products") as batch:
        batch.add_column(
            sa.Column(
                "rating_count",
                sa.Integer(),
                server_default="0",
                nullable=False,
                comment="visible reviews (kept with them, for the card)",
            )
        )
        batch.add_column(
            sa.Column(
                "rating_sum",
                sa.Integer(),
                server_default="0",
                nullable=False,
                comment="sum of the visible reviews' ratings",
            )
        )
    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "hidden_at", sa.DateTime(timezone=True), nullable=True, comment="hidden by an owner"
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name=op.f("ck_reviews_rating_range")),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_reviews_order_id_orders"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_reviews_product_id_products"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_reviews_user_id_users"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviews")),
        sa.UniqueConstraint("order_id", name=op.f("uq_reviews_order_id")),
    )
    op.create_index("ix_reviews_product_id_id", "reviews", ["product_id", "id"])
    op.create_index(op.f("ix_reviews_user_id"), "reviews", ["user_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_reviews_user_id"), table_name="reviews")
    op.drop_index("ix_reviews_product_id_id", table_name="reviews")
    op.drop_table("reviews")
    with op.batch_alter_table("products") as batch:
        batch.drop_column("rating_sum")
        batch.drop_column("rating_count")
