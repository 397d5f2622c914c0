"""restock alerts: buyers' watches of sold-out products, restock broadcasts

Revision ID: f1a3c5e7b9d2
Revises: e5f7a9b1c3d5
Create Date: 2026-12-02 07:10:00.000000+00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f1a3c5e7b9d2"
down_revision: str | Sequence[str] | None = "e5f7a9b1c3d5"
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
phase: str = "expand"  # a new table; broadcast columns with a constant default or nullable
lint_acknowledged: dict[str, str] = {}
concurrent: bool = False

KIND_KNOWN = "kind IN ('all', 'restock')"
RESTOCK_AUDIENCE = "(kind = 'restock') = (product_id IS NOT NULL AND audience_until IS NOT NULL)"


def _broadcast_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("kind", sa.String(length=16), server_default="all", nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=True, comment="restock: the product back"),
        sa.Column(
            "audience_until",
            sa.Integer(),
            nullable=True,
            comment="restock: the last watch (restock_watches.id) of its audience",
        ),
    ]


def _extend_broadcasts() -> None:
    """The broadcasts get a kind and, for restock alerts, their product and audience.

    On PostgreSQL the checks and the foreign key are added NOT VALID: they hold for every row
    written from now on, and the rows already there are kind 'all' with no product (the new
    columns' default), so there is nothing to scan, and no lock held while scanning.
    """
    if op.get_context().dialect.name != "postgresql":
        with op.batch_alter_table("broadcasts") as batch:
            for column in _broadcast_columns():
                batch.add_column(column)
            batch.create_check_constraint("kind_known", KIND_KNOWN)
            batch.create_check_constraint("restock_audience", RESTOCK_AUDIENCE)
            batch.create_foreign_key(
                op.f("fk_broadcasts_product_id_products"),
                "products",
                ["product_id"],
                ["id"],
                ondelete="RESTRICT",
            )
        return
    for column in _broadcast_columns():
        op.add_column("broadcasts", column)
    op.execute(
        f"ALTER TABLE broadcasts ADD CONSTRAINT ck_broadcasts_kind_known CHECK ({KIND_KNOWN})"
        " NOT VALID"
    )
    op.execute(
        "ALTER TABLE broadcasts ADD CONSTRAINT ck_broadcasts_restock_audience"
        f" CHECK ({RESTOCK_AUDIENCE}) NOT VALID"
    )
    op.execute(
        "ALTER TABLE broadcasts ADD CONSTRAINT fk_broadcasts_product_id_products"
        " FOREIGN KEY (product_id) REFERENCES products (id) ON DELETE RESTRICT NOT VALID"
    )


def upgrade() -> None:
    op.create_table(
        "restock_watches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_restock_watches_product_id_products"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_restock_watches_user_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_restock_watches")),
        sa.UniqueConstraint(
            "product_id", "user_id", name=op.f("uq_restock_watches_product_id_user_id")
        ),
    )
    op.create_index(op.f("ix_restock_watches_user_id"), "restock_watches", ["user_id"])
    _extend_broadcasts()


def downgrade() -> None:
    with op.batch_alter_table("broadcasts") as batch:
        batch.drop_constraint(op.f("fk_broadcasts_product_id_products"), type_="foreignkey")
        batch.drop_constraint(op.f("ck_broadcasts_restock_audience"), type_="check")
        batch.drop_constraint(op.f("ck_broadcasts_kind_known"), type_="check")
        batch.drop_column("audience_until")
        batch.drop_column("product_id")
        batch.drop_column("kind")
    op.drop_index(op.f("ix_restock_watches_user_id"), table_name="restock_watches")
    op.drop_table("restock_watches")
