"""Owner tools. Only users in ADMIN_IDS reach these handlers; for anyone else they do not
exist, and the update falls through to the unknown-command reply."""

from __future__ import annotations

from aiogram import Router

router = Router(name=__name__)
