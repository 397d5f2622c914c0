"""The shop commands on a fresh database: by default they migrate to head first, under the same
lock as the bot; with ``--no-migrate`` they wait for head as a replica does, logging sparsely.

Every case runs real ``python -m app`` processes, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from app.cli import build_parser, main
from tests.processes import clean_env, run_alembic, start_bot, url_env
from tests.schema import all_revisions, head, heads_of, scalar, table_exists

WAITING = "waiting for the schema to reach head"


@dataclass
class Run:
    code: int
    out: str
    err: str

    def records(self) -> list[dict[str, object]]:
        """The JSON log lines among the command's stdout (its own output is plain text)."""
        return [json.loads(line) for line in self.out.splitlines() if line.startswith("{")]

    def events(self) -> list[object]:
        return [record["event"] for record in self.records()]


def _env(url: URL, **extra: str) -> dict[str, str]:
    env = clean_env()  # no BOT_TOKEN: the shop commands need only the database
    env.update({"DATABASE_URL": url_env(url), "LOG_FORMAT": "json", "SCHEMA_WAIT_TIMEOUT": "60"})
    env.update(extra)
    return env


async def _run(url: URL, cwd: Path, *args: str, stdin: bytes = b"", **env: str) -> Run:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app", *args,
        cwd=cwd,
        env=_env(url, **env),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(stdin), timeout=120)
    assert process.returncode is not None
    return Run(process.returncode, out.decode(), err.decode())


def _add(slug: str, *extra: str) -> list[str]:
    return ["product", "add", "--slug", slug, "--title", slug.title(), "--price", "10", *extra]


async def test_commands_migrate_a_fresh_database_exactly_once(db_url: URL, tmp_path: Path) -> None:
    """A seller's first commands, started together on an empty database: one of them migrates
    under the lock, the others find head, and every command does its job."""
    runs = await asyncio.gather(
        _run(db_url, tmp_path, *_add("first")),
        _run(db_url, tmp_path, *_add("second")),
        _run(db_url, tmp_path, "product", "list"),
    )
    for run in runs:
        assert (run.code, run.err) == (0, ""), run
        assert "Traceback" not in run.out
    appliers = [run for run in runs if "migration step applied" in run.events()]
    assert len(appliers) == 1, runs
    assert appliers[0].events().count("migration step applied") == len(all_revisions())
    summary = next(r for r in appliers[0].records() if r["event"] == "schema ready")
    assert (summary["role"], summary["revision_after"]) == ("command", head())
    assert "added product 'first'" in runs[0].out and "added product 'second'" in runs[1].out
    assert await heads_of(db_url) == (head(),)
    assert await scalar(db_url, "SELECT count(*) FROM products") == 2

    imported = await _run(db_url, tmp_path, "stock", "import", "--product", "first", "-",
                          stdin=b"K1\nK2\n")  # fmt: skip
    assert (imported.code, imported.err) == (0, ""), imported
    assert imported.out.strip() == "first: added 2, duplicates 0, blank lines skipped 0"


async def test_no_migrate_command_waits_for_head_then_runs(db_url: URL, tmp_path: Path) -> None:
    """``--no-migrate`` after the command's name: no DDL; it runs once a release migrated."""
    waiting = await start_bot(_env(db_url), *_add("later", "--no-migrate"), cwd=tmp_path)
    try:
        for _ in range(600):
            if any(f'"{WAITING}"' in line for line in waiting.lines):
                break
            assert waiting.process.returncode is None, waiting.output
            await asyncio.sleep(0.1)
        assert not await table_exists(db_url, "products")  # it never migrates
        result = await asyncio.to_thread(run_alembic, "upgrade", "head", database_url=db_url)
        assert result.returncode == 0, result.stderr
        code = await waiting.wait(within=60)
    finally:
        await waiting.stop()
    assert code == 0, waiting.output
    assert "added product 'later' (Later) at 10 Stars" in waiting.output
    events = [json.loads(line)["event"] for line in waiting.lines if line.startswith("{")]
    assert "migration step applied" not in events
    assert await scalar(db_url, "SELECT count(*) FROM products") == 1


async def test_no_migrate_wait_logs_once_and_gives_up_cleanly(db_url: URL, tmp_path: Path) -> None:
    """The wait logs when it starts, then only every 10 s (not on every poll), and a timeout is
    one clear line and exit 1; the empty database stays untouched."""
    run = await _run(db_url, tmp_path, "--no-migrate", "product", "list", SCHEMA_WAIT_TIMEOUT="3")
    assert run.code == 1, run
    assert "Traceback" not in run.out + run.err
    waits = [r for r in run.records() if r["event"] == WAITING]
    assert len(waits) == 1, run.out
    assert (waits[0]["current"], waits[0]["head"]) == ("base", head())
    [error] = [r for r in run.records() if r["level"] == "error"]
    assert str(error["event"]).startswith(
        f"not starting: the database is at revision base but this code needs "
        f"{head()}; gave up after SCHEMA_WAIT_TIMEOUT=3s"
    )
    assert await heads_of(db_url) == ()
    assert not await table_exists(db_url, "products")


@pytest.mark.parametrize(
    "argv",
    [
        ["--no-migrate", "product", "list"],
        ["product", "list", "--no-migrate"],
        ["--no-migrate", "stock", "import", "--product", "x", "-"],
        ["stock", "import", "--no-migrate", "--product", "x", "-"],
    ],
)
def test_no_migrate_is_accepted_before_or_after_the_command(argv: list[str]) -> None:
    assert build_parser().parse_args(argv).no_migrate is True


def test_commands_migrate_unless_told_otherwise() -> None:
    assert build_parser().parse_args(["product", "list"]).no_migrate is False


def test_no_migrate_with_the_release_step_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--no-migrate", "migrate"])
    assert stopped.value.code == 2
    assert "--no-migrate never changes the schema" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [["--webhook", "product", "list"], ["--webhook", "migrate"], ["--webhook", "promo", "list"]],
)
def test_webhook_with_a_command_is_refused(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    assert "--webhook runs the bot; it cannot be combined with a command" in capsys.readouterr().err


# Input each shop command refuses, and the words of its one line on stderr.
BAD_INPUT = [
    (["product", "add", "--slug", "Bad Slug!", "--title", "T", "--price", "5"], "not a valid slug"),
    (["product", "add", "--slug", "ok", "--title", "T", "--price", "0"], "not a valid price"),
    (["stock", "import", "--product", "nope", "keys.txt"], "no product with the slug “nope”"),
    (["stock", "import", "--product", "nope", "missing.txt"], "cannot read missing.txt"),
    (["stock", "import", "--product", "nope", "image.png"], "image.png is not UTF-8 text"),
    (["promo", "add", "BAD!", "5"], "A promo code is 3 to 32 characters"),
    (["promo", "add", "ABC", "10%", "until=9999-12-31"], "until must be a date YYYY-MM-DD"),
    (["promo", "add", "ABC", "5", "scope=product:nope"], "no product with the slug “nope”"),
    (["promo", "disable", "NOPE"], "There is no promo code NOPE."),
]


@pytest.mark.parametrize(
    ("argv", "words"), BAD_INPUT, ids=[" ".join(argv[:2]) for argv, _ in BAD_INPUT]
)
async def test_bad_input_exits_2_with_one_line(
    sqlite_url: URL, tmp_path: Path, argv: list[str], words: str
) -> None:
    """Every shop command refuses bad input alike, on a fresh database: exit code 2 (a usage
    error; 1 is for the database), one line on stderr, no traceback, nothing on stdout but the
    migration's log."""
    (tmp_path / "keys.txt").write_text("KEY-1\n")
    (tmp_path / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")
    run = await _run(sqlite_url, tmp_path, *argv)
    assert run.code == 2, run
    assert run.err.endswith("\n") and run.err.count("\n") == 1, run.err
    assert run.err.startswith("error: ") and words in run.err, run.err
    assert "Traceback" not in run.out + run.err
    assert [line for line in run.out.splitlines() if not line.startswith("{")] == [], run.out
