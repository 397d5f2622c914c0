"""Smoke test of the package as installed: ``python -m tests.smoke_installed --python PY``.

``PY`` is the interpreter of a fresh virtualenv into which the built wheel was installed
without ``-e`` (``.ci/run`` builds and installs it). From an empty folder, on the SQLite
default (no DATABASE_URL), it adds a product and imports stock with the installed CLI, then
starts the installed bot against the fake Bot API (which runs here, in this process of the
source tree), sends /start as an ``en`` and as a ``ru`` user, and checks each reply against
the catalogs' source texts. Exits 1 with the reason on the first thing that is wrong.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
from pathlib import Path

from tests.fake_api import FakeBotAPI
from tests.fake_api.formatting import message_text
from tests.i18n_catalogs import read_catalog, texts
from tests.processes import clean_env

TOKEN = "123456:SMOKE-token-for-the-fake-bot-api"
USERS = {"en": 5001, "ru": 5002}
TIMEOUT = 90.0
SOURCE_TREE = Path(__file__).resolve().parent.parent.as_posix()


class SmokeError(Exception):
    pass


def _expected(language: str, user_id: int) -> str:
    """The /start reply as Telegram shows it: the catalog's HTML, parsed."""
    catalog = texts(read_catalog(language))
    html = catalog["buyer.menu.welcome"][0].format(name=f"User{user_id}")
    html += "\n\n" + catalog["buyer.menu.title"][0]
    return str(message_text({"text": html, "parse_mode": "HTML"})["text"])


async def _run(python: str, *args: str, cwd: Path, env: dict[str, str]) -> str:
    process = await asyncio.create_subprocess_exec(
        python, *args, cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(process.communicate(), TIMEOUT)
    output = out.decode(errors="replace")
    if process.returncode != 0:
        raise SmokeError(f"`{' '.join(args)}` exited {process.returncode}:\n{output}")
    return output


async def smoke(python: str, workdir: Path) -> None:
    """Everything above, in ``workdir`` (an empty folder)."""
    env = clean_env()
    env.pop("PYTHONPATH", None)
    env.update(PYTHONUNBUFFERED="1", LOG_FORMAT="json", BOT_TOKEN=TOKEN)

    where = await _run(python, "-c", "import app; print(app.__file__)", cwd=workdir, env=env)
    if SOURCE_TREE in where:
        raise SmokeError(f"`app` is imported from the source tree, not the wheel: {where}")

    add = ("product", "add", "--slug", "smoke-key", "--title", "Smoke key", "--price", "5")
    await _run(python, "-m", "app", *add, cwd=workdir, env=env)
    keys = workdir / "keys.csv"
    await asyncio.to_thread(keys.write_text, "key,note\nSMOKE-1,a\nSMOKE-2,b\n", "utf-8")
    imported = await _run(
        python, "-m", "app", "stock", "import", "--product", "smoke-key", "keys.csv",
        cwd=workdir, env=env,
    )  # fmt: skip
    if "smoke-key: added 2, duplicates 0" not in imported:
        raise SmokeError(f"unexpected stock import report:\n{imported}")
    if "market.db" not in await _run(
        python, "-c", "import os; print(os.listdir())", cwd=workdir, env=env
    ):
        raise SmokeError("the SQLite default market.db was not created in the working folder")

    async with FakeBotAPI(TOKEN) as api:
        env["TELEGRAM_API_URL"] = api.url
        bot = await asyncio.create_subprocess_exec(
            python, "-m", "app", cwd=workdir, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        try:
            await api.wait_for("getUpdates", timeout=TIMEOUT)
            for language, user_id in USERS.items():
                api.message(user_id, "/start", language_code=language)
                await api.wait_for(
                    "sendMessage", lambda p, u=user_id: p["chat_id"] == u, timeout=TIMEOUT
                )
                got = api.sent_to(user_id)[-1].get("text")
                if got != _expected(language, user_id):
                    raise SmokeError(f"/start in {language!r} answered {got!r}")
        finally:
            if bot.returncode is None:
                bot.send_signal(signal.SIGTERM)
            out, _ = await asyncio.wait_for(bot.communicate(), TIMEOUT)
        log = out.decode(errors="replace")
        if bot.returncode != 0 or "Traceback" in log or "FileNotFoundError" in log:
            raise SmokeError(f"the bot exited {bot.returncode}:\n{log}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", required=True, help="the fresh virtualenv's interpreter")
    parser.add_argument("--workdir", type=Path, help="an empty folder (default: a new one)")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="smoke-"))
    workdir.mkdir(parents=True, exist_ok=True)
    if any(workdir.iterdir()):
        print(f"smoke test: {workdir} is not empty")  # noqa: T201
        return 1
    try:
        asyncio.run(smoke(os.fspath(args.python), workdir))
    except (SmokeError, TimeoutError) as exc:
        print(f"smoke test of the installed package FAILED: {exc or type(exc).__name__}")  # noqa: T201
        return 1
    print(f"smoke test of the installed package passed ({workdir})")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
