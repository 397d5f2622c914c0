"""referrals: the reward pass's index, and the first order's foreign key validated

Revision ID: e2f6b1d4c8a0
Revises: d1e5a0c3b7f9
Create Date: 2026-12-07 22:53:00.000000+00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa

from app.db.online_ddl import (
    create_index_concurrently,
    drop_index_concurrently,
    validate_constraint,
)

revision: str = "e2f6b1d4c8a0"
down_revision: str | Sequence[str] | None = "d1e5a0c3b7f9"
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
phase: str = "expand"  # an index; a foreign key every row already meets
lint_acknowledged: dict[str, str] = {
    "prefer-robust-stmts": (
        "VALIDATE CONSTRAINT runs outside a transaction on purpose and is safe to run again:"
        " validating a valid constraint does nothing"
    ),
}
concurrent: bool = True

WAITING = sa.text("first_paid_at IS NOT NULL AND settled_at IS NULL")


def upgrade() -> None:
    # Added NOT VALID two revisions back; validated here, outside a transaction.
    validate_constraint("fk_referrals_first_order_id_orders", "referrals")
    # The reward pass walks the referrals waiting for their reward, oldest first payment first
    # (app.services.referral_rewards): never the referees who never paid, nor the settled.
    create_index_concurrently(
        "ix_referrals_waiting",
        "referrals",
        ["first_paid_at"],
        postgresql_where=WAITING,
        sqlite_where=WAITING,
    )


def downgrade() -> None:
    drop_index_concurrently("ix_referrals_waiting", "referrals")
