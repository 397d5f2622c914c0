"""``GET /healthz`` of a webhook replica, for the load balancer.

200 ``{"status": "ok"}`` only when this replica has finished its startup and the database
answers at the revision this code was written for, or at a newer one whose compatibility floor
this code meets (the start's own verdict); otherwise 503 ``{"status": "unavailable"}``, so the
load balancer keeps the replica out while it waits for the schema (it already listens then),
while it starts, when the database is gone, and while it stops.

The answer is public (anyone who reaches the port may ask), so it says nothing more: the
reason, the revisions and the database's own error (which names its address) go to the log,
one line each time they change (``health changed``), not one per probe.
"""

from __future__ import annotations

import asyncio
import enum
from typing import Any

import structlog
from aiohttp import web
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import DatabaseSettings
from app.db.compat import SchemaError, SchemaState, Verdict, assess
from app.db.engine import describe_error
from app.db.migrate import alembic_config, schema_state, script_head

log = structlog.get_logger(__name__)

PROBE_TIMEOUT = 5.0


class Phase(enum.Enum):
    STARTING = "starting"  # listening; the Dispatcher's startup (migrate / wait) is running
    READY = "ready"  # updates are handed to the Dispatcher
    STOPPING = "stopping"  # draining the updates in flight; nothing new is accepted


class Readiness:
    """The replica's phase, shared by the health check and the webhook route."""

    def __init__(self) -> None:
        self.phase = Phase.STARTING

    @property
    def ready(self) -> bool:
        return self.phase is Phase.READY


class HealthCheck:
    def __init__(
        self,
        engine: AsyncEngine,
        settings: DatabaseSettings,
        readiness: Readiness,
        *,
        timeout: float = PROBE_TIMEOUT,
    ) -> None:
        self.engine = engine
        self.readiness = readiness
        self.timeout = timeout
        self.script = ScriptDirectory.from_config(alembic_config(settings))
        self.head = script_head(self.script)
        self.last: dict[str, Any] | None = None  # the detail last logged

    async def probe(self) -> tuple[int, dict[str, Any]]:
        """(HTTP status, the detail: status, and reason, revision and head where known)."""
        body: dict[str, Any] = {"head": self.head}
        if self.readiness.phase is Phase.STOPPING:
            return 503, {"status": "unavailable", "reason": "shutting down", **body}
        try:
            async with asyncio.timeout(self.timeout):
                state = await schema_state(self.engine, self.script)
        except TimeoutError:
            reason = f"database unreachable: no answer within {self.timeout:g}s"
            return 503, {"status": "unavailable", "reason": reason, **body}
        except Exception as exc:  # any driver error means: do not route traffic here
            reason = f"database unreachable: {describe_error(exc)}"
            return 503, {"status": "unavailable", "reason": reason, **body}
        revision = ",".join(state.heads) or None
        body = {"revision": revision, **body}
        problem = self._schema_problem(state, revision)
        if problem is not None:
            return 503, {"status": "unavailable", "reason": problem, **body}
        if not self.readiness.ready:
            return 503, {"status": "unavailable", "reason": "starting", **body}
        return 200, {"status": "ok", **body}

    def _schema_problem(self, state: SchemaState, revision: str | None) -> str | None:
        """None where the start would serve: at head, or ahead but compatible (same verdict)."""
        try:
            verdict = assess(state, self.script, self.head)
        except SchemaError:
            return f"schema unknown to this code: revision {revision}, head {self.head}"
        if verdict is Verdict.BEHIND:
            return f"schema behind: revision {revision or 'base'}, head {self.head}"
        return None

    def _log_change(self, status: int, detail: dict[str, Any]) -> None:
        if detail == self.last:
            return
        self.last = detail
        (log.info if status == 200 else log.warning)("health changed", **detail)

    async def handle(self, _: web.Request) -> web.Response:
        status, detail = await self.probe()
        self._log_change(status, detail)
        public = {"status": detail["status"]}
        return web.json_response(public, status=status, headers={"Cache-Control": "no-store"})
