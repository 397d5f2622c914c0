"""The garbage collector around start-up: held by the entry point, settled once the bot is ready."""

from __future__ import annotations

import gc
import subprocess
import sys

import pytest
from sqlalchemy.engine import URL

from app import heap
from app.bot.factory import create_dispatcher
from app.bot.lifecycle import on_ready
from app.db.engine import create_engine
from tests.harness import make_settings


def _start_up(*, hold: bool, settle: bool) -> list[str]:
    """A fresh interpreter that builds 10,000 objects between hold() and settle(), as start-up
    does; reports: was collection held, is it back on, were the objects frozen."""
    script = "\n".join(
        [
            "import gc",
            "from app import heap",
            "heap.hold()" if hold else "",
            "held = not gc.isenabled()",
            "built = [[n] for n in range(10000)]",
            "heap.settle()" if settle else "",
            "print(held, gc.isenabled(), gc.get_freeze_count() >= 10000)",
        ]
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    return out.split()


def test_hold_then_settle_freezes_start_up_and_collects_again() -> None:
    assert _start_up(hold=True, settle=True) == ["True", "True", "True"]


@pytest.mark.parametrize(
    ("hold", "settle", "expected"),
    [
        (False, True, ["False", "True", "False"]),  # nothing held: nothing to freeze
        (True, False, ["True", "False", "False"]),  # never settled: held, nothing frozen
        (False, False, ["False", "True", "False"]),
    ],
)
def test_negative_controls_each_step_is_what_the_check_sees(
    hold: bool, settle: bool, expected: list[str]
) -> None:
    assert _start_up(hold=hold, settle=settle) == expected


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
