"""The panel's Promo codes page over HTTP, as a real ``python -m app admin`` process on
PostgreSQL: behind the sign-in, forms refused without their CSRF token, a code added through
the bot's parser (with its wording for bad input) and disabled."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import URL

from tests.admin_helpers import panel_client, running_panel
from tests.harness import migrated
from tests.schema import scalar

DEAD_API = "http://127.0.0.1:9"


async def test_promo_codes_page_lists_adds_and_disables(pg_url: URL, tmp_path: Path) -> None:
    await migrated(pg_url)
    async with (
        running_panel(pg_url, DEAD_API, tmp_path) as (base, process),
        panel_client(base) as client,
    ):
        assert (await client.page("/admin/promo"))[0] == 302  # signed out
        assert await client.sign_in() == 302
        status, page = await client.page("/admin/promo")
        assert status == 200 and "No promo codes yet." in page
        form = {"code": "spring", "discount": "15%", "uses": "10", "per_user": "1"}
        assert (await client.post("/admin/promo", form)).status == 403  # no token
        token = await client.token("/admin/promo")
        added = await client.post("/admin/promo", {**form, "csrf_token": token})
        assert added.status == 302
        bad = {"code": "x", "discount": "10", "csrf_token": token}
        refused = await client.post("/admin/promo", bad)
        assert refused.status == 400
        status, page = await client.page("/admin/promo")
        assert "<code>SPRING</code>" in page and "active" in page
        disabled = await client.post("/admin/promo", {"disable": "SPRING", "csrf_token": token})
        assert disabled.status == 302
        status, page = await client.page("/admin/promo")
        assert "disabled" in page and 'id="disable-SPRING"' not in page
    assert (
        await scalar(pg_url, "SELECT count(*) FROM promo_codes WHERE disabled_at IS NOT NULL") == 1
    )
    events = [record["event"] for record in process.records()]
    assert "promo code added" in events and "promo code disabled" in events
