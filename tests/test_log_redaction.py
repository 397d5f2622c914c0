"""What PostgreSQL quotes in an error's DETAIL (the goods: "Key (content)=(KEY-1) already
exists.") and the secrets never reach a log line, in JSON (every line still parses) and on the
console: real violations on PostgreSQL, a key value of two lines, an expression key, secrets
with a quote, a backslash and a non-ASCII letter."""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import AsyncIterator

import pytest
import structlog
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.engine import create_engine
from app.logs import configure_logging

TWO_LINES = "SECRET-LINE-ONE\nSECRET-LINE-TWO"
PASSWORD = 'pa"ss\\wörd-42'  # a quote, a backslash, a non-ASCII letter
log = structlog.get_logger("tests.redaction")


@pytest.fixture
async def connection(pg_url: URL) -> AsyncIterator[AsyncConnection]:
    """A connection of the bot's own engine, with a table whose key is the goods."""
    engine = create_engine(pg_url)
    try:
        async with engine.connect() as connection:
            await connection.execute(text("CREATE TEMP TABLE goods (content text UNIQUE)"))
            await connection.execute(text("CREATE UNIQUE INDEX ON goods (lower(content || 'x'))"))
            yield connection
    finally:
        await engine.dispose()


async def _violation(connection: AsyncConnection, first: str, second: str) -> IntegrityError:
    await connection.execute(text("INSERT INTO goods VALUES (:v)"), {"v": first})
    with pytest.raises(IntegrityError) as caught:
        await connection.execute(text("INSERT INTO goods VALUES (:v)"), {"v": second})
    return caught.value


def _logged(capsys: pytest.CaptureFixture[str], error: BaseException, *, as_json: bool) -> str:
    configure_logging("INFO", json=as_json, secrets=[PASSWORD])
    capsys.readouterr()
    try:
        raise RuntimeError("saving the goods failed") from error
    except RuntimeError as exc:
        log.exception("insert failed", error=f"{type(error).__name__}: {error}")
        logging.getLogger("aiogram.dispatcher").error("stdlib too", exc_info=exc)
    output = capsys.readouterr().out
    if as_json:
        records = [json.loads(line) for line in output.splitlines()]  # every line is whole
        assert [r["event"] for r in records] == ["insert failed", "stdlib too"]
        assert all("UniqueViolationError" in r["exception"] for r in records)
    return output


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "console"])
async def test_a_key_of_two_lines_is_in_no_log_line(
    connection: AsyncConnection, capsys: pytest.CaptureFixture[str], as_json: bool
) -> None:
    error = await _violation(connection, TWO_LINES, TWO_LINES)
    output = _logged(capsys, error, as_json=as_json)
    assert "Key (content)=(values redacted)" in output
    assert "SECRET-LINE-ONE" not in output and "SECRET-LINE-TWO" not in output


async def test_an_expression_key_is_redacted_and_the_error_never_holds_it(
    connection: AsyncConnection, capsys: pytest.CaptureFixture[str]
) -> None:
    error = await _violation(connection, "Secret-Expr-Key", "SECRET-EXPR-KEY")
    # The engine took the values out before raising: no traceback, str or repr holds them.
    written = "".join(traceback.format_exception(error)) + repr(error.orig)
    assert "secret-expr-key" not in written.lower()
    output = _logged(capsys, error, as_json=True)
    assert "Key (lower(content || 'x'::text))=(values redacted)" in output
    assert "secret-expr-key" not in output.lower()


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "console"])
def test_a_secret_with_a_quote_and_a_non_ascii_letter_is_masked(
    capsys: pytest.CaptureFixture[str], as_json: bool
) -> None:
    class Dsn:
        def __repr__(self) -> str:
            return f"Dsn('postgresql://shop:{PASSWORD}@db/shop')"

    configure_logging("INFO", json=as_json, secrets=[PASSWORD])
    capsys.readouterr()
    log.info("as text", dsn=f"postgresql://shop:{PASSWORD}@db/shop")
    log.info("as an object", dsn=Dsn(), error=KeyError(PASSWORD))  # shown by their repr
    try:
        raise ConnectionError(f"login refused for {PASSWORD!r}")
    except ConnectionError:
        logging.getLogger("asyncpg").exception("connect failed")
    output = capsys.readouterr().out
    if as_json:
        assert len([json.loads(line) for line in output.splitlines()]) == 3
    assert "wörd" not in output and "w\\u00f6rd" not in output
    assert output.count("***") >= 4
