"""Shop management commands on the bot's entry point (``python -m app product …``).

Each command is registered with ``set_defaults(handler=...)``; a handler is
``async def handler(args, session_factory) -> int`` (the exit code) and prints its result.
The commands use the bot's settings and database. Like the bot, a command first brings the
schema to head (the same :func:`app.db.migrate.migrate`, under the same lock), so a seller's
first command works on a fresh database; with ``--no-migrate`` it waits for head as a replica
does and never changes the schema.

    python -m app product add --slug SLUG --title TITLE --price STARS [--category NAME]
                              [--description TEXT]
    python -m app product list
    python -m app stock import --product SLUG [--csv] [--header auto|skip|keep] FILE
                                                    (FILE "-" reads stdin)
    python -m app promo add|list|disable …       (see app.promo_cli)
    python -m app [--no-migrate] COMMAND …    (or COMMAND … --no-migrate)
    python -m app migrations lint [REVISION …]   (no database needed; see app.migrations_cli)

Results go to stdout; an error is one line on stderr, with exit code 2 for input the command
refuses and 1 for the database (see :mod:`app.command_errors`).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app import heap, migrations_cli, promo_cli
from app.command_errors import EXIT_OK, fail, refuse, refuse_input
from app.config import DatabaseSettings, load_settings
from app.db.engine import (
    create_engine,
    create_session_factory,
    describe_error,
    wait_for_database,
)
from app.db.migrate import migrate, wait_for_head
from app.db.uow import read, write
from app.i18n import translator
from app.modes import Mode
from app.services import products, restock, stock
from app.services.products import ShopInputError
from app.stock_import import import_items

CommandHandler = Callable[[argparse.Namespace, async_sessionmaker[AsyncSession]], Awaitable[int]]
StandaloneHandler = Callable[[argparse.Namespace, DatabaseSettings], Awaitable[int]]

# --- product ----------------------------------------------------------------------------


async def product_add(args: argparse.Namespace, factory: async_sessionmaker[AsyncSession]) -> int:
    async with factory() as session:
        try:
            async with write(session):
                product = await products.create_product(
                    session,
                    slug=args.slug,
                    title=args.title,
                    price=args.price,
                    category=args.category,
                    description=args.description,
                )
        except ShopInputError as exc:
            return refuse_input(exc)
        print(f"added product {product.slug!r} ({product.title}) at {product.price} Stars")
    return EXIT_OK


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    cells = [[str(c) for c in header], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    numeric = [i for i in range(len(header)) if all(isinstance(r[i], int) for r in rows)]
    lines = []
    for row in cells:
        parts = [
            cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        lines.append("  ".join(parts).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


async def product_list(args: argparse.Namespace, factory: async_sessionmaker[AsyncSession]) -> int:
    async with factory() as session, read(session):
        rows = await products.product_rows(session)
    if not rows:
        print("no products yet; add one with: python -m app product add --help")
        return EXIT_OK
    header = ("slug", "title", "price", "category", "active", "available", "reserved", "sold")
    table = [
        (r.slug, r.title, r.price, r.category or "-", "yes" if r.is_active else "no", *counts)
        for r in rows
        for counts in [(r.available, r.reserved, r.sold)]
    ]
    for line in _table(header, table):
        print(line)
    return EXIT_OK


# --- stock ------------------------------------------------------------------------------


async def _read(source: str) -> bytes:
    if source == "-":
        return await asyncio.to_thread(sys.stdin.buffer.read)
    return await asyncio.to_thread(Path(source).read_bytes)


def _unreadable(name: str, exc: ValueError) -> str:
    """Why nothing of the upload ``name`` was added."""
    if isinstance(exc, stock.UploadTooLargeError):
        return (
            f"the upload is over {stock.MAX_UPLOAD_BYTES // 2**20} MB; split it; nothing was added"
        )
    if isinstance(exc, stock.MalformedCsvError):
        if exc.too_large:
            kb = stock.MAX_CSV_FIELD // 1024
            return f"{name} line {exc.line}: a CSV field over {kb} KiB; nothing was added"
        return f"{name} line {exc.line}: malformed CSV ({exc.reason}); nothing was added"
    return f"{name} is not UTF-8 text; nothing was added"


async def stock_import(args: argparse.Namespace, factory: async_sessionmaker[AsyncSession]) -> int:
    try:
        data = await _read(args.file)
    except OSError as exc:
        return refuse(f"cannot read {args.file}: {exc.strerror or exc}")
    csv_format = args.csv or stock.is_csv(args.file)
    try:
        parsed = stock.read_upload(data, csv_format=csv_format, header=args.header)
    except (stock.NotTextError, stock.UploadTooLargeError, stock.MalformedCsvError) as exc:
        return refuse(_unreadable("stdin" if args.file == "-" else args.file, exc))
    async with factory() as session:
        try:
            async with read(session):
                product = await products.require_product(session, args.product)
        except ShopInputError as exc:
            return refuse_input(exc)
        result = await import_items(session, product.id, parsed)
    if result.header is not None:
        print(f"skipped the header row {result.header!r} (use --header keep to add it)")
    print(
        f"{product.slug}: added {result.added}, duplicates {result.duplicates}, "
        f"blank lines skipped {result.blank}"
    )
    if result.restock is not None:  # the bot's broadcast worker sends it
        print(restock.owner_line(translator("en"), result.restock))
    return EXIT_OK


# --- wiring -----------------------------------------------------------------------------

NO_MIGRATE_HELP = (
    "never change the schema: wait (SCHEMA_WAIT_TIMEOUT) until another process has brought "
    "it to head, as a replica does. Without it the command migrates to head first"
)


class ShopCommand(Mode):
    """A shop command: the database's settings only, then :func:`run_command`."""

    def load(self, args: argparse.Namespace) -> DatabaseSettings:
        return load_settings(DatabaseSettings)

    async def run(self, args: argparse.Namespace, settings: DatabaseSettings) -> int:
        heap.settle()  # the bot settles once it is ready; a command is ready now
        return await run_command(args, settings)


COMMAND = ShopCommand()


def command_parser(
    commands: Any, name: str, *, mode: ShopCommand = COMMAND, **kwargs: Any
) -> argparse.ArgumentParser:
    """A shop command's parser; it also takes ``--no-migrate`` after the command's name."""
    parser: argparse.ArgumentParser = commands.add_parser(name, **kwargs)
    parser.set_defaults(mode=mode)
    # SUPPRESS: when absent here, the value given before the command (or False) stays.
    parser.add_argument(
        "--no-migrate", action="store_true", default=argparse.SUPPRESS, help=NO_MIGRATE_HELP
    )
    return parser


def register_commands(commands: Any) -> None:
    """Add the management sub-commands to the CLI's sub-parsers."""
    product = commands.add_parser("product", help="add and list products")
    product_commands = product.add_subparsers(dest="action", metavar="ACTION", required=True)

    add = command_parser(product_commands, "add", help="add a product (and its category if new)")
    add.add_argument("--slug", required=True, help="short id: a-z, 0-9 and dashes")
    add.add_argument("--title", required=True)
    add.add_argument("--price", required=True, help="price in Telegram Stars (whole number)")
    add.add_argument("--category", help="category name; created when missing")
    add.add_argument("--description", default="")
    add.set_defaults(handler=product_add)

    listing = command_parser(product_commands, "list", help="products with stock counts")
    listing.set_defaults(handler=product_list)

    stock_parser = commands.add_parser("stock", help="upload stock")
    stock_commands = stock_parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    upload = command_parser(
        stock_commands,
        "import",
        help="add items from a text file, one per line (duplicates are skipped)",
    )
    upload.add_argument("--product", required=True, metavar="SLUG")
    upload.add_argument("--csv", action="store_true", help="take the first CSV column")
    upload.add_argument(
        "--header",
        choices=("auto", "skip", "keep"),
        default="auto",
        help="CSV: the first row is a header to skip when its first cell is a column name "
        "such as 'key' or 'code' (auto, the default), always (skip) or never (keep)",
    )
    upload.add_argument("file", metavar="FILE", help="a .txt or .csv file, or - for stdin")
    upload.set_defaults(handler=stock_import)

    promo_cli.register(commands, command_parser)
    migrations_cli.register(commands).set_defaults(mode=COMMAND)


async def run_command(args: argparse.Namespace, settings: DatabaseSettings) -> int:
    """Reach the database, bring the schema to head (or wait for it), then run the handler.

    A command registered with ``set_defaults(standalone=...)`` needs no database at all.
    """
    standalone: StandaloneHandler | None = getattr(args, "standalone", None)
    if standalone is not None:
        return await standalone(args, settings)
    handler: CommandHandler = args.handler
    engine = create_engine(settings.database_url, **settings.pool_options)
    try:
        await wait_for_database(engine, settings.db_connect_timeout)
        if args.no_migrate:
            report = await wait_for_head(engine, settings)
        else:
            report = await migrate(engine, settings)
        if report.after != report.before:  # at head already, a command prints only its result
            report.log_ready("no-migrate" if args.no_migrate else "command", settings)
        return await handler(args, create_session_factory(engine))
    except SQLAlchemyError as exc:
        # One line, the database's own words: never the statement's parameters (the goods).
        return fail(f"database error: {describe_error(exc)}")
    finally:
        await engine.dispose()
