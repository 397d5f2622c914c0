"""The web admin panel as a real ``python -m app admin`` process, and an HTTP client for it."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import aiohttp
from sqlalchemy.engine import URL

from app.admin_panel.passwords import hash_password
from tests.processes import BotProcess, bot_env, start_bot

PASSWORD = "correct horse battery staple"
_TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


@cache
def password_hash() -> str:
    return hash_password(PASSWORD)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def admin_env(database_url: URL, api_url: str, port: int, **extra: str) -> dict[str, str]:
    return bot_env(
        database_url,
        api_url,
        ADMIN_HOST="127.0.0.1",
        ADMIN_PORT=str(port),
        ADMIN_PANEL_PASSWORD_HASH=password_hash(),
        **extra,
    )


async def wait_serving(base: str, process: BotProcess, within: float = 120) -> None:
    """Until GET /admin/login answers 200; fails if the process exits first."""
    async with aiohttp.ClientSession() as client, asyncio.timeout(within):
        while True:
            assert process.process.returncode is None, process.output
            with contextlib.suppress(aiohttp.ClientConnectionError):
                async with client.get(f"{base}/admin/login") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def running_panel(
    database_url: URL, api_url: str, cwd: Path, **extra: str
) -> AsyncIterator[tuple[str, BotProcess]]:
    """``python -m app admin`` on a free port; yields its base URL and the process."""
    port = free_port()
    process = await start_bot(admin_env(database_url, api_url, port, **extra), "admin", cwd=cwd)
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_serving(base, process)
        yield base, process
    finally:
        assert await process.stop() == 0, process.output


def csrf_of(page: str) -> str:
    found = _TOKEN_RE.search(page)
    assert found, "the page has no CSRF token"
    return found.group(1)


@dataclass
class PanelClient:
    """A browser-like HTTP client: one cookie jar, redirects not followed."""

    base: str
    http: aiohttp.ClientSession

    async def page(self, path: str) -> tuple[int, str]:
        async with self.http.get(self.base + path, allow_redirects=False) as response:
            return response.status, await response.text()

    async def token(self, path: str = "/admin/login") -> str:
        status, body = await self.page(path)
        assert status == 200, (path, status)
        return csrf_of(body)

    async def post(
        self,
        path: str,
        data: dict[str, str] | aiohttp.FormData,
        headers: dict[str, str] | None = None,
    ) -> aiohttp.ClientResponse:
        async with self.http.post(
            self.base + path, data=data, headers=headers or {}, allow_redirects=False
        ) as response:
            await response.read()
            return response

    async def sign_in(self, password: str = PASSWORD, headers: dict[str, str] | None = None) -> int:
        token = await self.token()
        response = await self.post(
            "/admin/login", {"password": password, "csrf_token": token}, headers
        )
        return response.status


@contextlib.asynccontextmanager
async def panel_client(base: str) -> AsyncIterator[PanelClient]:
    # unsafe=True: the jar keeps cookies of an IP address (127.0.0.1), as a browser does.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        yield PanelClient(base, http)
