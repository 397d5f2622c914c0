"""Shared pieces of the benchmarks: fresh databases, processes, medians."""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from tests.fake_api import FakeBotAPI  # noqa: E402
from tests.harness import BOT_TOKEN, create_pg_database, drop_pg_database  # noqa: E402
from tests.processes import bot_env, start_bot  # noqa: E402

__all__ = [
    "BOT_TOKEN",
    "REPO_ROOT",
    "FakeBotAPI",
    "bot_env",
    "cpu_seconds",
    "create_pg_database",
    "drop_pg_database",
    "median",
    "start_bot",
    "timed",
]


def median(values: list[float]) -> float:
    return statistics.median(values)


async def timed(action: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await action()
    return time.perf_counter() - started


def cpu_seconds(pid: int) -> float:
    """The CPU time (user and system) a running process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_note() -> str:
    return f"{os.cpu_count()} cores; medians of alternating runs (this machine is noisy)"


def run(main: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(main())
