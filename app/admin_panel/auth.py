"""Signing in: one owner password (its argon2 hash in ADMIN_PANEL_PASSWORD_HASH), signed cookies.

The session is a cookie signed with a key derived from the bot token and the password hash,
so changing the password signs every browser out. It is HttpOnly and SameSite=Lax, Secure
over HTTPS (:mod:`app.admin_panel.cookies`), and every form carries a CSRF token
(:mod:`app.admin_panel.csrf`). Failed sign-ins are counted per client address
(:mod:`app.admin_panel.throttle`).
"""

from __future__ import annotations

import hashlib
import hmac
import math

import structlog
from sqladmin.authentication import AuthenticationBackend
from sqladmin.templating import Jinja2Templates
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import RedirectResponse, Response

from app.admin_panel.cookies import SecureCookieMiddleware
from app.admin_panel.csrf import CSRFMiddleware, new_csrf_token
from app.admin_panel.passwords import verify_password
from app.admin_panel.throttle import SignInThrottle
from app.mode_settings import AdminSettings

log = structlog.get_logger(__name__)

SESSION_COOKIE = "market_admin"
SESSION_SECONDS = 12 * 60 * 60
SIGNED_IN = "signed_in"


def session_key(settings: AdminSettings) -> str:
    key = settings.bot_token.get_secret_value().encode()
    message = b"admin-session|" + settings.admin_panel_password_hash.get_secret_value().encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def client_address(request: HTTPConnection) -> str:
    """The client as uvicorn reports it (X-Forwarded-For only from trusted proxies)."""
    return request.client.host if request.client else "unknown"


class OwnerAuth(AuthenticationBackend):
    def __init__(self, settings: AdminSettings, throttle: SignInThrottle | None = None) -> None:
        # Not super().__init__: the session middleware is configured here, with CSRF inside it.
        self.password_hash = settings.admin_panel_password_hash.get_secret_value()
        self.throttle = throttle or SignInThrottle()
        self.templates: Jinja2Templates | None = None  # the panel's, set once the Admin exists
        self.middlewares = [
            Middleware(SecureCookieMiddleware),
            Middleware(
                SessionMiddleware,
                secret_key=session_key(settings),
                session_cookie=SESSION_COOKIE,
                max_age=SESSION_SECONDS,
                same_site="lax",
            ),
            Middleware(CSRFMiddleware),
        ]

    async def login(self, request: Request) -> Response | bool:
        address = client_address(request)
        wait = self.throttle.retry_after(address)
        if wait is not None:
            log.warning("sign-in refused: too many failures", client=address)
            return await self._too_many(request, wait)
        form = await request.form()
        password = form.get("password")
        if not isinstance(password, str) or not password:
            return False
        if not await verify_password(self.password_hash, password):
            self.throttle.failed(address)
            log.warning("sign-in failed: wrong password", client=address)
            return False
        self.throttle.succeeded(address)
        request.session.clear()  # a new session: nothing from before the sign-in survives
        request.session[SIGNED_IN] = True
        new_csrf_token(request)
        log.info("owner signed in", client=address)
        return True

    async def _too_many(self, request: Request, wait: float) -> Response:
        minutes = math.ceil(wait / 60)
        error = (
            f"Too many failed sign-ins from your address. Wait {minutes} minute(s), then try again."
        )
        assert self.templates is not None
        response = await self.templates.TemplateResponse(
            request, "sqladmin/login.html", {"error": error}, status_code=429
        )
        response.headers["Retry-After"] = str(math.ceil(wait))
        return response

    async def logout(self, request: Request) -> Response | bool:
        # GET /logout changes nothing (a link on another site must not sign the owner out);
        # signing out is the POST form of the panel's menu (app.admin_panel.app).
        return RedirectResponse(request.url_for("admin:index"), status_code=302)

    async def authenticate(self, request: Request) -> Response | bool:
        return request.session.get(SIGNED_IN) is True


async def sign_out(request: Request) -> Response:
    """POST /admin/sign-out (the CSRF middleware has checked the form)."""
    if request.session.get(SIGNED_IN):
        log.info("owner signed out", client=client_address(request))
    request.session.clear()
    return RedirectResponse(request.url_for("admin:login"), status_code=302)
