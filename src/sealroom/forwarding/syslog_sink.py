"""The syslog sink: RFC 5424 messages over TCP or TLS (RFC 5425), octet-counted (RFC 6587 §3.4.1).

One connection is opened on the first send and reused for every later batch; it is dropped and opened
again after any failure, or when the receiver has closed it (checked before and after each batch).
Connecting, the TLS handshake and each ``sendall`` are bounded by the sink's ``timeout_seconds``.

TLS checks the receiver's certificate against the system's CAs, or only the sink's ``ca_bundle``, and
its host name, with TLS 1.2 or later.

Syslog over TCP has no application-level acknowledgement: a batch counts as delivered once
``sendall`` returned for all of it on a connection that still looks healthy afterwards. A receiver that
dies after the bytes reached the kernel's buffers but before it read them loses them; that is the
standard limitation of syslog transport, and the reason for the webhook sink (a 2xx answer is an
acknowledgement) where that matters.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import ssl
import threading
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from sealroom import rfc5424
from sealroom.config import ForwardSinkSettings
from sealroom.forwarding.formats import FormatError, Record, syslog_message
from sealroom.forwarding.sinks import SendError, error_kind, tls_context


class SyslogSink:
    """Feeds ``tcp://host:port`` or ``tls://host:port`` over one persistent connection."""

    def __init__(self, name: str, settings: ForwardSinkSettings, root: Path) -> None:
        parts = urlsplit(settings.url)
        if parts.scheme not in ("tcp", "tls") or not parts.hostname or parts.port is None:
            raise ValueError("a syslog sink url must look like tls://host:6514 or tcp://host:601")
        self.name = name
        self._settings = settings
        self._root = root
        self._host = parts.hostname
        self._port = parts.port
        self._tls = parts.scheme == "tls"
        self._timeout = settings.timeout_seconds
        self._hostname = rfc5424.header_word(socket.gethostname(), 255)
        self._procid = str(os.getpid())
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None

    def send(self, records: Sequence[Record]) -> None:
        """Send the batch as octet-counted frames on the (re)used connection; raises ``SendError``."""
        try:
            frames = b"".join(rfc5424.octet_frame(self.message(record)) for record in records)
        except FormatError as exc:
            raise SendError(exc.kind) from exc
        sock = self._connection()
        try:
            sock.sendall(frames)
        except OSError as exc:
            self.close()
            raise SendError(error_kind(exc)) from exc
        if _closed_by_peer(sock, self._timeout):
            # The receiver went away while (or before) the batch was written: it may not have it all.
            self.close()
            raise SendError("connection_lost")

    def message(self, record: Record) -> bytes:
        """The RFC 5424 message for ``record`` (without framing); raises ``FormatError``."""
        return syslog_message(record, self._settings.format, hostname=self._hostname, procid=self._procid)

    def close(self) -> None:
        """Shut the connection down (this also wakes a ``sendall`` blocked on another thread)."""
        with self._lock:
            sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()

    def _connection(self) -> socket.socket:
        with self._lock:
            sock = self._sock
        if sock is not None and not _closed_by_peer(sock, self._timeout):
            return sock
        self.close()
        sock = self._connect()
        with self._lock:
            self._sock = sock
        return sock

    def _connect(self) -> socket.socket:
        context = tls_context(self._root, self._settings) if self._tls else None
        try:
            raw = socket.create_connection((self._host, self._port), timeout=self._timeout)
        except OSError as exc:
            raise SendError(error_kind(exc)) from exc
        if context is None:
            return raw
        try:
            return context.wrap_socket(raw, server_hostname=self._host)
        except OSError as exc:  # ssl.SSLError is an OSError; so is a handshake that timed out
            with contextlib.suppress(OSError):
                raw.close()
            raise SendError(error_kind(exc)) from exc


def _closed_by_peer(sock: socket.socket, timeout: float) -> bool:
    """Whether the receiver closed (or reset) the connection. A syslog receiver never sends anything,
    so a readable socket means end of stream, unless it is TLS bookkeeping (TLS 1.3 session tickets),
    which a non-blocking read consumes without yielding data."""
    try:
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            return False
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        sock.setblocking(False)
        try:
            data = sock.recv(4096)
        finally:
            sock.settimeout(timeout)
    except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
        return False
    except (OSError, ValueError):
        return True
    return data == b""
