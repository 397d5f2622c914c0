"""The admin panel over HTTP, as a real ``python -m app admin`` process on PostgreSQL: no way in
without the password, forms need their CSRF token, failed sign-ins are limited per address,
the session cookie is HttpOnly, SameSite=Lax and Secure over HTTPS, and the panel never
migrates (it waits for head)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from tests.admin_helpers import (
    PASSWORD,
    admin_env,
    free_port,
    panel_client,
    running_panel,
    wait_serving,
)
from tests.harness import migrated
from tests.processes import start_bot
from tests.schema import head, heads_of, scalar

DEAD_API = "http://127.0.0.1:9"
PAGES = [
    "/admin/",
    "/admin/order/list",
    "/admin/stock",
    "/admin/product/create",
    "/admin/user/list",
]


async def test_no_session_no_way_in(pg_url: URL, tmp_path: Path) -> None:
    url = await migrated(pg_url)
    async with running_panel(url, DEAD_API, tmp_path) as (base, _), panel_client(base) as client:
        for path in PAGES:
            status, _body = await client.page(path)
            assert status == 302, path
        async with client.http.get(base + "/admin/", allow_redirects=False) as response:
            assert response.headers["Location"].endswith("/admin/login")
        # A forged cookie is no session either.
        client.http.cookie_jar.update_cookies({"market_admin": "eyJzaWduZWRfaW4iOiB0cnVlfQ=="})
        assert (await client.page("/admin/"))[0] == 302
        # A signed-in session reaches every page.
        assert await client.sign_in() == 302
        for path in PAGES:
            assert (await client.page(path))[0] == 200, path


async def test_forms_without_the_csrf_token_are_refused(pg_url: URL, tmp_path: Path) -> None:
    async with running_panel(await migrated(pg_url), DEAD_API, tmp_path) as (base, process):
        async with panel_client(base) as client:
            await client.token()
            # The sign-in form itself: the right password, but no token.
            response = await client.post("/admin/login", {"password": PASSWORD})
            assert response.status == 403
            assert (await client.page("/admin/"))[0] == 302, "not signed in"
            assert await client.sign_in() == 302
            product = {"slug": "csrf-test", "title": "Key", "price": "5", "description": ""}
            assert (await client.post("/admin/product/create", product)).status == 403
            wrong = {**product, "csrf_token": "not-the-token"}
            assert (await client.post("/admin/product/create", wrong)).status == 403
            assert (await client.post("/admin/sign-out", {})).status == 403
            assert await scalar(pg_url, "SELECT count(*) FROM products") == 0
            # With the page's token the same form goes through.
            token = await client.token("/admin/product/create")
            created = await client.post("/admin/product/create", {**product, "csrf_token": token})
            assert created.status == 302
            assert await scalar(pg_url, "SELECT title FROM products WHERE slug = 'csrf-test'")
        refused = [r for r in process.records() if "CSRF" in str(r["event"])]
        assert len(refused) == 4


async def test_sixth_failed_sign_in_waits(pg_url: URL, tmp_path: Path) -> None:
    async with running_panel(await migrated(pg_url), DEAD_API, tmp_path) as (base, process):
        async with panel_client(base) as client:
            for _ in range(5):
                assert await client.sign_in("wrong password") == 400
            token = await client.token()
            async with client.http.post(
                base + "/admin/login",
                data={"password": "wrong again", "csrf_token": token},
                allow_redirects=False,
            ) as response:
                assert response.status == 429
                assert 540 <= int(response.headers["Retry-After"]) <= 600
                assert "Too many failed sign-ins" in await response.text()
            # The address waits even with the right password now.
            assert await client.sign_in() == 429
            assert (await client.page("/admin/"))[0] == 302
        # Another address (through the trusted proxy on 127.0.0.1) is not held up.
        async with panel_client(base) as other:
            assert await other.sign_in(headers={"X-Forwarded-For": "203.0.113.7"}) == 302
            assert (await other.page("/admin/"))[0] == 200
        failures = [r for r in process.records() if r["event"] == "sign-in failed: wrong password"]
        assert len(failures) == 5
        assert PASSWORD not in process.output


async def test_session_cookie_flags_and_sign_out(pg_url: URL, tmp_path: Path) -> None:
    async with running_panel(await migrated(pg_url), DEAD_API, tmp_path) as (base, _):
        async with panel_client(base) as client:
            token = await client.token()
            response = await client.post(
                "/admin/login", {"password": PASSWORD, "csrf_token": token}
            )
            cookie = response.headers["Set-Cookie"].lower()
            assert response.headers["X-Frame-Options"] == "DENY"
            assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
            assert "httponly" in cookie and "samesite=lax" in cookie
            assert "secure" not in cookie  # plain HTTP on loopback
            # GET /admin/logout (a link anyone could plant) does not sign the owner out.
            assert (await client.page("/admin/logout"))[0] == 302
            assert (await client.page("/admin/"))[0] == 200
            token = await client.token("/admin/")
            assert (await client.post("/admin/sign-out", {"csrf_token": token})).status == 302
            assert (await client.page("/admin/"))[0] == 302
        # Behind a TLS-terminating proxy (trusted: 127.0.0.1) the cookie is Secure.
        async with panel_client(base) as client:
            https = {"X-Forwarded-Proto": "https"}
            async with client.http.get(base + "/admin/login", headers=https) as page:
                assert "secure" in page.headers["Set-Cookie"].lower()


async def test_the_panel_never_migrates_it_waits_for_head(pg_url: URL, tmp_path: Path) -> None:
    port = free_port()
    env = admin_env(pg_url, DEAD_API, port, SCHEMA_WAIT_TIMEOUT="120")
    panel = await start_bot(env, "admin", cwd=tmp_path)
    try:
        for _ in range(600):
            if any(r["event"] == "waiting for the schema to reach head" for r in panel.records()):
                break
            assert panel.process.returncode is None, panel.output
            await asyncio.sleep(0.1)
        assert await heads_of(pg_url) == (), "the panel changed nothing"
        await migrated(pg_url)
        await wait_serving(f"http://127.0.0.1:{port}", panel)
        assert await heads_of(pg_url) == (head(),)
    finally:
        assert await panel.stop() == 0, panel.output
    ready = next(r for r in panel.records() if r["event"] == "schema ready")
    assert ready["role"] == "admin"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "ADMIN_PANEL_PASSWORD_HASH is required"),
        ("", "ADMIN_PANEL_PASSWORD_HASH is empty"),
        ("   ", "ADMIN_PANEL_PASSWORD_HASH is empty"),
        (PASSWORD, "ADMIN_PANEL_PASSWORD_HASH is not an argon2 hash"),
        ("$argon2id$v=19$m=65536,t=3,p=4$", "ADMIN_PANEL_PASSWORD_HASH is not an argon2 hash"),
    ],
)
async def test_no_hash_no_panel(
    sqlite_url: URL, tmp_path: Path, value: str | None, reason: str
) -> None:
    env = admin_env(sqlite_url, DEAD_API, free_port())
    if value is None:
        del env["ADMIN_PANEL_PASSWORD_HASH"]
    else:
        env["ADMIN_PANEL_PASSWORD_HASH"] = value
    panel = await start_bot(env, "admin", cwd=tmp_path)
    assert await panel.wait() == 2
    [line] = panel.records()
    assert line["level"] == "error" and reason in str(line["event"])
    assert "Traceback" not in panel.output
    if value and value.strip():
        assert value not in panel.output
