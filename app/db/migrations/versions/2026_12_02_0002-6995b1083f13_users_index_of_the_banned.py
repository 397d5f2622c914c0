"""users: index of the banned

Revision ID: 6995b1083f13
Revises: 86af6242d5ae
Create Date: 2026-12-02 00:02:35.252845+00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa

from app.db.online_ddl import create_index_concurrently, drop_index_concurrently

revision: str = "6995b1083f13"
down_revision: str | Sequence[str] | None = "86af6242d5ae"
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
phase: str = "expand"  # an index only
lint_acknowledged: dict[str, str] = {}
concurrent: bool = True

BANNED = sa.text("banned_at IS NOT NULL")


def upgrade() -> None:
    # The bot's periodic read of the banned ids (app.middlewares.bans).
    create_index_concurrently(
        "ix_users_banned", "users", ["id"], postgresql_where=BANNED, sqlite_where=BANNED
    )


def downgrade() -> None:
    drop_index_concurrently("ix_users_banned", "users")
