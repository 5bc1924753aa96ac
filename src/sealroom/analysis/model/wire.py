"""The HTTP side both model transports share.

* ``Wire.http_client_options`` configures the SDK's own ``httpx2`` client with event hooks that
  record every attempt's request body (size and SHA-256, exactly as it left the process), cap a
  server's ``retry-after`` before the SDK's retry loop reads it, and bound the time a reply's body
  may take once its headers are in (httpx's read timeout restarts with every chunk, so a server
  trickling bytes could otherwise hold an attempt open indefinitely). Redirects are not followed:
  a 307 would re-send the images to another address.
* ``Wire.send`` runs one SDK call inside an ``Exchange`` and turns SDK exceptions into
  ``ModelCallError`` reason codes with messages that name the engine, the host and what to do,
  never a credential or the request body.
* ``quiet_sdk_loggers`` keeps ``ANTHROPIC_LOG=debug``/``OPENAI_LOG=debug`` from writing request
  bodies (base64 images) or headers (keys) into the logs.

The retries themselves are the SDK's (``max_retries``: 408, 409, 429, 5xx and 529, connection
errors and timeouts; ``retry-after``/``retry-after-ms`` when given, else backoff from 0.5 s up to
8 s). Each attempt waits at most ``timeout_seconds`` for the connection and for the reply to start
(per read), then ``timeout_seconds`` for the body; with waits capped at ``MAX_RETRY_WAIT_SECONDS`` a
call ends within about ``(max_retries + 1) × 2 × timeout_seconds + max_retries × 20 s``.
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
import math
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import anthropic
import httpx2
import openai

from sealroom.analysis.model.credentials import CredentialSource, credential_source
from sealroom.analysis.model.transport import Completion, ModelCallError
from sealroom.config import EngineSettings
from sealroom.errors import ConfigError

T = TypeVar("T")

MAX_RETRY_WAIT_SECONDS = 20.0
"""The longest wait between attempts, whatever ``retry-after`` the server asks for."""

SDK_LOGGERS = ("anthropic", "openai", "httpx", "httpx2", "httpcore", "httpcore2", "botocore", "google.auth")

_TIMEOUTS = (anthropic.APITimeoutError, openai.APITimeoutError)
_CONNECTION = (anthropic.APIConnectionError, openai.APIConnectionError)
_STATUS = (anthropic.APIStatusError, openai.APIStatusError)
_SDK = (anthropic.AnthropicError, openai.OpenAIError)
# Raised while the SDK signs a Bedrock request or mints a Vertex token, before anything is sent.
_CREDENTIAL_MODULES = (
    "botocore",
    "google.auth",
    "google.oauth2",
    "anthropic.lib.aws",
    "anthropic.lib.vertex",
    "anthropic.lib._extras._google_auth",
)
HTTP_STATUS = {"timeout": 504, "auth_failed": 503}
"""The status Sealroom's API answers with per reason code; 502 for the others."""
_LONG_TOKEN = re.compile(r"[A-Za-z0-9+/=_\-]{40,}")


def quiet_sdk_loggers() -> None:
    """Raise the SDK and HTTP loggers to WARNING: below it they log bodies, headers and URLs."""
    for name in SDK_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)


def endpoint_host(url: str) -> str:
    """The host of ``url``, with the port when it is not the scheme's default."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    default_port = {"http": 80, "https": 443}.get(parts.scheme)
    return host if parts.port in (None, default_port) else f"{host}:{parts.port}"


@dataclass
class Attempt:
    """One HTTP request as it left the process."""

    sent_bytes: int
    sent_sha256: str
    started: float
    status: int | None = None


@dataclass
class Exchange:
    """The attempts of one ``complete`` call (the SDK retries inside it)."""

    attempts: list[Attempt] = field(default_factory=list)

    @property
    def last(self) -> Attempt | None:
        """The latest attempt, or ``None`` when nothing was sent."""
        return self.attempts[-1] if self.attempts else None

    def completion(
        self, *, text: str, stop_reason: str | None, input_tokens: int | None, output_tokens: int | None
    ) -> Completion:
        """The ``Completion`` for a reply to the latest attempt."""
        last = self.last
        assert last is not None and last.status is not None, "a reply without a recorded request"
        return Completion(
            text=text,
            stop_reason=stop_reason,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            attempts=len(self.attempts),
            status=last.status,
            sent_bytes=last.sent_bytes,
            sent_sha256=last.sent_sha256,
        )


class _DeadlineStream(httpx2.SyncByteStream):
    """A response body that raises ``ReadTimeout`` once the attempt is past its deadline."""

    def __init__(self, inner: httpx2.SyncByteStream, deadline: float, request: httpx2.Request) -> None:
        self._inner = inner
        self._deadline = deadline
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            if time.monotonic() > self._deadline:
                raise httpx2.ReadTimeout("the response took longer than the timeout", request=self._request)
            yield chunk

    def close(self) -> None:
        self._inner.close()


@dataclass(frozen=True)
class Endpoint:
    """What messages say about the endpoint: never a secret."""

    engine: str
    provider: str
    host: str
    model: str
    timeout_seconds: float
    credential: CredentialSource


class Wire:
    """Records, bounds and explains the HTTP attempts of one transport's SDK client."""

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        max_retry_wait: float = MAX_RETRY_WAIT_SECONDS,
        ca_bundle: Path | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.max_retry_wait = max_retry_wait
        self._ca_bundle = ca_bundle
        # The SDK client is synchronous, so its hooks run on the thread that called ``send``.
        self._local = threading.local()

    @classmethod
    def for_engine(
        cls,
        engine_name: str,
        provider: str,
        host: str,
        settings: EngineSettings,
        max_retry_wait: float,
        workspace_root: Path,
    ) -> Wire:
        """The wire of an engine configured by ``settings``."""
        endpoint = Endpoint(
            engine=engine_name,
            provider=provider,
            host=host,
            model=settings.model,
            timeout_seconds=settings.timeout_seconds,
            credential=credential_source(settings),
        )
        ca_bundle = workspace_root / settings.ca_bundle if settings.ca_bundle else None
        return cls(endpoint, max_retry_wait=max_retry_wait, ca_bundle=ca_bundle)

    def http_client_options(self) -> dict[str, Any]:
        """Keyword arguments for the SDK's ``DefaultHttpxClient``."""
        return {
            "event_hooks": {"request": [self._on_request], "response": [self._on_response]},
            "follow_redirects": False,
            "timeout": httpx2.Timeout(self.endpoint.timeout_seconds),
            # Proxy variables would route the images through a host the egress checks never saw
            # (and in clear for an http endpoint); base_url is the only way out.
            "trust_env": False,
            "verify": self._tls_context(),
        }

    def _tls_context(self) -> ssl.SSLContext | bool:
        """Certificate checks: the system's CAs, or the engine's own ``ca_bundle``."""
        if self._ca_bundle is None:
            return True
        try:
            return ssl.create_default_context(cafile=str(self._ca_bundle))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"engine {self.endpoint.engine!r}: ca_bundle {self._ca_bundle.name} is not a readable PEM "
                f"file ({type(exc).__name__})"
            ) from exc

    def send(self, call: Callable[[], T], *, redact: Sequence[str] = ()) -> tuple[T, Exchange]:
        """Run one SDK call; raise ``ModelCallError`` for a failure of the endpoint or credential.

        ``redact`` lists values (the secret) that must never appear in a message even if the server
        echoes them. Other exceptions (programming errors) propagate unchanged.
        """
        quiet_sdk_loggers()
        with self._exchange() as exchange:
            try:
                result = call()
            except Exception as exc:
                error = self.failure(exc, exchange, redact=redact)
                if error is None:
                    raise
                # Without the chain: the SDK's exception holds the request, headers included.
                raise error from None
        return result, exchange

    def failure(
        self, exc: Exception, exchange: Exchange, *, redact: Sequence[str] = ()
    ) -> ModelCallError | None:
        """The ``ModelCallError`` for ``exc``, or ``None`` when it is not an endpoint failure."""
        end = self.endpoint
        where = f"engine {end.engine!r} ({end.provider} at {end.host})"
        tried = _attempts(len(exchange.attempts))
        status: int | None = None
        if isinstance(exc, _TIMEOUTS):
            reason = "timeout"
            message = (
                f"{where} did not answer within {end.timeout_seconds:g} s ({tried}). Try again later; if the "
                f"model is slow on large pages, raise timeout_seconds in [engines.{end.engine}]."
            )
        elif isinstance(exc, _CONNECTION):
            cause = type(exc.__cause__).__name__ if exc.__cause__ is not None else "connection error"
            reason = "connection_failed"
            message = (
                f"{where} could not be reached ({cause}, {tried}). Check that the server is running and that "
                f"base_url, DNS, the network and any proxy let this host reach it."
            )
        elif isinstance(exc, _STATUS):
            status = exc.status_code
            reason, message = self._status_message(exc, where, tried, redact)
        elif _is_credential_failure(exc):
            reason = "auth_failed"
            message = (
                f"{where}: no usable credential from {end.credential.describe()} ({type(exc).__name__}). "
                f"Check it, then try again."
            )
        elif isinstance(exc, _SDK):
            reason = "server_error"
            message = (
                f"{where} sent a reply that could not be read ({type(exc).__name__}, {tried}). "
                f"Check that base_url points at the model API ({end.provider})."
            )
        else:
            return None
        return _call_error(reason, message, exchange, status)

    def malformed(self, exchange: Exchange, reply: object, expected: str) -> ModelCallError:
        """The error for a successful status whose body is not ``expected`` (a proxy's page, another API).

        Says only what the body looked like, never what it held.
        """
        end = self.endpoint
        what = f"JSON that is not {expected}"
        if isinstance(reply, str):
            what = f"a non-JSON body of {len(reply)} characters"
        return _call_error(
            "server_error",
            f"engine {end.engine!r} ({end.provider} at {end.host}) answered with {what}. "
            f"Check that base_url points at the model API, not a proxy or portal.",
            exchange,
            None,
        )

    def _status_message(
        self,
        exc: anthropic.APIStatusError | openai.APIStatusError,
        where: str,
        tried: str,
        redact: Sequence[str],
    ) -> tuple[str, str]:
        """The reason code and message for an error status the SDK gave up on."""
        status, end = exc.status_code, self.endpoint
        kind, detail = _error_detail(exc.body, redact)
        said = f"HTTP {status}" + (f": {detail}" if detail else "")
        source = end.credential.describe()
        if status in (401, 403) and end.credential.placeholder:
            return "auth_failed", (
                f"{where} wants a key ({said}). Put it in an environment variable or a 0600 file and name "
                f"it with api_key_env or api_key_file in [engines.{end.engine}]."
            )
        if status == 401:
            return "auth_failed", (
                f"{where} rejected the credential from {source} ({said}). "
                f"Check that it holds a valid key for {end.host}."
            )
        if status == 403:
            return "auth_failed", (
                f"{where} refused the credential from {source} ({said}). "
                f"Check that it may use model {end.model!r}."
            )
        if status == 429:
            return "rate_limited", (
                f"{where} is rate-limiting requests ({said}; {tried}). "
                f"Wait a minute and try again, or ask the provider for a higher quota."
            )
        if status == 529 or kind == "overloaded_error":
            return "overloaded", f"{where} is overloaded ({said}; {tried}). Try again in a few minutes."
        if status == 408:
            return "timeout", f"{where} gave up waiting for the request ({said}; {tried}). Try again later."
        if status >= 500:
            return "server_error", (
                f"{where} failed with a server error ({said}; {tried}). Try again later; "
                f"if it persists, check the provider's status page or the server's logs."
            )
        if 300 <= status < 400:
            hint = f"Set base_url of [engines.{end.engine}] to the address it redirects to."
        elif status == 413:
            hint = f"Lower max_image_bytes or max_images_per_request in [engines.{end.engine}]."
        else:
            hint = f"Check model = {end.model!r} and base_url in [engines.{end.engine}]."
        return "bad_request", f"{where} refused the request ({said}). {hint}"

    @contextmanager
    def _exchange(self) -> Iterator[Exchange]:
        previous = getattr(self._local, "exchange", None)
        exchange = Exchange()
        self._local.exchange = exchange
        try:
            yield exchange
        finally:
            self._local.exchange = previous

    def _on_request(self, request: httpx2.Request) -> None:
        exchange: Exchange | None = getattr(self._local, "exchange", None)
        if exchange is None:
            return
        body = request.read()
        exchange.attempts.append(Attempt(len(body), hashlib.sha256(body).hexdigest(), time.monotonic()))

    def _on_response(self, response: httpx2.Response) -> None:
        cap_retry_after(response.headers, self.max_retry_wait)
        exchange: Exchange | None = getattr(self._local, "exchange", None)
        if exchange is None or exchange.last is None:
            return
        attempt = exchange.last
        attempt.status = response.status_code
        if isinstance(response.stream, httpx2.SyncByteStream):
            # httpx's read timeout is per read; this bounds the whole body once the headers are in.
            deadline = time.monotonic() + self.endpoint.timeout_seconds
            response.stream = _DeadlineStream(response.stream, deadline, response.request)


def _call_error(reason: str, message: str, exchange: Exchange, status: int | None) -> ModelCallError:
    last = exchange.last
    return ModelCallError(
        message,
        reason=reason,
        attempts=len(exchange.attempts),
        status=status if status is not None else (last.status if last else None),
        sent_bytes=last.sent_bytes if last else None,
        sent_sha256=last.sent_sha256 if last else None,
        http_status=HTTP_STATUS.get(reason, 502),
    )


def cap_retry_after(headers: httpx2.Headers, cap: float) -> None:
    """Rewrite ``retry-after``/``retry-after-ms`` to ``cap`` seconds when the server asks for longer.

    Both SDKs honour these headers (the Anthropic SDK without any limit, the OpenAI SDK up to two
    minutes, and not at all beyond), so capping them here bounds every wait between attempts.
    """
    wait = requested_wait(headers)
    if wait is None or wait <= cap:
        return
    if "retry-after-ms" in headers:
        del headers["retry-after-ms"]
    headers["retry-after"] = f"{cap:g}"


def requested_wait(headers: httpx2.Headers) -> float | None:
    """The wait in seconds the server asks for, read in the SDKs' order; ``inf`` for nonsense that is huge."""
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) / scale
        except ValueError:
            continue
        return seconds if math.isfinite(seconds) else math.inf
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        when = email.utils.parsedate_tz(value)
        return float(email.utils.mktime_tz(when) - time.time()) if when is not None else None
    except (TypeError, ValueError, OverflowError):
        return math.inf


def _error_detail(body: object, redact: Sequence[str]) -> tuple[str | None, str]:
    """The provider's error type and a short, sanitised message from an error body."""
    error = body.get("error", body) if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, ""
    kind = error.get("type") or error.get("code") or error.get("status")
    message = error.get("message")
    parts = [str(part) for part in (kind, message) if part]
    return (str(kind) if kind else None), _sanitise(": ".join(parts), redact)


def _sanitise(text: str, redact: Sequence[str]) -> str:
    for secret in redact:
        if secret:
            text = text.replace(secret, "[redacted]")
    # A server may echo part of the request; base64 image data or a key is one long token.
    text = _LONG_TOKEN.sub("[…]", " ".join(text.split()))
    text = "".join(char for char in text if char.isprintable())  # no terminal escapes from the server
    return text if len(text) <= 200 else text[:199] + "…"


def _is_credential_failure(exc: BaseException) -> bool:
    if isinstance(exc, anthropic.CredentialsError):
        return True
    if type(exc).__module__.startswith(_CREDENTIAL_MODULES):
        return True
    return isinstance(exc, RuntimeError) and _raised_in(exc, _CREDENTIAL_MODULES)


def _raised_in(exc: BaseException, modules: tuple[str, ...]) -> bool:
    """Whether the innermost frame of ``exc``'s traceback belongs to one of ``modules``."""
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return str(tb.tb_frame.f_globals.get("__name__", "")).startswith(modules)


def _attempts(count: int) -> str:
    return "1 attempt" if count == 1 else f"{count} attempts"
