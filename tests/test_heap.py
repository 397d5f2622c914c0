"""The garbage collector around start-up: held by the entry point, settled once the bot is ready."""

from __future__ import annotations

import gc
import subprocess
import sys

from sqlalchemy.engine import URL

from app import heap
from app.bot.factory import create_dispatcher
from app.bot.lifecycle import on_ready
from app.db.engine import create_engine
from tests.harness import make_settings


def test_hold_then_settle_freezes_start_up_and_collects_again() -> None:
    script = (
        "import gc\n"
        "from app import heap\n"
        "heap.hold()\n"
        "held = not gc.isenabled()\n"
        "built = [[n] for n in range(10000)]\n"
        "heap.settle()\n"
        "print(held, gc.isenabled(), gc.get_freeze_count() >= 10000)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["True", "True", "True"]


def test_settle_without_hold_changes_nothing() -> None:
    frozen = gc.get_freeze_count()
    heap.settle()
    assert gc.isenabled() and gc.get_freeze_count() == frozen


async def test_the_last_startup_hook_settles(sqlite_url: URL) -> None:
    settings = make_settings(sqlite_url)
    engine = create_engine(settings.database_url)
    try:
        for webhook in (False, True):
            dispatcher = create_dispatcher(settings, engine, migrate=True, webhook=webhook)
            assert dispatcher.startup.handlers[-1].callback is on_ready
    finally:
        await engine.dispose()
