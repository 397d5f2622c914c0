"""The management CLI (``python -m app product …``, ``stock import``) on a migrated SQLite or
PostgreSQL database.

The commands' behaviour is checked in-process (the real parser and handlers, output captured);
two real ``python -m app`` subprocesses (run concurrently: each start imports aiogram) prove
the entry point end to end without a BOT_TOKEN: a stdin import and a clean error exit.
"""

from __future__ import annotations

import asyncio
import io
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import URL

from app.cli import build_parser
from app.command_errors import EXIT_BAD_INPUT
from app.db.models import Category, ItemStatus, Product, StockItem
from tests.processes import clean_env, url_env
from tests.shop_helpers import SessionFactory, add_stock, items_of, seed_product

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01"


@dataclass
class Run:
    code: int
    out: str
    err: str


class InProcess:
    """Parses argv with the CLI's parser and awaits the chosen handler, capturing output."""

    def __init__(
        self,
        session_factory: SessionFactory,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        self.session_factory = session_factory
        self.capsys = capsys
        self.monkeypatch = monkeypatch

    async def __call__(self, *argv: str, stdin: bytes = b"") -> Run:
        stream = io.TextIOWrapper(io.BytesIO(stdin))
        self.monkeypatch.setattr(sys, "stdin", stream)
        args = build_parser().parse_args(argv)
        self.capsys.readouterr()
        code = await args.handler(args, self.session_factory)
        captured = self.capsys.readouterr()
        return Run(code, captured.out, captured.err)


@pytest.fixture
def cli(
    session_factory: SessionFactory,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> InProcess:
    return InProcess(session_factory, capsys, monkeypatch)


async def test_product_add_and_list(cli: InProcess, session_factory: SessionFactory) -> None:
    added = await cli(
        "product", "add", "--slug", "game-key", "--title", "Game key", "--price", "150",
        "--category", "Games", "--description", "A key",
    )  # fmt: skip
    assert (added.code, added.err) == (0, "")
    assert added.out.strip() == "added product 'game-key' (Game key) at 150 Stars"
    plain = await cli("product", "add", "--slug", "plain", "--title", "Plain", "--price", "5")
    assert plain.code == 0
    again = await cli(
        "product", "add", "--slug", "other", "--title", "O", "--price", "5", "--category", "games"
    )
    assert again.code == 0

    async with session_factory() as session:
        product = (await session.scalars(select(Product).where(Product.slug == "game-key"))).one()
        category = (await session.scalars(select(Category))).one()  # "games" found "Games"
    assert (product.title, product.price, product.description) == ("Game key", 150, "A key")
    assert (category.title, product.category_id) == ("Games", category.id)

    items = await add_stock(session_factory, product.id, ["A", "B", "C"])
    async with session_factory() as session:
        for item_id, status in zip(items[:2], [ItemStatus.RESERVED, ItemStatus.SOLD], strict=True):
            item = await session.get(StockItem, item_id)
            assert item is not None
            item.status = status.value
        await session.commit()

    listing = await cli("product", "list")
    assert listing.code == 0
    lines = listing.out.strip().splitlines()
    assert lines[0].split() == [
        "slug", "title", "price", "category", "active", "available", "reserved", "sold",
    ]  # fmt: skip
    assert set(lines[1]) <= {"-", " "}
    rows = {line.split()[0]: line.split() for line in lines[2:]}
    assert rows["game-key"] == ["game-key", "Game", "key", "150", "Games", "yes", "1", "1", "1"]
    assert rows["plain"] == ["plain", "Plain", "5", "-", "yes", "0", "0", "0"]


async def test_product_add_errors_are_one_clear_line(
    cli: InProcess, session_factory: SessionFactory
) -> None:
    await seed_product(session_factory, "Taken", 10, slug="taken")
    cases = [
        (["--slug", "taken", "--price", "10"], "already exists"),
        (["--slug", "Bad Slug", "--price", "10"], "“Bad Slug” is not a valid slug"),
        (["--slug", "free", "--price", "0"], "“0” is not a valid price"),
        (["--slug", "free", "--price", "ten"], "“ten” is not a valid price"),
        (["--slug", "free", "--price", "5", "--title", "T" * 40], "title must be 1 to 32"),
    ]
    for args, message in cases:
        result = await cli("product", "add", "--title", "T", *args)
        assert (result.code, result.out) == (EXIT_BAD_INPUT, ""), args
        assert result.err.startswith("error: "), args
        assert message in result.err, (args, result.err)
    async with session_factory() as session:
        assert list(await session.scalars(select(Product.slug))) == ["taken"]


async def test_stock_import_from_files_and_stdin(
    cli: InProcess, session_factory: SessionFactory, tmp_path: Path
) -> None:
    product_id = await seed_product(session_factory, "Key", 10, ["OLD"], slug="key")
    keys = tmp_path / "keys.txt"
    keys.write_bytes(b"K1\n  K2  \n\nK1\nOLD\n")
    result = await cli("stock", "import", "--product", "key", str(keys))
    assert (result.code, result.err) == (0, "")
    assert result.out.strip() == "key: added 2, duplicates 2, blank lines skipped 1"

    piped = await cli("stock", "import", "--product", "key", "-", stdin=b"K3\r\nK2\r\n\r\n")
    assert piped.out.strip() == "key: added 1, duplicates 1, blank lines skipped 1"
    table = tmp_path / "keys.csv"
    table.write_text('K4,note\n"K5",x\n')
    from_csv = await cli("stock", "import", "--product", "key", str(table))
    assert from_csv.out.strip() == "key: added 2, duplicates 0, blank lines skipped 0"
    forced = await cli("stock", "import", "--csv", "--product", "key", "-", stdin=b"K6,a\n")
    assert forced.out.strip() == "key: added 1, duplicates 0, blank lines skipped 0"

    contents = sorted(item.content for item in await items_of(session_factory, product_id))
    assert contents == ["K1", "K2", "K3", "K4", "K5", "K6", "OLD"]


async def test_stock_import_errors_add_nothing(
    cli: InProcess, session_factory: SessionFactory, tmp_path: Path
) -> None:
    product_id = await seed_product(session_factory, "Key", 10, slug="key")
    image = tmp_path / "keys.txt"
    image.write_bytes(b"GOOD\n" + PNG)
    keys = tmp_path / "good.txt"
    keys.write_text("GOOD\n")
    cases = [
        (["--product", "key", str(image)], "keys.txt is not UTF-8 text; nothing was added"),
        (["--product", "key", "-"], "stdin is not UTF-8 text; nothing was added"),
        (["--product", "nope", str(keys)], "There is no product with the slug “nope”."),
        (["--product", "key", str(tmp_path / "missing.txt")], "cannot read"),
    ]
    for args, message in cases:
        result = await cli("stock", "import", *args, stdin="ключ".encode("cp1251"))
        assert (result.code, result.out) == (EXIT_BAD_INPUT, ""), args
        assert message in result.err, (args, result.err)
    assert await items_of(session_factory, product_id) == []


# --- the real entry point -------------------------------------------------------------------


async def _python_m_app(url: URL, cwd: Path, *args: str, stdin: bytes = b"") -> Run:
    env = clean_env()  # no BOT_TOKEN: the shop commands need only the database
    env.update(DATABASE_URL=url_env(url), LOG_FORMAT="json", SCHEMA_WAIT_TIMEOUT="5")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app", *args,
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(stdin), timeout=120)
    assert process.returncode is not None
    return Run(process.returncode, out.decode(), err.decode())


async def test_python_m_app_commands_as_processes(
    migrated_db_url: URL, session_factory: SessionFactory, tmp_path: Path
) -> None:
    product_id = await seed_product(session_factory, "Key", 10, ["OLD"], slug="key")
    imported, duplicate = await asyncio.gather(
        _python_m_app(
            migrated_db_url, tmp_path, "stock", "import", "--product", "key", "-",
            stdin=b"S1\n\nS2\nOLD\nS1\n",
        ),
        _python_m_app(
            migrated_db_url, tmp_path,
            "product", "add", "--slug", "key", "--title", "K", "--price", "7",
        ),
    )  # fmt: skip
    assert (imported.code, imported.err) == (0, ""), imported
    assert "key: added 2, duplicates 2, blank lines skipped 1" in imported.out
    assert duplicate.code == EXIT_BAD_INPUT, duplicate
    assert duplicate.err.strip() == (
        "error: A product with the slug “key” already exists; choose another slug."
    )
    assert "Traceback" not in imported.out + duplicate.out
    contents = sorted(item.content for item in await items_of(session_factory, product_id))
    assert contents == ["OLD", "S1", "S2"]
    async with session_factory() as session:
        assert list(await session.scalars(select(Product.slug))) == ["key"]
