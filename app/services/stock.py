"""Stock upload: one item per line of pasted text or of a .txt file, or the first column of a
.csv file.

Blank lines are skipped and surrounding whitespace stripped. An item equal to another one of the
same upload, or to one the product already has, is a duplicate: it is counted, never added.
The database's unique (product_id, fingerprint) constraint is the final word, so two uploads
racing each other insert with ``ON CONFLICT DO NOTHING`` and neither crashes.

A CSV file is read as the csv module reads Excel's dialect (its delimiter, ``,``, ``;`` or a
tab, found by :class:`csv.Sniffer`), strictly: a quote that is not
closed, or text after a closing quote, is a :class:`MalformedCsvError` naming the line, and so
is a field over :data:`MAX_CSV_FIELD` (the csv module's limit). A first row whose first cell is
a column name (``key``, ``code``, ``license key``, ``ключ``…) is a header, not an item: it is
skipped and reported. Nothing of a malformed upload is added: an upload is parsed whole first.

This module reads and writes through the session it is given and never commits: the import
itself, in short transactions, is :mod:`app.stock_import`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import utcnow
from app.db.models import ItemKind, ItemStatus, StockItem
from app.services.restock import Enqueued

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_CSV_FIELD = 128 * 1024  # characters; the csv module's own default limit
Header = Literal["auto", "skip", "keep"]  # the first CSV row: detect, always skip, never skip
# Column names a seller's spreadsheet puts above the keys (compared in lower case, with "_",
# "-", "#", ":" and quotes taken as spaces).
HEADER_NAMES = frozenset(
    {
        *("key", "keys", "code", "codes", "item", "items", "content", "value", "values"),
        *("license", "license key", "license keys", "licence", "licence key", "serial"),
        *("serial number", "serial key", "product key", "cd key", "activation code"),
        *("activation key", "voucher", "voucher code", "coupon", "coupon code", "gift card"),
        *("gift code", "pin", "token", "account", "login", "stock", "goods"),
        *("ключ", "ключи", "код", "коды", "товар", "лицензия", "серийный номер", "купон"),
    }
)
_SNIFF_CHARS = 64 * 1024
_HEADER_NOISE = re.compile(r"[_\-#:\"'`«»]+")


class NotTextError(ValueError):
    """The upload is not UTF-8 text (a binary file, or another encoding), or has control
    characters (which only occur in binary files)."""


class UploadTooLargeError(ValueError):
    """The upload is over :data:`MAX_UPLOAD_BYTES`."""


class MalformedCsvError(ValueError):
    """The CSV file cannot be read; ``line`` is where (1-based), ``too_large`` for a field
    over :data:`MAX_CSV_FIELD`."""

    def __init__(self, line: int, reason: str, *, too_large: bool = False) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason
        self.too_large = too_large


@dataclass(frozen=True)
class ParsedUpload:
    items: list[str]
    blank: int
    header: str | None = None  # the CSV header row's first cell, when one was skipped


@dataclass(frozen=True)
class ImportResult:
    added: int
    duplicates: int
    blank: int
    header: str | None = None
    restock: Enqueued | None = None  # the alert to the product's watchers, if it has any


@dataclass(frozen=True)
class SentFile:
    """A document as Telegram keeps it: ``file_id`` to send it, ``file_unique_id`` to know it."""

    file_id: str
    file_unique_id: str


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


def looks_like_header(cell: str) -> bool:
    name = " ".join(_HEADER_NOISE.sub(" ", cell).split()).lower()
    return name in HEADER_NAMES


def csv_delimiter(text: str) -> str:
    """``,``, or ``;`` or a tab where the file uses one throughout (a spreadsheet saved in a
    locale whose decimal separator is the comma writes ``;``)."""
    sample = text[:_SNIFF_CHARS].rsplit("\n", 1)[0] if len(text) > _SNIFF_CHARS else text
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t").delimiter
    except csv.Error:  # one column, or nothing consistent: the comma
        return ","


def _csv_rows(text: str) -> list[str]:
    """The first cell of every row ("" for an empty row); :class:`MalformedCsvError`."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=csv_delimiter(text), strict=True)
    first_cells: list[str] = []
    while True:
        start = reader.line_num + 1  # where the next row begins: where to look if it fails
        try:
            row = next(reader)
        except StopIteration:
            return first_cells
        except csv.Error as exc:
            reason = str(exc)
            too_large = "field larger than field limit" in reason
            raise MalformedCsvError(start, reason, too_large=too_large) from None
        first_cells.append(row[0] if row else "")


def parse_upload(text: str, *, csv_format: bool = False, header: Header = "auto") -> ParsedUpload:
    """The items of an upload (stripped, in order, duplicates kept) and the blank-line count.

    ``header`` applies to CSV only: the first non-blank row is skipped when it looks like a
    header (``auto``), always (``skip``) or never (``keep``).
    """
    rows = _csv_rows(text) if csv_format else text.splitlines()
    items: list[str] = []
    blank = 0
    skipped: str | None = None
    for row in rows:
        item = row.strip()
        if not item:
            blank += 1
        elif csv_format and not items and skipped is None and _is_header(item, header):
            skipped = item
        else:
            items.append(item)
    return ParsedUpload(items, blank, skipped)


def _is_header(cell: str, header: Header) -> bool:
    return header == "skip" or (header == "auto" and looks_like_header(cell))


def unique_items(parsed: ParsedUpload) -> list[str]:
    """The distinct items, sorted: two uploads racing on PostgreSQL then take the unique
    index's locks in the same order (one waits for the other instead of deadlocking)."""
    return sorted(set(parsed.items))


def _insert(dialect: str) -> Any:
    if dialect == "postgresql":
        return postgresql.insert(StockItem)
    if dialect == "sqlite":
        return sqlite.insert(StockItem)
    raise NotImplementedError(f"stock import does not support the {dialect} dialect")


async def insert_items(session: AsyncSession, product_id: int, items: list[str]) -> int:
    """Insert the items the product does not have yet (one statement); returns how many were
    added. Flushes; the caller commits."""
    return await _insert_new(
        session, product_id, ItemKind.TEXT, [(item, fingerprint(item)) for item in items]
    )


async def insert_files(session: AsyncSession, product_id: int, files: list[SentFile]) -> int:
    """FILE items, one per file: the content is its file_id (the buyer gets it by sendDocument)
    and the fingerprint its file_unique_id, so the same file sent twice is one item (a file_id
    differs between sends, its unique id does not). Returns how many were added."""
    rows = [(file.file_id, file.file_unique_id) for file in files]
    return await _insert_new(session, product_id, ItemKind.FILE, rows)


async def _insert_new(
    session: AsyncSession, product_id: int, kind: ItemKind, items: list[tuple[str, str]]
) -> int:
    """Insert (content, fingerprint) items the product does not have yet, in one statement."""
    if not items:
        return 0
    now = utcnow()
    rows = [
        {
            "product_id": product_id,
            "kind": kind.value,
            "content": content,
            "fingerprint": print_,
            "status": ItemStatus.AVAILABLE.value,
            "created_at": now,
        }
        for content, print_ in items
    ]
    stmt: Insert = (
        _insert(session.get_bind().dialect.name)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["product_id", "fingerprint"])
        .returning(StockItem.id)
    )
    return len((await session.execute(stmt)).all())


def read_upload(
    data: str | bytes, *, csv_format: bool = False, header: Header = "auto"
) -> ParsedUpload:
    """Decode (bytes) or check (pasted text), then parse; raises before anything is written:
    :class:`NotTextError`, :class:`UploadTooLargeError`, :class:`MalformedCsvError`."""
    text = decode_upload(data) if isinstance(data, bytes) else check_text(data)
    return parse_upload(text, csv_format=csv_format, header=header)
