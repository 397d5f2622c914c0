"""referrals: the first paid order and the settlement of the referrals there are

Revision ID: d1e5a0c3b7f9
Revises: c756106f2558
Create Date: 2026-12-07 22:52:00.000000+00:00

"""

from collections.abc import Sequence

from alembic import op

revision: str = "d1e5a0c3b7f9"
down_revision: str | Sequence[str] | None = "c756106f2558"
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
phase: str = "expand"  # data only: values where there were none
lint_acknowledged: dict[str, str] = {}
concurrent: bool = False

# A referee's first paid order is the one the reward pass read until now: their order paid
# first (paid_at, then id), whatever became of it. Each referee's orders are read through
# ix_orders_user_id_created_at; the referees who never paid are not written.
FIRST_ORDER = (
    "UPDATE referrals SET first_order_id = (SELECT o.id FROM orders o"
    " WHERE o.user_id = referrals.referee_id AND o.paid_at IS NOT NULL"
    " ORDER BY o.paid_at, o.id LIMIT 1)"
    " WHERE first_order_id IS NULL AND EXISTS (SELECT 1 FROM orders o"
    " WHERE o.user_id = referrals.referee_id AND o.paid_at IS NOT NULL)"
)
FIRST_PAID_AT = (
    "UPDATE referrals SET first_paid_at ="
    " (SELECT o.paid_at FROM orders o WHERE o.id = referrals.first_order_id)"
    " WHERE first_order_id IS NOT NULL AND first_paid_at IS NULL"
)
# Settled: rewarded (at the reward's time), or forfeited, the first paid order refunded (now).
SETTLED = (
    "UPDATE referrals SET settled_at = coalesce((SELECT r.created_at FROM referral_rewards r"
    " WHERE r.referee_id = referrals.referee_id), CURRENT_TIMESTAMP)"
    " WHERE first_order_id IS NOT NULL AND settled_at IS NULL"
    " AND (EXISTS (SELECT 1 FROM referral_rewards r WHERE r.referee_id = referrals.referee_id)"
    " OR EXISTS (SELECT 1 FROM orders o"
    " WHERE o.id = referrals.first_order_id AND o.status = 'refunded'))"
)


def upgrade() -> None:
    op.execute(FIRST_ORDER)
    op.execute(FIRST_PAID_AT)
    op.execute(SETTLED)


def downgrade() -> None:
    pass  # the previous revision's downgrade drops the columns; nothing reads them before it
