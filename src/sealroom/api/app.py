"""Builds the FastAPI application for a workspace."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from sealroom import __version__
from sealroom.api import (
    analysis_jobs,
    audit,
    auth,
    breakglass,
    engines,
    exports,
    forwarding,
    grants,
    images,
    readiness,
    requests,
    retention,
)
from sealroom.api.body_limit import BodyLimitMiddleware
from sealroom.api.errors import install_error_handlers
from sealroom.api.headers import SecurityHeadersMiddleware
from sealroom.errors import SealroomError
from sealroom.web.mount import install_web
from sealroom.workspace import Workspace

log = logging.getLogger("sealroom.api")

SWEEP_SECONDS = 30.0


async def _maintain(workspace: Workspace) -> None:
    # Timeouts and grant expiry are also enforced on every request; the pass makes sure abandoned
    # material is destroyed, ended access is on record and retention runs, even with no traffic.
    while True:
        await asyncio.sleep(SWEEP_SECONDS)
        await run_in_threadpool(workspace.maintain)


def create_app(workspace: Workspace, *, sweep: bool = True, forward: bool = True) -> FastAPI:
    """The API for ``workspace``. At start-up, sessions left by a previous run are ended and purged,
    and (``forward``) the SIEM forwarder starts its threads; at shutdown it stops (bounded wait)."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(workspace.purge_stale_sessions)
        task = asyncio.create_task(_maintain(workspace)) if sweep else None
        if forward:
            # Threads of its own, not a step of ``maintain``: a hung receiver must not delay the
            # sweep, and the sweep must not delay delivery.
            workspace.forwarder.start()
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
            if forward:
                await run_in_threadpool(workspace.forwarder.stop)
            try:
                await run_in_threadpool(workspace.sessions.end_all_open, "shutdown")
            except SealroomError as exc:
                # The material dies with the process anyway; the next start records the purge.
                log.error("could not end sessions at shutdown: %s", exc.code)

    app = FastAPI(
        title="Sealroom",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        # The schema is for development tooling; production does not describe itself to strangers.
        openapi_url="/openapi.json" if workspace.settings.environment == "development" else None,
    )
    app.state.workspace = workspace
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(SecurityHeadersMiddleware, hsts=workspace.settings.server.behind_tls)
    app.include_router(auth.router)
    app.include_router(images.router)
    app.include_router(audit.router)
    app.include_router(forwarding.router)
    app.include_router(engines.router)
    app.include_router(requests.router)
    app.include_router(grants.router)
    app.include_router(breakglass.router)
    app.include_router(exports.router)
    app.include_router(retention.router)
    app.include_router(readiness.router)
    app.include_router(analysis_jobs.router)
    install_web(app)

    @app.get("/healthz", tags=["health"])
    def health() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    return app
