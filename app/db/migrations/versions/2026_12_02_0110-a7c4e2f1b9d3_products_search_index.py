"""products: full-text search index (PostgreSQL)

Revision ID: a7c4e2f1b9d3
Revises: 5c0d1e2f3a4b
Create Date: 2026-12-02 01:10:00.000000+00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.db.online_ddl import create_index_concurrently, drop_index_concurrently

revision: str = "a7c4e2f1b9d3"
down_revision: str | Sequence[str] | None = "5c0d1e2f3a4b"
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

# Built-in full-text search: no extension to create (CREATE EXTENSION needs rights a shop's
# database role often lacks). The expression is app.services.search.SEARCH_DOCUMENT, verbatim.
DOCUMENT = sa.text("to_tsvector('simple'::regconfig, title || ' ' || description)")


def _postgresql() -> bool:
    return op.get_context().dialect.name == "postgresql"


def upgrade() -> None:
    if _postgresql():  # SQLite scans (app/services/search.py)
        create_index_concurrently(
            "ix_products_search", "products", [DOCUMENT], postgresql_using="gin"
        )


def downgrade() -> None:
    if _postgresql():
        drop_index_concurrently("ix_products_search", "products")
