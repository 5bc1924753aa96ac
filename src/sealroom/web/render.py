"""Rendering pages: one Jinja2 environment (autoescaped, strict), and the context every page shares.

Templates never receive image bytes: only metadata and (masked) results. Messages after a redirect
are chosen by code from ``NOTICES``, so no text from a URL reaches a page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from sealroom.sessions import ActiveSession
from sealroom.web.csrf import session_token
from sealroom.workspace import Workspace

NOTICES: Mapping[str, str] = {
    "signed_out": "You signed out. The session ended and everything it had opened was destroyed.",
    "session_ended": "Your session ended. Sign in again to continue.",
    "enrolled": "Your second factor is set up. Sign in with your password and a code from the app.",
    "request_submitted": "Your request was submitted. You will see its status here.",
    "request_cancelled": "The request was withdrawn.",
    "request_decided": "Your decision was recorded.",
    "export_requested": "The export was requested. Someone other than you must approve it.",
    "stepped_up": "Second factor confirmed.",
    "user_disabled": "The account was disabled; its sessions end at their next request.",
    "user_enabled": "The account can sign in again.",
    "breakglass_reviewed": "The review was recorded and the item closed.",
    "signed_off": "The sign-off was recorded for the current configuration.",
}


@dataclass(frozen=True)
class NavItem:
    """A link in the header, shown only to roles that can use the page."""

    href: str
    label: str
    section: str


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The templates of ``sealroom.web`` (autoescaped; undefined names are errors)."""
    return Environment(
        loader=PackageLoader("sealroom.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def actions_of(workspace: Workspace, active: ActiveSession) -> set[str]:
    """Every action any of the user's roles names (what the header offers; policy still decides)."""
    roles = workspace.settings.roles
    return {action for name in active.roles if name in roles for action in roles[name].actions}


def navigation(actions: set[str]) -> list[NavItem]:
    """The header links for a user allowed ``actions``."""
    items = [NavItem("/cases", "Cases and images", "cases")] if "metadata:view" in actions else []
    items.append(NavItem("/requests", "Requests", "requests"))
    if "request:approve" in actions:
        items.append(NavItem("/requests/review", "Review", "review"))
    if "breakglass:review" in actions:
        items.append(NavItem("/break-glass", "Break-glass", "breakglass"))
    if "audit:read" in actions:
        items.append(NavItem("/audit", "Audit", "audit"))
    if "workspace:admin" in actions:
        items.append(NavItem("/admin/users", "Administration", "admin"))
    if "workspace:admin" in actions or "audit:read" in actions:
        items.append(NavItem("/admin/readiness", "Readiness", "readiness"))
    return items


def _session_left(workspace: Workspace, active: ActiveSession | None) -> dict[str, int]:
    """Seconds until the session's idle and absolute ends, by the server's clock (the browser counts
    down from these, so a skewed client clock cannot end or prolong anything)."""
    if active is None:
        return {"idle": 0, "absolute": 0}
    now = workspace.clock.now()
    return {
        "idle": max(0, int((active.idle_expires_at - now).total_seconds())),
        "absolute": max(0, int((active.absolute_expires_at - now).total_seconds())),
    }


def page(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    active: ActiveSession | None = None,
    status_code: int = 200,
    section: str = "",
) -> HTMLResponse:
    """Render ``template`` with the shared context: the session banner, navigation and CSRF token."""
    workspace: Workspace = request.app.state.workspace
    shared: dict[str, Any] = {
        "me": active,
        "session_left": _session_left(workspace, active),
        "nav": navigation(actions_of(workspace, active)) if active else [],
        "section": section,
        "csrf": session_token(workspace.keys.csrf_key, active.id) if active else "",
        "notice": NOTICES.get(request.query_params.get("notice", "")),
    }
    html = environment().get_template(template).render({**shared, **(context or {})})
    return HTMLResponse(html, status_code=status_code)
