"""Promo codes: every code with its paid uses, a form to add one, and Disable on each row.

The form's fields are the words of ``/promo add`` and go through the same parser and service
(:mod:`app.services.promo`), so the panel, the bot and the CLI accept and refuse the same
codes with the same wording. Every POST carries the CSRF token (checked before the view).
"""

from __future__ import annotations

from typing import Any

import structlog
from sqladmin import BaseView, expose
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.admin_panel.auth import client_address
from app.admin_panel.context import panel
from app.admin_panel.texts import PanelInputError, input_error
from app.admin_panel.views.writes import write
from app.db import uow
from app.db.base import utcnow
from app.services import promo, promo_list
from app.services.products import ShopInputError

log = structlog.get_logger(__name__)

FIELDS = ("code", "discount", "scope", "min", "until", "uses", "per_user")


def _words(form: FormData) -> list[str]:
    """The form as ``/promo add`` words: CODE DISCOUNT [option=value …] for filled options."""
    values = {name: str(form.get(name) or "").strip() for name in FIELDS}
    words = [values["code"], values["discount"]]
    words += [f"{name}={values[name]}" for name in FIELDS[2:] if values[name]]
    return words


class PromoView(BaseView):
    name = "Promo codes"
    icon = "fa-solid fa-ticket"

    @expose("/promo", methods=["GET", "POST"], identity="promo")
    async def promo_page(self, request: Request) -> Response:
        """GET: the codes and the form. POST: add a code, or (``disable=<CODE>``) disable one."""
        context: dict[str, Any] = {"values": {}}
        if request.method == "POST":
            form = await request.form()
            try:
                if form.get("disable"):
                    await _disable(request, str(form.get("disable")))
                else:
                    await _add(request, form)
            except ShopInputError as exc:
                context["error"] = input_error(exc)
            except PanelInputError as exc:
                context["error"] = str(exc)
            else:
                return RedirectResponse(request.url_for("admin:view-promo"), status_code=302)
            context["values"] = {name: str(form.get(name) or "") for name in FIELDS}
        async with panel(request).session_factory() as session, uow.read(session):
            context["codes"] = await promo_list.rows(session, limit=1000)
        status = 400 if "error" in context else 200
        return await self.templates.TemplateResponse(
            request, "panel/promo.html", context, status_code=status
        )


async def _add(request: Request, form: FormData) -> None:
    spec = promo.parse_spec(_words(form), utcnow().date())
    async with write(request) as session:
        created = await promo.create(session, spec)
    log.info("promo code added", code=created.code, client=client_address(request))


async def _disable(request: Request, code: str) -> None:
    async with write(request) as session:
        disabled, changed = await promo.disable(session, code, utcnow())
    if changed:
        log.info("promo code disabled", code=disabled.code, client=client_address(request))
