"""The only place that turns Sealroom errors into HTTP responses."""

from __future__ import annotations

import logging
import secrets

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from sealroom.errors import AccessDeniedError, SealroomError, StepUpRequiredError, ThrottledError
from sealroom.web.errors import page_error, render_error

log = logging.getLogger("sealroom.api")

API_PREFIXES = ("/api/", "/static/", "/healthz")


def _for_page(request: Request) -> bool:
    """Whether the request was for a page of the browser workspace (answered with HTML, not JSON)."""
    return getattr(request.app.state, "web", False) and not request.url.path.startswith(API_PREFIXES)


def error_body(code: str, message: str, **extra: object) -> dict[str, object]:
    """The JSON shape of every error: ``{"error": code, "message": text}``."""
    return {"error": code, "message": message, **extra}


async def _sealroom_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SealroomError)
    if _for_page(request):
        return await run_in_threadpool(render_error, request, exc)
    headers = {}
    if isinstance(exc, ThrottledError):
        headers["Retry-After"] = str(exc.retry_after)
    if exc.http_status == 500:
        request_id = secrets.token_hex(8)
        log.error("internal error %s: %s", request_id, type(exc).__name__)
        return JSONResponse(error_body("internal_error", f"internal error (request {request_id})"), 500)
    extra: dict[str, object] = {}
    if isinstance(exc, StepUpRequiredError):
        extra = {"max_age_minutes": exc.max_age_minutes, "step_up": "/api/v1/session/step-up"}
    if isinstance(exc, AccessDeniedError):
        # Only for 403s: a 404's reason would tell whether an out-of-scope image exists.
        extra["reason"] = exc.reason
    return JSONResponse(error_body(exc.code, exc.message, **extra), exc.http_status, headers=headers)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if _for_page(request):
        return await run_in_threadpool(page_error, request, 422, "The form or address was not valid.")
    # Report where the request is malformed, never the submitted values (they may be passwords).
    problems = [
        {"where": ".".join(str(part) for part in error.get("loc", ())), "problem": error.get("msg", "")}
        for error in exc.errors()
    ]
    return JSONResponse(error_body("bad_request", "the request is malformed", problems=problems), 422)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if _for_page(request):
        return await run_in_threadpool(page_error, request, exc.status_code, "There is no such page.")
    return JSONResponse(error_body("http_error", str(exc.detail)), exc.status_code)


async def _unexpected(request: Request, exc: Exception) -> Response:
    if _for_page(request):
        return await run_in_threadpool(render_error, request, exc)
    request_id = secrets.token_hex(8)
    log.error("unhandled %s in request %s", type(exc).__name__, request_id)
    return JSONResponse(error_body("internal_error", f"internal error (request {request_id})"), 500)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    app.add_exception_handler(SealroomError, _sealroom_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
