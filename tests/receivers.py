"""Local alert receivers for tests: a webhook (real HTTP) and a syslog collector (UDP or TCP).

Both listen on 127.0.0.1 on a free port, run in a thread and record what arrives::

    with WebhookReceiver() as hook, SyslogReceiver("tcp") as syslog:
        ...  # configure webhook_url = hook.url, syslog = syslog.target
        hook.requests[0].json, syslog.messages[0]

``WebhookReceiver.status`` sets the answer (e.g. 500); clearing ``release`` makes it hang before
answering (a slow receiver); ``stop()`` closes the port, so senders see a refused connection, as with
a receiver that is down.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal, Self


@dataclass
class WebhookRequest:
    """One POST as received."""

    path: str
    headers: dict[str, str]
    """Header names in lower case."""
    body: bytes
    json: Any
    """The parsed body, or ``None`` when it is not JSON."""


class WebhookReceiver:
    """An HTTP server recording each POST and answering ``status`` (200 unless told otherwise)."""

    def __init__(self) -> None:
        self.requests: list[WebhookRequest] = []
        self.status = 200
        self.release = threading.Event()
        """Cleared, the receiver holds each request (after recording it) until it is set again."""
        self.release.set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                try:
                    parsed = json.loads(body)
                except ValueError:
                    parsed = None
                headers = {name.lower(): value for name, value in self.headers.items()}
                receiver.requests.append(WebhookRequest(self.path, headers, body, parsed))
                receiver.release.wait(10.0)
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._running = False

    @property
    def url(self) -> str:
        """Where to send alerts (plain http to loopback, which the settings allow)."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/hooks/sealroom"

    def start(self) -> Self:
        """Start serving."""
        self._thread.start()
        self._running = True
        return self

    def wait_for(self, count: int, timeout: float = 5.0) -> list[WebhookRequest]:
        """The requests, once at least ``count`` arrived (or the timeout passed)."""
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.requests)

    def stop(self) -> None:
        """Stop serving and close the port (later connections are refused)."""
        self.release.set()
        if self._running:
            self._server.shutdown()
            self._running = False
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class SyslogReceiver:
    """A syslog collector on UDP (one message per datagram) or TCP (octet-counted frames, RFC 6587)."""

    def __init__(self, transport: Literal["udp", "tcp"] = "udp") -> None:
        self.transport = transport
        self.messages: list[bytes] = []
        """Each message without transport framing."""
        self.raw: list[bytes] = []
        """Each datagram, or each TCP connection's whole byte stream."""
        self.framing_errors: list[bytes] = []
        """The start of each TCP stream that was not octet-counted."""
        kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
        self._sock = socket.socket(socket.AF_INET, kind)
        self._sock.bind(("127.0.0.1", 0))
        if transport == "tcp":
            self._sock.listen()
        self._sock.settimeout(0.1)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def target(self) -> str:
        """The ``alerts.syslog`` setting pointing here."""
        host, port = self._sock.getsockname()
        return f"{self.transport}://{host}:{port}"

    def wait_for(self, count: int, timeout: float = 5.0) -> list[bytes]:
        """The messages, once at least ``count`` arrived (or the timeout passed)."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.messages)

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                if self.transport == "udp":
                    data = self._sock.recv(65535)
                    self.raw.append(data)
                    self.messages.append(data)
                else:
                    conn, _addr = self._sock.accept()
                    with conn:
                        self._read_stream(conn)
            except TimeoutError:
                continue
            except OSError:
                return

    def _read_stream(self, conn: socket.socket) -> None:
        conn.settimeout(2.0)
        stream = bytearray()
        while chunk := conn.recv(65535):
            stream.extend(chunk)
        self.raw.append(bytes(stream))
        while stream:
            length, sep, rest = bytes(stream).partition(b" ")
            if not sep or not length.isdigit():
                self.framing_errors.append(bytes(stream[:40]))
                return
            size = int(length)
            self.messages.append(rest[:size])
            stream = bytearray(rest[size:])

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stopping.set()
        self._thread.join(timeout=2.0)
        self._sock.close()


_SD_ELEMENT = r'\[[^ \]"=]+(?: [^ \]"=]+="(?:[^"\\]|\\.)*")*\]'
_RFC5424 = re.compile(
    r"<(?P<pri>\d{1,3})>(?P<version>[1-9]\d{0,2}) (?P<timestamp>\S+) (?P<hostname>\S+) (?P<app_name>\S+) "
    rf"(?P<procid>\S+) (?P<msgid>\S+) (?P<sd>-|(?:{_SD_ELEMENT})+)(?: (?P<msg>.*))?",
    re.DOTALL,
)
_SD_PARAM = re.compile(r' ([^ \]"=]+)="((?:[^"\\]|\\.)*)"')


@dataclass
class SyslogMessage:
    """An RFC 5424 message taken apart."""

    facility: int
    severity: int
    version: int
    timestamp: str
    hostname: str
    app_name: str
    procid: str
    msgid: str
    structured_data: dict[str, dict[str, str]]
    """SD-ID → parameter → value (unescaped)."""
    msg: bytes


def parse_rfc5424(message: bytes) -> SyslogMessage:
    """Parse one message strictly enough to catch framing and escaping mistakes (AssertionError)."""
    has_bom = b"\xef\xbb\xbf" in message
    text = message.decode("utf-8")
    match = _RFC5424.fullmatch(text)
    assert match is not None, f"not an RFC 5424 message: {message[:120]!r}"
    pri = int(match["pri"])
    assert pri <= 191, "PRI out of range"
    elements: dict[str, dict[str, str]] = {}
    if match["sd"] != "-":
        for element in re.findall(_SD_ELEMENT, match["sd"]):
            sd_id = element[1:].split(" ", 1)[0].rstrip("]")
            params = {name: re.sub(r"\\(.)", r"\1", value) for name, value in _SD_PARAM.findall(element)}
            elements[sd_id] = params
    msg = (match["msg"] or "").encode()
    if has_bom:
        assert msg.startswith(b"\xef\xbb\xbf"), "a BOM may only start MSG"
    return SyslogMessage(
        facility=pri // 8,
        severity=pri % 8,
        version=int(match["version"]),
        timestamp=match["timestamp"],
        hostname=match["hostname"],
        app_name=match["app_name"],
        procid=match["procid"],
        msgid=match["msgid"],
        structured_data=elements,
        msg=msg,
    )
