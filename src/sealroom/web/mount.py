"""Adds the browser workspace to the API app: the page routers and the local static assets."""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from sealroom.web.pages import admin, audit, auth, readiness, requests, sso, workspace


def install_web(app: FastAPI) -> None:
    """Mount the pages and ``/static`` (scripts and styles only: no images are served)."""
    app.state.web = True
    static = resources.files("sealroom.web").joinpath("static")
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    for module in (auth, sso, workspace, requests, audit, admin, readiness):
        app.include_router(module.router)
