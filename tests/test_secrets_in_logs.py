"""Keys, tokens and passwords never reach a log line: a database error during a stock import
(through the bot and through the CLI), a password in the database URL's query string, and
control characters in pasted stock."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url

from app.config import database_url_secrets, mask_database_url
from app.db.engine import create_engine
from app.logs import configure_logging, redact_database_values
from tests.harness import ADMIN_ID, RunningBot
from tests.processes import clean_env, url_env
from tests.shop_helpers import Customer, items_of, seed_product

KEYS = ("SECRET-KEY-0001", "SECRET-KEY-0002")
QUERY_PASSWORD = "hunter2-in-the-query"


async def _break_stock_inserts(url: URL) -> None:
    """Every insert into stock_items fails from now on, with the database's own error.

    On PostgreSQL a CHECK constraint: its error quotes the whole failing row in DETAIL (the key
    itself). SQLite has no such detail; a trigger aborts the insert.
    """
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            if url.get_backend_name() == "postgresql":
                await connection.execute(
                    text(
                        "ALTER TABLE stock_items ADD CONSTRAINT forced_failure "
                        "CHECK (length(content) < 0) NOT VALID"
                    )
                )
            else:
                await connection.execute(
                    text(
                        "CREATE TRIGGER forced_failure BEFORE INSERT ON stock_items "
                        "BEGIN SELECT RAISE(ABORT, 'forced_failure'); END"
                    )
                )
    finally:
        await engine.dispose()


async def test_a_database_error_during_an_import_logs_no_key(
    shop: RunningBot, capsys: pytest.CaptureFixture[str]
) -> None:
    product_id = await seed_product(shop.session_factory, "Game key", 10, slug="game-key")
    await _break_stock_inserts(shop.settings.database_url)
    configure_logging("INFO", json=True)
    capsys.readouterr()

    update = shop.api.message(ADMIN_ID, "/stock game-key\n" + "\n".join(KEYS))
    with pytest.raises(AssertionError, match="failed"):
        await shop.tracker.wait(update["update_id"])

    output = capsys.readouterr().out
    assert "forced_failure" in output  # the error and its traceback were logged…
    assert "Traceback" in output
    for key in KEYS:  # …without the keys: neither the parameters nor PostgreSQL's DETAIL
        assert key not in output
    assert await items_of(shop.session_factory, product_id) == []


async def test_a_database_error_in_the_stock_import_command_is_one_line_without_keys(
    db_url: URL, tmp_path: Path
) -> None:
    env = clean_env()
    env.update(DATABASE_URL=url_env(db_url), LOG_FORMAT="json")
    keys = tmp_path / "keys.txt"
    keys.write_text("\n".join(KEYS) + "\n")

    async def run(*argv: str) -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "app", *argv, cwd=tmp_path, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(process.communicate(), 120)
        return await process.wait(), out.decode()

    add = ("product", "add", "--slug", "game-key", "--title", "Game key", "--price", "10")
    assert (await run(*add))[0] == 0
    await _break_stock_inserts(db_url)
    code, output = await run("stock", "import", "--product", "game-key", str(keys))
    assert code == 1
    assert "error: database error: " in output and "forced_failure" in output
    assert "Traceback" not in output
    for key in KEYS:
        assert key not in output


def test_postgresql_row_values_are_redacted_from_error_details() -> None:
    error = (
        'new row for relation "stock_items" violates check constraint "forced_failure"\n'
        "DETAIL:  Failing row contains (7, 1, text, SECRET-KEY-0001, 5e88, available).\n"
        "DETAIL:  Key (product_id, content)=(1, SECRET-KEY-0002) already exists."
    )
    redacted = redact_database_values(error)
    assert "SECRET-KEY" not in redacted
    assert redacted.splitlines()[0] == error.splitlines()[0]
    assert "Failing row contains (values redacted)" in redacted


@pytest.mark.parametrize("key", ["password", "sslpassword", "PASSWORD", "auth_token", "secret"])
def test_secret_query_values_are_masked_in_the_database_url(key: str) -> None:
    url = make_url(
        f"postgresql+asyncpg://shop:pw-in-userinfo@db:5432/shop?{key}=s3cr3t&sslmode=require"
    )
    shown = mask_database_url(url)
    assert "s3cr3t" not in shown and "pw-in-userinfo" not in shown
    assert f"{key}=***" in shown and "sslmode=require" in shown
    assert {"s3cr3t", "pw-in-userinfo"} <= set(database_url_secrets(url))


async def test_a_password_in_the_query_string_never_reaches_the_logs(
    pg_url: URL, tmp_path: Path
) -> None:
    """asyncpg takes ``?password=``; every start logs the database it uses (masked)."""
    env = clean_env()
    with_password = pg_url.update_query_dict({"password": QUERY_PASSWORD})
    env.update(DATABASE_URL=url_env(with_password), LOG_FORMAT="json")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app", "product", "list", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(process.communicate(), 120)
    output = out.decode()
    assert await process.wait() == 0, output
    assert '"event": "schema ready"' in output
    assert "password=***" in output
    assert QUERY_PASSWORD not in output


async def test_pasted_stock_with_control_characters_adds_nothing(shop: RunningBot) -> None:
    admin = Customer(shop.api, shop.tracker, ADMIN_ID)
    product_id = await seed_product(shop.session_factory, "Game key", 10, slug="game-key")
    for pasted in ("GOOD-1\nBAD\x1b[31m-2", "GOOD-1\nBAD\x00", "GOOD-1\nBAD\x9b31m"):
        await admin.send(f"/stock game-key\n{pasted}")
        assert admin.texts()[-1] == (
            "The text has control characters, so nothing was added. "
            "Paste plain text, one item per line."
        )
    assert await items_of(shop.session_factory, product_id) == []
