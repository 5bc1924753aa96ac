"""A fake model server for tests: real HTTP on 127.0.0.1, speaking the wire protocols the SDKs use.

It answers the Anthropic Messages API, Bedrock InvokeModel and Vertex rawPredict (Claude models) and
OpenAI Chat Completions, records every request exactly as it arrived, and replies as the test
scripts it::

    with ModelServer() as server:            # or the ``model_server`` fixture
        server.queue(status(429, headers={"retry-after-ms": "5"}), reply('{"answer": "42"}'))
        settings = EngineSettings(kind="anthropic", model="claude-x", base_url=server.base_url("anthropic"))
        ...                                  # drive a transport, an engine or the whole workspace
        request = server.requests[-1]
        assert images(request)[0] == png_bytes

Endpoints (``base_url(api)`` gives the base URL to configure for each):

========== =============================================================================
anthropic  ``POST /v1/messages``
bedrock    ``POST /model/{model_id}/invoke``
vertex     ``POST /v1/projects/{project}/locations/{region}/publishers/anthropic/models/{model}:rawPredict``
openai     ``POST …/chat/completions`` (``base_url("openai")`` ends in ``/v1``)
========== =============================================================================

Behaviours (queued with ``queue``; each request takes the next one, whatever its endpoint):
``reply(text, input_tokens=, output_tokens=)``, ``status(code, headers=, error_type=, message=)``
with an error body in the provider's format, ``delay(seconds, then=)`` to trigger client timeouts,
``trickle(interval)`` for a body that dribbles in, ``raw(code, body)`` for malformed replies and
``drop()`` to close the connection unanswered. When the queue is empty, ``server.default(request)``
decides (a ``reply("{}")`` unless replaced).
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal
from urllib.parse import unquote

Api = Literal["anthropic", "bedrock", "vertex", "openai", "unknown"]


@dataclass
class RecordedRequest:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    """Header names in lower case."""
    body: bytes
    json: Any
    """The parsed body, or ``None`` when it is not JSON."""
    api: Api
    model: str | None
    """From the body (anthropic, openai) or the path (bedrock, vertex)."""
    path_params: dict[str, str] = field(default_factory=dict)
    """``project``, ``region`` for vertex."""


@dataclass(frozen=True)
class Reply:
    """A successful completion in the endpoint's format."""

    text: str
    input_tokens: int = 10
    output_tokens: int = 5
    stop_reason: str | None = None
    """Defaults to ``end_turn`` (Claude) or ``stop`` (OpenAI)."""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Status:
    """An error status with a body in the provider's error format."""

    code: int
    headers: dict[str, str] = field(default_factory=dict)
    error_type: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class Delay:
    """Wait ``seconds`` before answering with ``then`` (or the default reply)."""

    seconds: float
    then: Behaviour | None = None


@dataclass(frozen=True)
class Trickle:
    """Send the headers, then the body of ``then`` (or the default reply) in ``pieces`` parts,
    ``interval`` seconds apart: each read is quick, the whole body slow."""

    interval: float
    pieces: int = 10
    then: Reply | None = None


@dataclass(frozen=True)
class Raw:
    """Exactly this status, body and headers."""

    code: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Drop:
    """Close the connection without answering."""


Behaviour = Reply | Status | Delay | Trickle | Raw | Drop


def reply(
    text: str = "{}",
    *,
    input_tokens: int = 10,
    output_tokens: int = 5,
    stop_reason: str | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """A successful completion carrying ``text``."""
    return Reply(text, input_tokens, output_tokens, stop_reason, dict(headers or {}))


def status(
    code: int,
    *,
    headers: dict[str, str] | None = None,
    error_type: str | None = None,
    message: str | None = None,
) -> Status:
    """An error answer; ``headers`` e.g. ``{"retry-after": "0"}`` or ``{"retry-after-ms": "5"}``."""
    return Status(code, dict(headers or {}), error_type, message)


def delay(seconds: float, then: Behaviour | None = None) -> Delay:
    """Answer only after ``seconds`` (with ``then``, else the default reply)."""
    return Delay(seconds, then)


def trickle(interval: float, *, pieces: int = 10, then: Reply | None = None) -> Trickle:
    """Answer promptly with headers, then dribble the body out over ``interval × pieces`` seconds."""
    return Trickle(interval, pieces, then)


def raw(code: int, body: bytes, headers: dict[str, str] | None = None) -> Raw:
    """Answer with exactly this status and body (``content-type`` defaults to text/plain)."""
    return Raw(code, body, dict(headers or {}))


def drop() -> Drop:
    """Close the connection without an answer."""
    return Drop()


def images(request: RecordedRequest) -> list[bytes]:
    """The decoded bytes of every image the request carried (base64 blocks or ``data:`` URLs), in order."""
    found: list[bytes] = []
    for block in _content_blocks(request):
        if block.get("type") == "image" and block.get("source", {}).get("type") == "base64":
            found.append(base64.b64decode(block["source"]["data"], validate=True))
        elif block.get("type") == "image_url":
            url = str(block.get("image_url", {}).get("url", ""))
            if url.startswith("data:"):
                found.append(base64.b64decode(url.partition(",")[2], validate=True))
    return found


def texts(request: RecordedRequest) -> list[str]:
    """Every text in the request's messages (user and assistant turns), in order; not the system prompt."""
    found: list[str] = []
    for message in _messages(request):
        content = message.get("content")
        if isinstance(content, str):
            found.append(content)
        elif isinstance(content, list):
            blocks = [block for block in content if isinstance(block, dict)]
            found.extend(str(block["text"]) for block in blocks if block.get("type") == "text")
    return found


def system(request: RecordedRequest) -> str | None:
    """The system prompt: Claude's ``system`` field, or OpenAI's system message."""
    body = request.json if isinstance(request.json, dict) else {}
    value = body.get("system")
    if value is None:
        messages = [m for m in body.get("messages", []) if isinstance(m, dict)]
        value = next((m.get("content") for m in messages if m.get("role") == "system"), None)
    if isinstance(value, list):
        return "".join(str(block.get("text", "")) for block in value)
    return value if isinstance(value, str) else None


def _messages(request: RecordedRequest) -> list[dict[str, Any]]:
    body = request.json if isinstance(request.json, dict) else {}
    return [m for m in body.get("messages", []) if isinstance(m, dict) and m.get("role") != "system"]


def _content_blocks(request: RecordedRequest) -> Iterator[dict[str, Any]]:
    for message in _messages(request):
        content = message.get("content")
        if isinstance(content, list):
            yield from (block for block in content if isinstance(block, dict))


class ModelServer:
    """The server. ``start``/``stop`` (or use it as a context manager); thread-safe."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.default: Callable[[RecordedRequest], Behaviour] = lambda request: reply()
        self._queue: deque[Behaviour] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._ids = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        assert self._server is not None, "the server is not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def base_url(self, api: Api) -> str:
        """The ``base_url`` to configure for an engine talking to ``api``."""
        return f"{self.url}/v1" if api in ("vertex", "openai") else self.url

    def queue(self, *behaviours: Behaviour) -> None:
        """Script the next answers, first in first out."""
        with self._lock:
            self._queue.extend(behaviours)

    def pending(self) -> int:
        """How many queued behaviours are still unused."""
        with self._lock:
            return len(self._queue)

    def clear(self) -> None:
        """Forget recorded requests and queued behaviours."""
        with self._lock:
            self.requests.clear()
            self._queue.clear()

    @property
    def last(self) -> RecordedRequest:
        """The most recent request."""
        with self._lock:
            assert self.requests, "no request was received"
            return self.requests[-1]

    def start(self) -> ModelServer:
        """Listen on a free port of 127.0.0.1 in a background thread."""
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-model-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening; delayed answers are abandoned."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ModelServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _record(self, request: RecordedRequest, *, scripted: bool = True) -> Behaviour:
        with self._lock:
            self.requests.append(request)
            if scripted and self._queue:
                return self._queue.popleft()
        return self.default(request)

    def _wait(self, seconds: float) -> bool:
        """Sleep; ``False`` when the server is stopping meanwhile."""
        return not self._stopping.wait(seconds)

    def _next_id(self) -> int:
        return next(self._ids)


def _handler_for(server: ModelServer) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        owner = server

    return Handler


class _Handler(BaseHTTPRequestHandler):
    owner: ModelServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: tests read ``server.requests`` instead."""

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        api, model, params = _route(self.path)
        try:
            parsed: Any = json.loads(body) if body else None
        except ValueError:
            parsed = None
        if model is None and isinstance(parsed, dict):
            model = parsed.get("model")
        request = RecordedRequest(
            method="POST",
            path=self.path,
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
            json=parsed,
            api=api,
            model=model,
            path_params=params,
        )
        if api == "unknown":
            self.owner._record(request, scripted=False)
            self._send(404, {"error": {"type": "not_found_error", "message": f"no endpoint {self.path}"}})
            return
        self._behave(self.owner._record(request), request)

    def do_GET(self) -> None:
        self._send(404, {"error": {"type": "not_found_error", "message": "only POST is served"}})

    def _behave(self, behaviour: Behaviour, request: RecordedRequest) -> None:
        if isinstance(behaviour, Delay):
            if not self.owner._wait(behaviour.seconds):
                self.close_connection = True
                return
            self._behave(behaviour.then or self.owner.default(request), request)
        elif isinstance(behaviour, Trickle):
            answer = behaviour.then or reply()
            payload = json.dumps(_reply_body(request, answer, self.owner._next_id())).encode()
            headers = {"content-type": "application/json"}
            self._write(200, payload, headers, interval=behaviour.interval, pieces=behaviour.pieces)
        elif isinstance(behaviour, Drop):
            self.close_connection = True
        elif isinstance(behaviour, Raw):
            self._write(behaviour.code, behaviour.body, {"content-type": "text/plain", **behaviour.headers})
        elif isinstance(behaviour, Status):
            error, error_headers = _error_body(request.api, behaviour)
            self._send(behaviour.code, error, {**error_headers, **behaviour.headers})
        else:
            self._send(200, _reply_body(request, behaviour, self.owner._next_id()), behaviour.headers)

    def _send(self, code: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self._write(code, json.dumps(body).encode(), {"content-type": "application/json", **(headers or {})})

    def _write(
        self, code: int, body: bytes, headers: dict[str, str], *, interval: float = 0.0, pieces: int = 1
    ) -> None:
        try:
            self.send_response(code)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.flush()
            size = max(1, -(-len(body) // pieces))
            for start in range(0, len(body), size):
                if start and not self.owner._wait(interval):
                    self.close_connection = True
                    return
                self.wfile.write(body[start:start + size])
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (a timeout test); nothing to answer.
            self.close_connection = True


def _route(path: str) -> tuple[Api, str | None, dict[str, str]]:
    route = path.split("?", 1)[0]
    if route == "/v1/messages":
        return "anthropic", None, {}
    if route.startswith("/model/") and route.endswith("/invoke"):
        return "bedrock", unquote(route[len("/model/"):-len("/invoke")]), {}
    parts = route.split("/")
    # ['', 'v1', 'projects', P, 'locations', R, 'publishers', 'anthropic', 'models', 'M:rawPredict']
    if (
        len(parts) == 10
        and parts[1:3] == ["v1", "projects"]
        and parts[4] == "locations"
        and parts[6:9] == ["publishers", "anthropic", "models"]
        and parts[9].endswith(":rawPredict")
    ):
        model = unquote(parts[9][: -len(":rawPredict")])
        return "vertex", model, {"project": unquote(parts[3]), "region": unquote(parts[5])}
    if route.endswith("/chat/completions"):
        return "openai", None, {}
    return "unknown", None, {}


def _reply_body(request: RecordedRequest, answer: Reply, number: int) -> dict[str, Any]:
    if request.api == "openai":
        return {
            "id": f"chatcmpl-fake-{number}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.model or "fake-model",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer.text},
                    "finish_reason": answer.stop_reason or "stop",
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": answer.input_tokens,
                "completion_tokens": answer.output_tokens,
                "total_tokens": answer.input_tokens + answer.output_tokens,
            },
        }
    return {
        "id": f"msg_fake_{number:06d}",
        "type": "message",
        "role": "assistant",
        "model": request.model or "claude-fake",
        "content": [{"type": "text", "text": answer.text}],
        "stop_reason": answer.stop_reason or "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": answer.input_tokens, "output_tokens": answer.output_tokens},
    }


_CLAUDE_ERRORS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
_BEDROCK_ERRORS = {
    400: "ValidationException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}
_OPENAI_ERRORS = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}


def _error_body(api: Api, error: Status) -> tuple[dict[str, Any], dict[str, str]]:
    message = error.message or f"fake error {error.code}"
    if api == "openai":
        kind, code = _OPENAI_ERRORS.get(error.code, ("server_error", None))
        body = {"message": message, "type": error.error_type or kind, "param": None, "code": code}
        return {"error": body}, {}
    if api == "bedrock":
        kind = error.error_type or _BEDROCK_ERRORS.get(error.code, "InternalServerException")
        return {"message": message}, {"x-amzn-errortype": kind}
    fallback = "api_error" if error.code >= 500 else "invalid_request_error"
    kind = error.error_type or _CLAUDE_ERRORS.get(error.code, fallback)
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_fake"}, {}
