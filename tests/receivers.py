"""Local receivers for tests: a webhook (real HTTP) and syslog collectors (UDP, TCP, TLS).

All listen on 127.0.0.1 on a free port (or the one given, to come back where a stopped one was), run
in threads and record what arrives::

    with WebhookReceiver() as hook, SyslogReceiver("tcp") as syslog:
        ...  # configure webhook_url = hook.url, syslog = syslog.target
        hook.requests[0].json, syslog.messages[0]

``WebhookReceiver.status`` sets the answer (e.g. 500); clearing ``release`` makes it hang before
answering (a slow receiver); ``stop()`` closes the port, so senders see a refused connection, as with
a receiver that is down. ``SyslogReceiver`` reads a TCP connection to its end before taking the frames
apart (one message per connection, as alerts send); ``FramedSyslogReceiver`` takes frames apart as they
arrive on any number of persistent connections, over TCP or TLS, as a SIEM collector does.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import ssl
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
    answered: int | None = None
    """The status it is answered with (``None`` while held)."""


class WebhookReceiver:
    """An HTTP server recording each POST and answering ``status`` (200 unless told otherwise)."""

    def __init__(self, port: int = 0, *, tls: ssl.SSLContext | None = None) -> None:
        self.requests: list[WebhookRequest] = []
        self.status = 200
        self.release = threading.Event()
        """Cleared, the receiver holds each request (after recording it) until it is set again."""
        self.release.set()
        self.hold_limit = 10.0
        """The longest a request is held while ``release`` is clear."""
        self.held = 0
        """Requests being held right now."""
        self._held_lock = threading.Lock()
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
                request = WebhookRequest(self.path, headers, body, parsed)
                receiver.requests.append(request)
                if not receiver.release.is_set():
                    with receiver._held_lock:
                        receiver.held += 1
                    try:
                        receiver.release.wait(receiver.hold_limit)
                    finally:
                        with receiver._held_lock:
                            receiver.held -= 1
                request.answered = code = receiver.status  # before the sender can see it
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._tls = tls is not None
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._running = False

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Where to send alerts (plain http to loopback, which the settings allow)."""
        host, port = self._server.server_address[:2]
        return f"{'https' if self._tls else 'http'}://{host!s}:{port}/hooks/sealroom"

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


class FramedSyslogReceiver:
    """A syslog collector over TCP, or TLS with ``tls`` (a server context), that takes octet-counted
    frames apart as they arrive, on any number of persistent connections.

    ``stop()`` closes the port and every open connection (a collector that went down); a new receiver
    with ``port=`` the old one's port brings it back where senders expect it.
    """

    def __init__(self, *, tls: ssl.SSLContext | None = None, port: int = 0) -> None:
        self.messages: list[bytes] = []
        """Each message without its frame, in arrival order."""
        self.connections = 0
        """Connections accepted (and, for TLS, whose handshake succeeded)."""
        self.handshake_failures = 0
        self.framing_errors: list[bytes] = []
        self._tls = tls
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", port))
        self._sock.listen()
        self._sock.settimeout(0.1)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self._sock.getsockname()[1])

    @property
    def target(self) -> str:
        """The sink ``url`` pointing here (``tls://`` or ``tcp://``)."""
        return f"{'tls' if self._tls else 'tcp'}://127.0.0.1:{self.port}"

    def start(self) -> Self:
        """Start accepting."""
        self._thread.start()
        return self

    def wait_for(self, count: int, timeout: float = 10.0) -> list[bytes]:
        """The messages, once at least ``count`` arrived (or the timeout passed)."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.messages)

    def stop(self) -> None:
        """Close the port and every connection."""
        self._stopping.set()
        self._thread.join(timeout=2.0)
        self._sock.close()
        with self._lock:
            conns, self._open = self._open, []
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                conn.close()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _addr = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(2.0)
        if self._tls is not None:
            try:
                conn = self._tls.wrap_socket(conn, server_side=True)
            except (OSError, ssl.SSLError):
                with self._lock:
                    self.handshake_failures += 1
                conn.close()
                return
        conn.settimeout(0.1)
        with self._lock:
            self.connections += 1
            self._open.append(conn)
        stream = bytearray()
        while not self._stopping.is_set():
            try:
                chunk = conn.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not chunk:
                return
            stream.extend(chunk)
            self._take_frames(stream)

    def _take_frames(self, stream: bytearray) -> None:
        while stream:
            length, sep, _rest = bytes(stream[:12]).partition(b" ")
            if not sep and len(stream) < 12:
                return  # the length is not all here yet
            if not sep or not length.isdigit():
                self.framing_errors.append(bytes(stream[:40]))
                stream.clear()
                return
            start = len(length) + 1
            end = start + int(length)
            if len(stream) < end:
                return
            with self._lock:
                self.messages.append(bytes(stream[start:end]))
            del stream[:end]

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


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
