"""Request body limits, enforced before anything reads a body into memory.

Every route but the upload gets a small limit: a declared ``Content-Length`` over it is refused at once,
and a chunked body is counted as it streams and cut off when it passes the limit. The upload route reads
its body itself, bounded by the ingest file limit, so that a refusal there is audited like any other.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

JSON_BODY_LIMIT = 64 * 1024
UPLOAD_PATH = "/api/v1/images"


def _refusal(limit: int) -> tuple[Message, Message]:
    body = json.dumps(
        {"error": "too_large", "message": f"the request body is over the limit of {limit:,} bytes"}
    ).encode()
    start: Message = {
        "type": "http.response.start",
        "status": 413,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
    }
    return start, {"type": "http.response.body", "body": body}


class BodyLimitMiddleware:
    """Pure ASGI middleware answering 413 for bodies over the route's limit."""

    def __init__(self, app: ASGIApp, *, limit: int = JSON_BODY_LIMIT) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "POST" and scope["path"].rstrip("/") == UPLOAD_PATH:
            await self.app(scope, receive, send)
            return
        limit = self.limit
        declared = dict(scope.get("headers", [])).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            for message in _refusal(limit):
                await send(message)
            return

        received = 0
        started = refused = False

        async def counting_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Answer now and make the app see a client that went away: nothing reads further,
                    # and whatever the app then tries to send is dropped.
                    refused = True
                    if not started:
                        for refusal in _refusal(limit):
                            await send(refusal)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, counting_receive, guarded_send)
