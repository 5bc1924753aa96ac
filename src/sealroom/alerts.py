"""Alerts raised at once (break-glass use) to a webhook and/or a syslog collector.

``AlertDispatcher.send`` never blocks its caller: alerts go on a bounded queue that one background
thread works through. Each configured sink gets up to ``ATTEMPTS`` tries, each limited by
``alerts.timeout_seconds``, with a short backoff between them. Every sink's result is audited as
``admin`` / ``alert.deliver`` (success or failure, with the sink, the number of attempts, the HTTP status
or the error kind, and the alert id; never the signing key). An alert that cannot be queued (queue
full, dispatcher closed) or that has no sink to go to is audited as a failure at once.

Sinks:

* **webhook**: an HTTP POST of the alert as JSON (no proxies from the environment, no redirects). When
  ``webhook_secret_env`` names an environment variable, the header ``X-Sealroom-Signature:
  sha256=<hex>`` carries an HMAC-SHA256 of the exact body under its value. The variable is read at
  each delivery: if it is unset or empty the webhook delivery fails (``webhook_secret_missing``,
  audited, not retried) rather than go out unsigned; ``configuration_problems`` reports it early.
* **syslog**: an RFC 5424 message, facility 10 (security/authorization), with the alert's fields as
  structured data ``[sealroom@32473 …]``; one UDP datagram, or over TCP with octet-counting framing
  (RFC 6587). UDP cannot confirm receipt: "delivered" means sent.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import queue
import secrets
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal, Protocol
from urllib.parse import urlsplit

import httpx
from sqlalchemy.orm import Session, sessionmaker

from sealroom import __version__, rfc5424
from sealroom.audit.log import AuditLog
from sealroom.clock import Clock
from sealroom.config import AlertSettings
from sealroom.rfc5424 import FieldValue

log = logging.getLogger("sealroom.alerts")

Severity = Literal["emergency", "alert", "critical", "error", "warning", "notice"]
AlertStatus = Literal["delivered", "failed", "not_configured"]

ATTEMPTS = 3
BACKOFF_SECONDS = (0.2, 0.6)
"""Pauses before the second and third attempt."""
QUEUE_SIZE = 256
CLOSE_WAIT_LIMIT = 30.0
"""``close`` waits at most this long for alerts in flight."""
ACTOR = "system:alerts"
SIGNATURE_HEADER = "X-Sealroom-Signature"


@dataclass(frozen=True)
class Alert:
    """One alert: what happened (``kind``), how bad, a summary free of personal data, and ``fields``
    of ids and times for the receiver to act on (never free text a person typed)."""

    kind: str
    severity: Severity
    summary: str
    fields: Mapping[str, FieldValue]
    id: str = field(default_factory=lambda: secrets.token_hex(16))
    raised_at: datetime | None = None
    """Set by ``AlertDispatcher.send`` from the workspace clock when not given."""

    def payload(self) -> dict[str, object]:
        """The JSON object a webhook receives."""
        return {
            "source": rfc5424.APP_NAME,
            "id": self.id,
            "kind": self.kind,
            "severity": self.severity,
            "summary": self.summary,
            "raised_at": rfc5424.iso(self.raised_at),
            "fields": dict(self.fields),
        }


OnResult = Callable[[AlertStatus], None]


class DeliveryError(Exception):
    """One delivery attempt failed; ``kind`` is a short machine word for the audit log."""

    def __init__(self, kind: str, *, status: int | None = None, retry: bool = True) -> None:
        super().__init__(kind)
        self.kind = kind
        self.status = status
        self.retry = retry


class AlertSink(Protocol):
    """A destination for alerts."""

    name: str

    def deliver(self, alert: Alert) -> int | None:
        """Deliver once; return the HTTP status (webhooks) or None; raise ``DeliveryError``."""
        ...


class WebhookSink:
    """POSTs the alert as JSON to ``url``, signed when a secret variable is configured."""

    name = "webhook"

    def __init__(self, url: str, secret_env: str | None, timeout: float) -> None:
        self._url = url
        self._secret_env = secret_env
        self._timeout = timeout

    def body(self, alert: Alert) -> bytes:
        """The exact bytes sent (and signed)."""
        return json.dumps(alert.payload(), sort_keys=True, separators=(",", ":")).encode()

    def deliver(self, alert: Alert) -> int | None:
        """POST once; any status other than 2xx is a failure (3xx included: redirects are not followed)."""
        body = self.body(alert)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"sealroom/{__version__}",
            "X-Sealroom-Alert-Id": alert.id,
        }
        if self._secret_env:
            key = os.environ.get(self._secret_env, "")
            if not key:
                raise DeliveryError("webhook_secret_missing", retry=False)
            digest = hmac.new(key.encode(), body, hashlib.sha256).hexdigest()
            headers[SIGNATURE_HEADER] = f"sha256={digest}"
        try:
            with (
                httpx.Client(timeout=self._timeout, trust_env=False, follow_redirects=False) as client,
                client.stream("POST", self._url, content=body, headers=headers) as response,
            ):
                code = response.status_code  # the body is never read: nothing in it matters here
        except httpx.TimeoutException as exc:
            raise DeliveryError("timeout") from exc
        except httpx.HTTPError as exc:
            raise DeliveryError("connection_error") from exc
        if 200 <= code < 300:
            return code
        retry = code >= 500 or code == 429
        raise DeliveryError("redirect" if 300 <= code < 400 else "http_status", status=code, retry=retry)


class SyslogSink:
    """Sends RFC 5424 messages to ``udp://host:port`` or ``tcp://host:port``."""

    name = "syslog"

    def __init__(self, target: str, timeout: float) -> None:
        parts = urlsplit(target)
        if parts.scheme not in ("udp", "tcp") or not parts.hostname or parts.port is None:
            raise ValueError("syslog must look like udp://host:514 or tcp://host:601")
        self._transport = parts.scheme
        self._address = (parts.hostname, parts.port)
        self._timeout = timeout
        self._hostname = rfc5424.header_word(socket.gethostname(), 255)

    def message(self, alert: Alert) -> bytes:
        """The RFC 5424 message (without transport framing)."""
        return format_rfc5424(alert, hostname=self._hostname, procid=str(os.getpid()))

    def deliver(self, alert: Alert) -> int | None:
        """Send once: a datagram, or an octet-counted frame on a new TCP connection."""
        message = self.message(alert)
        try:
            if self._transport == "udp":
                infos = socket.getaddrinfo(*self._address, type=socket.SOCK_DGRAM)
                family, kind, proto, _name, address = infos[0]
                with socket.socket(family, kind, proto) as sock:
                    sock.settimeout(self._timeout)
                    sock.sendto(message, address)
            else:
                with socket.create_connection(self._address, timeout=self._timeout) as sock:
                    sock.sendall(rfc5424.octet_frame(message))
        except TimeoutError as exc:
            raise DeliveryError("timeout") from exc
        except OSError as exc:
            raise DeliveryError("connection_error") from exc
        return None


def format_rfc5424(alert: Alert, *, hostname: str, procid: str) -> bytes:
    """``<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG`` for ``alert`` (RFC 5424).

    PRI is facility 10 (security/authorization) with the alert's severity. The structured data holds
    ``alert_id``, ``kind`` and every field (names cut to 32 safe characters, values escaped); MSG is
    the summary, preceded by the UTF-8 BOM only when it is not plain ASCII.
    """
    return rfc5424.format_message(
        severity=rfc5424.SEVERITIES[alert.severity],
        timestamp=rfc5424.iso(alert.raised_at),
        hostname=hostname,
        procid=procid,
        msgid=alert.kind,
        params={"alert_id": alert.id, "kind": alert.kind, **alert.fields},
        msg=alert.summary,
    )


@dataclass
class _Job:
    alert: Alert
    on_result: OnResult | None


_STOP = object()


class AlertDispatcher:
    """Sends alerts to the configured sinks without blocking the request that raised them."""

    def __init__(
        self, settings: AlertSettings, db: sessionmaker[Session], audit: AuditLog, clock: Clock
    ) -> None:
        self._settings = settings
        self._db = db
        self._audit = audit
        self._clock = clock
        self._sinks: list[AlertSink] = []
        if settings.webhook_url:
            self._sinks.append(
                WebhookSink(settings.webhook_url, settings.webhook_secret_env, settings.timeout_seconds)
            )
        if settings.syslog:
            self._sinks.append(SyslogSink(settings.syslog, settings.timeout_seconds))
        self._queue: queue.Queue[_Job | object] = queue.Queue(maxsize=QUEUE_SIZE)
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        self._worker: threading.Thread | None = None
        self._closed = False

    @property
    def sinks(self) -> list[str]:
        """Names of the configured sinks (``webhook``, ``syslog``)."""
        return [sink.name for sink in self._sinks]

    @property
    def max_delivery_seconds(self) -> float:
        """The longest one alert can take through every sink with every retry."""
        per_sink = ATTEMPTS * self._settings.timeout_seconds + sum(BACKOFF_SECONDS)
        return per_sink * max(1, len(self._sinks))

    def configuration_problems(self) -> list[str]:
        """What keeps alerts from going out, for a readiness check (empty when all is well)."""
        problems = []
        if not self._sinks:
            problems.append("no alert sink is configured ([alerts] webhook_url or syslog)")
        env = self._settings.webhook_secret_env
        if self._settings.webhook_url and env and not os.environ.get(env):
            # Only this process's environment can be seen: the server may well have the variable.
            problems.append(
                f"the webhook signing key variable {env} is not set in this process's environment: it "
                "must be set where sealroom serve and sealroom alerts run run, or webhook alerts fail"
            )
        return problems

    def send(self, alert: Alert, *, on_result: OnResult | None = None) -> None:
        """Queue ``alert`` for every sink and return at once.

        ``on_result`` is called once, on the delivery thread, with ``delivered`` (at least one sink
        took it), ``failed`` or ``not_configured`` (called at once for the last, and for an alert that
        cannot be queued). It must not raise; if it does, the error is logged by kind only.
        """
        if alert.raised_at is None:
            alert = replace(alert, raised_at=self._clock.now())
        if not self._sinks:
            self._record_unsent(alert, "no_sink_configured")
            _report(on_result, "not_configured")
            return
        with self._lock:
            refused = "dispatcher_closed" if self._closed else None
            if refused is None:
                try:
                    self._queue.put_nowait(_Job(alert, on_result))
                    self._pending += 1
                except queue.Full:
                    refused = "queue_full"
            if refused is None:
                self._start_worker()
        if refused is not None:
            self._record_unsent(alert, refused)
            _report(on_result, "failed")

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds until every queued alert is handled; True if none is left."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def close(self) -> None:
        """Wait (bounded) for alerts in flight, then stop; later alerts are refused (audited)."""
        with self._lock:
            self._closed = True
            worker = self._worker
        if worker is None:
            return
        if not self.flush(min(self.max_delivery_seconds * 2, CLOSE_WAIT_LIMIT)):
            log.warning("alerts still being delivered at close: %d may not go out", self._pending)
        with contextlib.suppress(queue.Full):  # a stuck worker is a daemon thread: it dies with us
            self._queue.put_nowait(_STOP)
        worker.join(timeout=1.0)

    # The delivery thread.

    def _start_worker(self) -> None:
        if self._worker is None:
            self._worker = threading.Thread(target=self._run, name="sealroom-alerts", daemon=True)
            self._worker.start()

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is _STOP:
                return
            assert isinstance(job, _Job)
            try:
                delivered = [self._deliver(sink, job.alert) for sink in self._sinks]
                _report(job.on_result, "delivered" if any(delivered) else "failed")
            except Exception as exc:  # the thread must outlive any one alert
                log.error("alert delivery failed: %s", type(exc).__name__)
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def _deliver(self, sink: AlertSink, alert: Alert) -> bool:
        errors: list[str] = []
        status: int | None = None
        for attempt in range(1, ATTEMPTS + 1):
            try:
                status = sink.deliver(alert)
            except DeliveryError as exc:
                errors.append(exc.kind)
                status = exc.status
                if not exc.retry or attempt == ATTEMPTS:
                    break
                time.sleep(BACKOFF_SECONDS[attempt - 1])
            else:
                self._record(alert, sink.name, True, attempt, status, errors)
                return True
        self._record(alert, sink.name, False, len(errors), status, errors)
        return False

    def _record(
        self, alert: Alert, sink: str, ok: bool, attempts: int, status: int | None, errors: list[str]
    ) -> None:
        details: dict[str, object] = {
            "alert_id": alert.id,
            "kind": alert.kind,
            "sink": sink,
            "attempts": attempts,
            "status_code": status,
            "errors": errors,
        }
        self._append("success" if ok else "failure", None if ok else errors[-1], details)

    def _record_unsent(self, alert: Alert, reason: str) -> None:
        details: dict[str, object] = {"alert_id": alert.id, "kind": alert.kind, "sink": None, "attempts": 0}
        self._append("failure", reason, details)

    def _append(self, outcome: str, reason: str | None, details: dict[str, object]) -> None:
        try:
            self._audit.append(
                self._db,
                category="admin",
                action="alert.deliver",
                outcome=outcome,
                actor=ACTOR,
                reason=reason,
                details=details,
            )
        except Exception as exc:  # an alert is not taken back because its record failed; say so
            log.error("could not audit alert delivery (%s): %s", details.get("sink"), type(exc).__name__)


def _report(on_result: OnResult | None, status: AlertStatus) -> None:
    if on_result is None:
        return
    try:
        on_result(status)
    except Exception as exc:
        log.error("alert result callback failed: %s", type(exc).__name__)
