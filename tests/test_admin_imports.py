"""The admin panel's libraries load only for ``python -m app admin``: the bot and the shop
commands start without Starlette, SQLAdmin, uvicorn, WTForms or argon2."""

from __future__ import annotations

import subprocess
import sys

from tests.processes import REPO_ROOT, clean_env

PANEL_ONLY = ("starlette", "sqladmin", "uvicorn", "wtforms", "argon2", "jinja2", "multipart")

PROBE = """
import sys
import app.cli
parser = app.cli.build_parser()
parser.parse_args(["admin"]); parser.parse_args(["admin", "hash-password"])
import app.bot.entry, app.bot.factory, app.bot.webhook, app.manage
roots = {name.split(".")[0] for name in sys.modules}
print(",".join(sorted(roots & set(sys.argv[1].split(",")))))
"""


def test_the_bot_never_imports_the_panel() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, ",".join(PANEL_ONLY)],
        cwd=REPO_ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert result.stdout.strip() == "", f"loaded by the bot: {result.stdout.strip()}"


def test_the_probe_sees_the_panel_when_it_loads() -> None:
    """The negative control: importing the panel does load them, so the probe can tell."""
    probe = PROBE.replace("app.manage\n", "app.manage, app.admin_panel.entry\n")
    result = subprocess.run(
        [sys.executable, "-c", probe, ",".join(PANEL_ONLY)],
        cwd=REPO_ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert set(result.stdout.strip().split(",")) >= {"starlette", "sqladmin", "uvicorn"}
