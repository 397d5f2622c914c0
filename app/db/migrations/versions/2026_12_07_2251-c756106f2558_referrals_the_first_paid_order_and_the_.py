"""referrals: the first paid order and the settlement

Revision ID: c756106f2558
Revises: 39d8de9e13fd
Create Date: 2026-12-07 22:51:19.834865+00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c756106f2558"
down_revision: str | Sequence[str] | None = "39d8de9e13fd"
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
phase: str = "expand"  # nullable columns, and a foreign key added NOT VALID
lint_acknowledged: dict[str, str] = {}
concurrent: bool = False

# The reward pass reads only the referrals waiting for their reward: those whose referee's
# first paid order is recorded (by the settlement that pays it) and that are not settled yet
# (rewarded, or forfeited: that order refunded). The next revision fills these in for the
# referrals there are; the one after validates the foreign key and builds the pass's index.
FIRST_ORDER_FK = "fk_referrals_first_order_id_orders"

# SQLite copies the table: only its own definition is read (resolve_fks=False), never the
# tables it refers to (their expression indexes cannot be reflected there).
_ALONE = {"resolve_fks": False}


def _columns() -> list[sa.Column[object]]:
    return [
        sa.Column(
            "first_order_id", sa.Integer(), nullable=True, comment="the referee's first paid order"
        ),
        sa.Column(
            "first_paid_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="that order's paid_at: its hold runs from here",
        ),
        sa.Column(
            "settled_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="rewarded, or forfeited (the first paid order refunded)",
        ),
    ]


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        with op.batch_alter_table("referrals", reflect_kwargs=_ALONE) as batch:
            for column in _columns():
                batch.add_column(column)
            batch.create_foreign_key(
                op.f(FIRST_ORDER_FK), "orders", ["first_order_id"], ["id"], ondelete="RESTRICT"
            )
        return
    for column in _columns():
        op.add_column("referrals", column)
    # NOT VALID: no scan under the lock (every row's first_order_id is NULL anyway); validated
    # outside a transaction two revisions on.
    op.execute(
        f"ALTER TABLE referrals ADD CONSTRAINT {FIRST_ORDER_FK} FOREIGN KEY (first_order_id)"
        " REFERENCES orders (id) ON DELETE RESTRICT NOT VALID"
    )


def downgrade() -> None:
    with op.batch_alter_table("referrals", reflect_kwargs=_ALONE) as batch:
        batch.drop_constraint(op.f(FIRST_ORDER_FK), type_="foreignkey")
        batch.drop_column("settled_at")
        batch.drop_column("first_paid_at")
        batch.drop_column("first_order_id")
