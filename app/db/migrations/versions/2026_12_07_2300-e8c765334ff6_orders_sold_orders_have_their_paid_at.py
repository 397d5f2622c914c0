"""orders: every sold order has its paid_at (the sale time /stats reads)

Revision ID: e8c765334ff6
Revises: 3fdbbc570d7d
Create Date: 2026-12-07 23:00:00.000000+00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e8c765334ff6"
down_revision: str | Sequence[str] | None = "3fdbbc570d7d"
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
phase: str = "expand"  # data only: a value where there was none
lint_acknowledged: dict[str, str] = {}
concurrent: bool = False


def upgrade() -> None:
    # A sale's time is its paid_at (app.services.stats.sale_time), which the settlement always
    # writes; an order sold without one (none is expected) takes its created_at, the time the
    # figures used for it until now, so the index of the next revision sees every sale.
    op.execute(
        sa.text(
            "UPDATE orders SET paid_at = created_at"
            " WHERE paid_at IS NULL AND status IN ('paid', 'delivered')"
        )
    )


def downgrade() -> None:
    # Nothing to undo: the previous code reads coalesce(paid_at, created_at), the same value.
    pass
