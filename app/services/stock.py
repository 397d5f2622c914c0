"""Stock upload: one item per line of pasted text or of a .txt/.csv file.

Blank lines are skipped and surrounding whitespace stripped. An item equal to another one of the
same upload, or to one the product already has, is a duplicate: it is counted, never added.
The database's unique (product_id, fingerprint) constraint is the final word, so two uploads
racing each other insert with ``ON CONFLICT DO NOTHING`` and neither crashes.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import utcnow
from app.db.models import ItemKind, ItemStatus, StockItem

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
TEXT_EXTENSIONS = (".txt", ".csv")
_BATCH = 500


class NotTextError(ValueError):
    """The upload is not UTF-8 text (a binary file, or another encoding), or has control
    characters (which only occur in binary files)."""


class UploadTooLargeError(ValueError):
    """The upload is over :data:`MAX_UPLOAD_BYTES`."""


@dataclass(frozen=True)
class ParsedUpload:
    items: list[str]
    blank: int


@dataclass(frozen=True)
class ImportResult:
    added: int
    duplicates: int
    blank: int


def fingerprint(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def decode_upload(data: bytes) -> str:
    """The bytes as text; :class:`NotTextError` for anything that is not UTF-8 text."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise UploadTooLargeError(str(MAX_UPLOAD_BYTES))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise NotTextError("not UTF-8") from None
    return check_text(text)


def _is_control(ch: str) -> bool:
    code = ord(ch)
    return (code < 32 and ch not in "\t\n\r\f\v") or code == 0x7F or 0x80 <= code <= 0x9F


def check_text(text: str) -> str:
    """``text``, or :class:`NotTextError` when it has control characters.

    NUL and the other C0 and C1 controls (other than tab and line breaks) only occur in binary
    files; an item carrying them would reach the buyer (and any terminal) as they are.
    Pasted text is checked like an uploaded file.
    """
    if any(_is_control(ch) for ch in text):
        raise NotTextError("control characters")
    return text


def is_csv(file_name: str | None) -> bool:
    return bool(file_name) and str(file_name).lower().endswith(".csv")


def parse_upload(text: str, *, csv_format: bool = False) -> ParsedUpload:
    """The items of an upload (stripped, in order, duplicates kept) and the blank-line count."""
    if csv_format:
        rows: list[str] = [row[0] if row else "" for row in csv.reader(text.splitlines())]
    else:
        rows = text.splitlines()
    items: list[str] = []
    blank = 0
    for row in rows:
        item = row.strip()
        if item:
            items.append(item)
        else:
            blank += 1
    return ParsedUpload(items, blank)


def _insert(dialect: str) -> Any:
    if dialect == "postgresql":
        return postgresql.insert(StockItem)
    if dialect == "sqlite":
        return sqlite.insert(StockItem)
    raise NotImplementedError(f"stock import does not support the {dialect} dialect")


async def add_items(session: AsyncSession, product_id: int, parsed: ParsedUpload) -> ImportResult:
    """Insert the new items of an upload; flushes, the caller commits."""
    # Sorted, so that two uploads racing on PostgreSQL take the unique-index locks in the same
    # order (one waits for the other instead of deadlocking).
    unique = sorted(set(parsed.items))
    dialect = session.get_bind().dialect.name
    now = utcnow()
    added = 0
    for start in range(0, len(unique), _BATCH):
        rows = [
            {
                "product_id": product_id,
                "kind": ItemKind.TEXT.value,
                "content": item,
                "fingerprint": fingerprint(item),
                "status": ItemStatus.AVAILABLE.value,
                "created_at": now,
            }
            for item in unique[start : start + _BATCH]
        ]
        stmt: Insert = (
            _insert(dialect)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["product_id", "fingerprint"])
            .returning(StockItem.id)
        )
        added += len((await session.execute(stmt)).all())
    return ImportResult(added=added, duplicates=len(parsed.items) - added, blank=parsed.blank)


async def import_text(
    session: AsyncSession, product_id: int, text: str, *, csv_format: bool = False
) -> ImportResult:
    parsed = parse_upload(check_text(text), csv_format=csv_format)
    return await add_items(session, product_id, parsed)


async def import_bytes(
    session: AsyncSession, product_id: int, data: bytes, *, csv_format: bool = False
) -> ImportResult:
    """Decode (or raise :class:`NotTextError` / :class:`UploadTooLargeError`), then import."""
    return await import_text(session, product_id, decode_upload(data), csv_format=csv_format)
