"""The sink contract of SIEM forwarding, the error words it reports, and building a sink from settings.

A sink delivers one batch of audit records, in order, or raises ``SendError`` whose ``kind`` is a short
machine word (``connection_refused``, ``timeout``, ``tls_error``, ``connection_lost``, ``dns_error``,
``connection_error``, ``http_status_503``, ``webhook_secret_missing``, ``ca_bundle_unreadable``,
``ocsf_mapping_failed``); the forwarder stores it as ``forward_cursors.last_error``. Returning from
``send`` means the receiver acknowledged the whole batch (for syslog over TCP, see ``syslog_sink``).
"""

from __future__ import annotations

import os
import socket
import ssl
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import httpx

from sealroom.config import ForwardSinkSettings
from sealroom.forwarding.formats import Record


class SendError(Exception):
    """A batch was not delivered; ``kind`` says why in one machine word (never a secret)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class ForwardSink(Protocol):
    """One destination of forwarded audit records."""

    name: str

    def send(self, records: Sequence[Record]) -> None:
        """Deliver ``records`` in order; return only when the receiver acknowledged all of them.

        Raises ``SendError``. Every network operation is bounded by the sink's ``timeout_seconds``.
        """
        ...

    def close(self) -> None:
        """Drop any open connection (idempotent); a send in progress on another thread then fails."""
        ...


def error_kind(exc: BaseException) -> str:
    """The machine word for a network failure, looking through the chain of causes (httpx wraps
    the socket and TLS errors it meets)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 16:
        seen.append(current)
        current = current.__cause__ or current.__context__
    # Most telling first: a TLS failure often surfaces as a closed connection too.
    for kinds, word in (
        ((ssl.SSLError, ssl.CertificateError), "tls_error"),
        ((TimeoutError, httpx.TimeoutException), "timeout"),
        ((ConnectionRefusedError,), "connection_refused"),
        ((ConnectionResetError, BrokenPipeError, ConnectionAbortedError, httpx.RemoteProtocolError),
         "connection_lost"),
        ((socket.gaierror,), "dns_error"),
    ):  # fmt: skip
        if any(isinstance(error, kinds) for error in seen):
            return word
    return "connection_error"


def tls_context(root: Path, settings: ForwardSinkSettings) -> ssl.SSLContext:
    """Certificate checks against the system's CAs or only the sink's ``ca_bundle``, the host name
    checked, TLS 1.2 or later. Raises ``SendError("ca_bundle_unreadable")``.

    The system's CAs are OpenSSL's own store: ``SSL_CERT_FILE``/``SSL_CERT_DIR`` are not consulted, so
    the environment cannot widen whom the audit trail is sent to (the sink's ``ca_bundle`` is where an
    internal CA is named, and reviewed).
    """
    try:
        if settings.ca_bundle:
            context = ssl.create_default_context(cafile=str(root / settings.ca_bundle))
        else:
            context = _system_context()
    except (OSError, ssl.SSLError) as exc:
        raise SendError("ca_bundle_unreadable") from exc
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _system_context() -> ssl.SSLContext:
    paths = ssl.get_default_verify_paths()
    cafile = paths.openssl_cafile if os.path.isfile(paths.openssl_cafile) else None
    capath = paths.openssl_capath if os.path.isdir(paths.openssl_capath) else None
    if cafile is None and capath is None:  # no store at all: a context that trusts nobody
        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    return ssl.create_default_context(cafile=cafile, capath=capath)


def target_of(settings: ForwardSinkSettings) -> str:
    """``scheme://host:port`` of the sink: no path or query, which could carry a token."""
    parts = urlsplit(settings.url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    port = parts.port or default
    host = parts.hostname or "?"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}:{port}"
