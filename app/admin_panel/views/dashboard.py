"""The front page: revenue today, over 7 and 30 days with a chart, and what needs the owner."""

from __future__ import annotations

from dataclasses import dataclass

from sqladmin import Admin
from sqladmin.authentication import login_required
from starlette.requests import Request
from starlette.responses import Response

from app.admin_panel.context import panel
from app.services.sales import Day, dashboard

CHART_WIDTH = 720
CHART_HEIGHT = 180


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    day: Day


def chart_bars(days: list[Day]) -> list[Bar]:
    """Bars of an inline SVG chart of revenue per day (no script, nothing fetched)."""
    top = max((d.revenue for d in days), default=0) or 1
    slot = CHART_WIDTH / max(len(days), 1)
    bars = []
    for i, day in enumerate(days):
        height = (CHART_HEIGHT - 20) * day.revenue / top
        bars.append(Bar(i * slot + 2, CHART_HEIGHT - height, slot - 4, height, day))
    return bars


@login_required
async def render(admin: Admin, request: Request) -> Response:
    async with panel(request).session_factory() as session:
        figures = await dashboard(session)
    context = {
        "figures": figures,
        "bars": chart_bars(figures.days),
        "chart_width": CHART_WIDTH,
        "chart_height": CHART_HEIGHT,
    }
    return await admin.templates.TemplateResponse(request, "panel/dashboard.html", context)
