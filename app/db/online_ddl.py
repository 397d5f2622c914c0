"""Index builds that never block writes: ``CREATE INDEX CONCURRENTLY`` from a revision.

A revision that uses these declares ``concurrent = True`` and does nothing else (put other
changes in their own revision)::

    from app.db.online_ddl import create_index_concurrently, drop_index_concurrently

    concurrent = True

    def upgrade() -> None:
        create_index_concurrently("ix_orders_paid_at", "orders", ["paid_at"])

    def downgrade() -> None:
        drop_index_concurrently("ix_orders_paid_at", "orders")

On PostgreSQL the build runs in Alembic's ``autocommit_block()`` (it cannot run inside a
transaction), and the migrating start then applies each revision in its own transaction under
a session-level lock (:mod:`app.db.migration_lock`). The version row is written in the
transaction after the block, so only once the index is valid. A build interrupted by a crash or
a lock timeout leaves an INVALID index behind; the next run finds it, drops it and builds it
again. On SQLite, and in a run that is one transaction (a fresh database, whose tables are
empty), these are plain ``op.create_index`` / ``op.drop_index``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from alembic import op
from alembic.util import CommandError
from sqlalchemy import text
from sqlalchemy.engine import Connection

log = structlog.get_logger("app.migrations")


def _online(context: Any) -> bool:
    """PostgreSQL, with each revision in its own transaction (see ``own_transactions``)."""
    return bool(
        context.dialect.name == "postgresql" and context.opts.get("transaction_per_migration")
    )


def index_is_valid(connection: Connection, name: str) -> bool | None:
    """``pg_index.indisvalid`` of the index ``name``; None when there is no such index."""
    valid = connection.scalar(
        text("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(:name)"),
        {"name": name},
    )
    return None if valid is None else bool(valid)


def create_index_concurrently(name: str, table: str, columns: Sequence[str], **kw: Any) -> None:
    context = op.get_context()
    if not _online(context):
        op.create_index(name, table, list(columns), **kw)
        return
    with context.autocommit_block():
        if not context.as_sql and index_is_valid(op.get_bind(), name) is False:
            log.warning("index left INVALID by an interrupted build; rebuilding it", index=name)
            op.drop_index(name, table_name=table, postgresql_concurrently=True, if_exists=True)
        op.create_index(
            name, table, list(columns), postgresql_concurrently=True, if_not_exists=True, **kw
        )
        if not context.as_sql and index_is_valid(op.get_bind(), name) is not True:
            raise CommandError(f"index {name} is not valid after its concurrent build")


def drop_index_concurrently(name: str, table: str) -> None:
    context = op.get_context()
    if not _online(context):
        op.drop_index(name, table_name=table)
        return
    with context.autocommit_block():
        op.drop_index(name, table_name=table, postgresql_concurrently=True, if_exists=True)


def validate_constraint(name: str, table: str) -> None:
    """``VALIDATE CONSTRAINT`` for a check or foreign key added ``NOT VALID`` by an earlier
    revision, outside any transaction: the scan holds only SHARE UPDATE EXCLUSIVE, which lets
    reads and writes go on. SQLite has no unvalidated constraints: nothing to do there."""
    context = op.get_context()
    if context.dialect.name != "postgresql":
        return
    if not _online(context):
        op.execute(text(f'ALTER TABLE "{table}" VALIDATE CONSTRAINT "{name}"'))
        return
    with context.autocommit_block():
        op.execute(text(f'ALTER TABLE "{table}" VALIDATE CONSTRAINT "{name}"'))
