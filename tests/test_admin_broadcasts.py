"""Broadcasts from the admin panel: a real ``python -m app admin`` process writes the row, the
real bot's broadcast manager sends it (the panel never calls Telegram), and stopping cancels."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import URL

from app.workers.broadcast import MANAGER_KEY, BroadcastManager
from tests.admin_helpers import panel_client, running_panel
from tests.fake_api import FakeBotAPI
from tests.harness import ADMIN_ID, BOT_TOKEN, make_settings, running_bot
from tests.schema import scalar
from tests.shop_helpers import Customer, eventually

USERS = (801, 802)


async def test_a_broadcast_from_the_panel(pg_url: URL, tmp_path: Path) -> None:
    async with (
        FakeBotAPI(BOT_TOKEN) as api,
        running_bot(api, make_settings(pg_url, api.url)) as shop,
        running_panel(pg_url, api.url, tmp_path, ADMIN_IDS=str(ADMIN_ID)) as (base, _),
        panel_client(base) as client,
    ):
        for user_id in USERS:
            await Customer(api, shop.tracker, user_id).send("/start")
        assert await client.sign_in() == 302
        page = (await client.page("/admin/broadcast"))[1]
        assert "Send to 2 user(s)" in page
        token = await client.token("/admin/broadcast")
        empty = await client.post("/admin/broadcast", {"text": " ", "csrf_token": token})
        assert empty.status == 400
        text = "Sale <today> & tomorrow"
        sent = await client.post("/admin/broadcast", {"text": text, "csrf_token": token})
        assert sent.status == 302
        broadcast_id = int(str(await scalar(pg_url, "SELECT max(id) FROM broadcasts")))
        assert await scalar(pg_url, "SELECT created_by FROM broadcasts") == ADMIN_ID
        assert not any(api.sent_to(u)[-1].get("text") == text for u in USERS)

        manager = shop.dispatcher[MANAGER_KEY]
        assert isinstance(manager, BroadcastManager)
        manager.launch(broadcast_id)  # what its watcher does within half a lease

        async def done() -> bool:
            sql = f"SELECT status FROM broadcasts WHERE id = {broadcast_id}"
            return await scalar(pg_url, sql) == "done"

        await eventually(done, "the broadcast is done")
        for user_id in USERS:
            assert api.sent_to(user_id)[-1]["text"] == text  # as typed, not as HTML
        progress = (await client.page(f"/admin/broadcast/details/{broadcast_id}"))[1]
        assert "sent 2, blocked 0, failed 0" in progress

        again = await client.post("/admin/broadcast", {"text": "Second", "csrf_token": token})
        assert again.status == 302
        stop = await client.post("/admin/broadcast", {"stop": "1", "csrf_token": token})
        assert stop.status == 200
        assert await scalar(pg_url, "SELECT status FROM broadcasts WHERE text = 'Second'") == (
            "cancelled"
        )
