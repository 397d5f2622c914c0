"""The panel's ASGI application: SQLAdmin mounted at /admin, with the shop's views."""

from __future__ import annotations

from pathlib import Path

from aiogram import Bot
from sqladmin import Admin
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from app.admin_panel import logs
from app.admin_panel.auth import OwnerAuth, sign_out
from app.admin_panel.context import PanelContext
from app.admin_panel.cookies import SecurityHeadersMiddleware
from app.admin_panel.csrf import csrf_token
from app.admin_panel.throttle import SignInThrottle
from app.admin_panel.views import add_views, dashboard
from app.db.engine import create_session_factory
from app.mode_settings import AdminSettings

TEMPLATES = Path(__file__).resolve().parent / "templates"
BASE_URL = "/admin"


class ShopAdmin(Admin):
    """SQLAdmin with the shop's dashboard as its front page."""

    async def index(self, request: Request) -> Response:
        return await dashboard.render(self, request)  # type: ignore[no-any-return]


async def _to_admin(request: Request) -> Response:
    return RedirectResponse(f"{BASE_URL}/", status_code=302)


def create_panel(
    settings: AdminSettings,
    engine: AsyncEngine,
    bot: Bot,
    *,
    throttle: SignInThrottle | None = None,
) -> Starlette:
    logs.install()
    app = Starlette(
        routes=[Route("/", _to_admin)], middleware=[Middleware(SecurityHeadersMiddleware)]
    )
    auth = OwnerAuth(settings, throttle)
    admin = ShopAdmin(
        app,
        session_maker=create_session_factory(engine),
        base_url=BASE_URL,
        title="Digital Market",
        templates_dir=str(TEMPLATES),
        authentication_backend=auth,
    )
    admin.templates.env.globals["csrf_token"] = csrf_token
    auth.templates = admin.templates
    admin.admin.state.panel = PanelContext(settings, create_session_factory(engine), bot)
    admin.admin.add_route("/sign-out", sign_out, methods=["POST"], name="sign-out")
    add_views(admin)
    return app
