"""Feature routers, one module each, collected in one place. Order matters: the owner tools
come before the fallback, which answers anything no other router took."""

from __future__ import annotations

from aiogram import Router

from app.handlers import admin, start


def build_root_router() -> Router:
    root = Router(name="root")
    root.include_routers(start.router, admin.router)
    return root
