"""refunds: the reason undeliverable

Revision ID: 30749c680bba
Revises: b4198255cfa4
Create Date: 2026-12-07 22:42:30.704793+00:00

"""

from collections.abc import Sequence

from alembic import op

revision: str = "30749c680bba"
down_revision: str | Sequence[str] | None = "b4198255cfa4"
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
phase: str = "expand"  # loosens a check: the previous release reads the new reason already
lint_acknowledged: dict[str, str] = {
    "ban-drop-constraint": "ck_refunds_reason_known is added again at once, in the same "
    "transaction, knowing one reason more: every value the old check allowed is still allowed",
}
concurrent: bool = False

# An undeliverable order's refund was stored as 'sold_out' (the check knew no other reason) and
# told apart by its order, sold and sent at least once (a sold-out order never was). The check
# that knows 'undeliverable' replaces the old one in one transaction, so no moment is without
# one; it is added NOT VALID (no scan under the table's lock) and validated by the next
# revision, outside any transaction. The previous release reads a refund's reason through
# that same guess, which passes 'undeliverable' through unchanged (refunded, its buyer told and
# its owners alerted as an undeliverable order's); only its /stats, whose catalogs have no name
# for the reason, fails while such a refund is among the ten due it lists.
CHECK = "ck_refunds_reason_known"
KNOWN = "reason IN ('sold_out', 'unmatched', 'owner', 'external', 'undeliverable')"
KNOWN_BEFORE = "reason IN ('sold_out', 'unmatched', 'owner', 'external')"
# The refunds of undeliverable orders get their own reason (refunds are few: each one's order
# is read by its primary key); the downgrade gives them back the one they had.
TO_UNDELIVERABLE = (
    "UPDATE refunds SET reason = 'undeliverable' WHERE reason = 'sold_out'"
    " AND EXISTS (SELECT 1 FROM orders WHERE orders.id = refunds.order_id"
    " AND orders.delivery_attempts > 0)"
)
TO_SOLD_OUT = "UPDATE refunds SET reason = 'sold_out' WHERE reason = 'undeliverable'"

# SQLite copies the table: only its own definition is read (resolve_fks=False), never the
# tables it refers to (their expression indexes cannot be reflected there).
_ALONE = {"resolve_fks": False}


def _swap(condition: str, *, valid: bool) -> None:
    if op.get_context().dialect.name != "postgresql":
        with op.batch_alter_table("refunds", reflect_kwargs=_ALONE) as batch:
            batch.drop_constraint(op.f(CHECK), type_="check")
            batch.create_check_constraint("reason_known", condition)
        return
    op.execute(f"ALTER TABLE refunds DROP CONSTRAINT {CHECK}")
    not_valid = "" if valid else " NOT VALID"
    op.execute(f"ALTER TABLE refunds ADD CONSTRAINT {CHECK} CHECK ({condition}){not_valid}")


def upgrade() -> None:
    _swap(KNOWN, valid=False)
    op.execute(TO_UNDELIVERABLE)


def downgrade() -> None:
    op.execute(TO_SOLD_OUT)
    _swap(KNOWN_BEFORE, valid=True)
