"""The webhook sink: each batch as one HTTPS POST of JSON, signed like the alert webhook.

The body is ``{"events": […], "format": "sealroom"|"ocsf", "source": "sealroom"}``. When ``secret_env``
names an environment variable, ``X-Sealroom-Signature: sha256=<hex>`` carries HMAC-SHA256 of the exact
body under its value; the variable is read at every send, and when it is unset or empty nothing is
sent (``webhook_secret_missing``) rather than an unsigned body. A 2xx answer acknowledges the batch;
anything else is a failure (``http_status_NNN``): redirects are not followed, proxies named in the
environment are not used, and the response body is never read. Connect, write and read are each
bounded by the sink's ``timeout_seconds``; TLS is checked as for the syslog sink.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import httpx

from sealroom import __version__
from sealroom.config import ForwardSinkSettings
from sealroom.forwarding.formats import FormatError, Record, webhook_body
from sealroom.forwarding.sinks import SendError, error_kind, tls_context

SIGNATURE_HEADER = "X-Sealroom-Signature"


class WebhookSink:
    """POSTs batches to the sink's URL over one reusable HTTP client."""

    def __init__(self, name: str, settings: ForwardSinkSettings, root: Path) -> None:
        self.name = name
        self._settings = settings
        self._root = root
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None

    def headers(self, body: bytes) -> dict[str, str]:
        """The request headers for ``body``, signed when a secret variable is configured.

        Raises ``SendError("webhook_secret_missing")`` when that variable is unset or empty.
        """
        headers = {"Content-Type": "application/json", "User-Agent": f"sealroom/{__version__}"}
        if self._settings.secret_env:
            key = os.environ.get(self._settings.secret_env, "")
            if not key:
                raise SendError("webhook_secret_missing")
            digest = hmac.new(key.encode(), body, hashlib.sha256).hexdigest()
            headers[SIGNATURE_HEADER] = f"sha256={digest}"
        return headers

    def send(self, records: Sequence[Record]) -> None:
        """POST the batch once; return only on a 2xx answer, else raise ``SendError``."""
        try:
            body = webhook_body(records, self._settings.format)
        except FormatError as exc:
            raise SendError(exc.kind) from exc
        headers = self.headers(body)
        client = self._http()
        try:
            with client.stream("POST", self._settings.url, content=body, headers=headers) as response:
                code = response.status_code  # the body is never read: nothing in it matters here
        except httpx.HTTPError as exc:
            raise SendError(error_kind(exc)) from exc
        except RuntimeError as exc:  # the client was closed by ``close`` from another thread
            raise SendError("connection_lost") from exc
        if not 200 <= code < 300:
            raise SendError(f"http_status_{code}")

    def close(self) -> None:
        """Close the HTTP client and its connections."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                https = self._settings.url.startswith("https:")
                verify = tls_context(self._root, self._settings) if https else True
                self._client = httpx.Client(
                    timeout=httpx.Timeout(self._settings.timeout_seconds),
                    # Proxy variables would send the audit trail through a host nobody reviewed.
                    trust_env=False,
                    follow_redirects=False,
                    verify=verify,
                )
            return self._client
