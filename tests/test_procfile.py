"""Every role of the Procfile, run as its line says, in the order a deployment starts them."""

from __future__ import annotations

import asyncio
import shlex
import socket
import sys
from pathlib import Path

import aiohttp
from sqlalchemy.engine import URL

from app.bot.webhook_handler import SECRET_HEADER
from tests.admin_helpers import admin_env, wait_serving
from tests.fake_api import FakeBotAPI
from tests.harness import BOT_TOKEN
from tests.processes import REPO_ROOT, BotProcess, bot_env
from tests.schema import head, heads_of

SECRET = "procfile-test-secret-0123456789abcdef"
WEBHOOK_URL = "https://shop.example.com"


def procfile() -> dict[str, list[str]]:
    roles = {}
    for line in (REPO_ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            role, command = line.split(":", 1)
            argv = shlex.split(command)
            assert argv[0] == "python", f"{role}: expected a python command, got {argv[0]}"
            roles[role.strip()] = [sys.executable, *argv[1:]]
    return roles


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _run(argv: list[str], env: dict[str, str], cwd: Path) -> BotProcess:
    process = await asyncio.create_subprocess_exec(
        *argv, cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    bot = BotProcess(process)
    bot._reader = asyncio.create_task(bot._read())
    return bot


async def _healthy(base: str, bot: BotProcess) -> dict[str, object]:
    async with aiohttp.ClientSession() as client:
        for _ in range(1200):
            assert bot.process.returncode is None, bot.output
            try:
                async with client.get(f"{base}/healthz") as response:
                    if response.status == 200:
                        body: dict[str, object] = await response.json()
                        return body
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"never healthy:\n{bot.output}")


async def test_every_procfile_role(pg_url: URL, tmp_path: Path) -> None:
    roles = procfile()
    assert set(roles) == {"release", "web", "worker", "admin"}, "a new role needs its test here"
    port = _free_port()
    extra = {
        "WEBHOOK_URL": WEBHOOK_URL,
        "WEBHOOK_SECRET": SECRET,
        "HOST": "127.0.0.1",
        "PORT": str(port),
    }
    async with FakeBotAPI(BOT_TOKEN) as api:
        env = bot_env(pg_url, api.url, **extra)

        # release: migrates and registers the webhook, then exits 0.
        release = await _run(roles["release"], env, tmp_path)
        assert await release.wait(within=120) == 0, release.output
        assert await heads_of(pg_url) == (head(),)
        [registered] = api.calls_of("setWebhook")
        assert registered["url"] == f"{WEBHOOK_URL}/webhook"

        # web: a replica; healthy at head, serves an update, never registers the webhook.
        web = await _run(roles["web"], env, tmp_path)
        try:
            base = f"http://127.0.0.1:{port}"
            assert await _healthy(base, web) == {"status": "ok"}
            [ready] = [r for r in web.records() if r["event"] == "health changed"][-1:]
            assert ready["status"] == "ok" and ready["revision"] == ready["head"] == head()
            update = api.build_message(4242, "/start")
            async with (
                aiohttp.ClientSession() as client,
                client.post(
                    f"{base}/webhook", json=update, headers={SECRET_HEADER: SECRET}
                ) as response,
            ):
                assert response.status == 200
            assert api.sent_to(4242), "the replica answered /start"
        finally:
            assert await web.stop() == 0, web.output
        assert len(api.calls_of("setWebhook")) == 1
        assert not api.calls_of("deleteWebhook")

    # worker: the long-polling alternative, on its own bot API.
    async with FakeBotAPI(BOT_TOKEN) as api:
        worker = await _run(roles["worker"], bot_env(pg_url, api.url), tmp_path)
        try:
            await api.wait_for("getUpdates", timeout=120)
        finally:
            assert await worker.stop() == 0, worker.output
        summary = next(r for r in worker.records() if r["event"] == "schema ready")
        assert summary["revision_before"] == summary["revision_after"] == head()

        # admin: the web panel beside the bot; serves its sign-in page, never migrates.
        admin_port = _free_port()
        admin = await _run(roles["admin"], admin_env(pg_url, api.url, admin_port), tmp_path)
        try:
            await wait_serving(f"http://127.0.0.1:{admin_port}", admin)
        finally:
            assert await admin.stop() == 0, admin.output
        ready = next(r for r in admin.records() if r["event"] == "schema ready")
        assert ready["role"] == "admin" and ready["steps"] == 0
