"""A stock import's unit of work: the items go in short write transactions, each committed.

One transaction for a whole file would hold SQLite's single write lock for as long as the file
takes (a 2 MB file: tens of seconds on a small machine), and every buyer's write meanwhile
waits, then fails with "database is locked". Here each batch of :data:`BATCH_ROWS` items is
one statement in its own transaction, and on SQLite the import then pauses for as long as the
batch held the lock (at least :data:`MIN_PAUSE`), so a writer waiting in SQLite's busy handler
finds the lock free: a buyer's write waits for one batch at most, well under a second. On
PostgreSQL, where inserts block no buyer, the batches follow each other without a pause.

The counts are for the whole upload: the distinct items are computed once, before the first
batch, and each batch adds what the product does not have yet. A failure part way leaves the
batches before it committed; importing the same upload again adds only the rest (the others
count as duplicates). The last batch's transaction also enqueues the restock alert to the
product's watchers (:func:`app.services.restock.enqueue`), when anything was added: every stock
path (the bot's /stock, ``python -m app stock import``, the admin panel) comes through here.
Callers parse the upload first (:func:`app.services.stock.read_upload`), so a malformed one
adds nothing.
"""

from __future__ import annotations

import asyncio
import time

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.uow import write
from app.services import restock, stock
from app.services.restock import Enqueued
from app.services.stock import ImportResult, ParsedUpload, SentFile

BATCH_ROWS = 500
MIN_PAUSE = 0.01  # seconds between two SQLite batches, at least


async def import_items(
    session: AsyncSession, product_id: int, parsed: ParsedUpload, *, batch_rows: int = BATCH_ROWS
) -> ImportResult:
    """Add the upload's new items to the product, one write block per batch (the caller has
    no block open)."""
    items = stock.unique_items(parsed)
    pause = session.get_bind().dialect.name == "sqlite"
    added = 0
    held = 0.0
    alert: Enqueued | None = None
    for start in range(0, len(items), batch_rows):
        if start and pause:
            await asyncio.sleep(max(MIN_PAUSE, held))
        began = time.perf_counter()
        async with write(session):
            added += await stock.insert_items(
                session, product_id, items[start : start + batch_rows]
            )
            if added and start + batch_rows >= len(items):  # the last batch: tell the watchers
                alert = await restock.enqueue(session, product_id)
        held = time.perf_counter() - began
    return ImportResult(
        added=added,
        duplicates=len(parsed.items) - added,
        blank=parsed.blank,
        header=parsed.header,
        restock=alert,
    )


async def import_files(
    session: AsyncSession, product_id: int, files: list[SentFile]
) -> ImportResult:
    """Add the files as FILE items (one each) in one write block, with the restock alert when
    anything was added; a file the product already has is a duplicate."""
    async with write(session):
        added = await stock.insert_files(session, product_id, files)
        alert = await restock.enqueue(session, product_id) if added else None
    return ImportResult(added=added, duplicates=len(files) - added, blank=0, restock=alert)
