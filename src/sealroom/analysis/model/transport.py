"""The provider side of a model engine: send one prompt with images, get the reply text back.

A transport wraps one SDK client (``anthropic`` or ``openai``). It knows the wire format, the
credentials and the provider's retry rules; it knows nothing of tasks, schemas, users or audit. The
shared ``ModelEngine`` builds prompts, calls ``complete`` and parses what comes back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

from sealroom.errors import AnalysisError, EngineTimeoutError, EngineUnavailableError


@dataclass(frozen=True)
class EncodedImage:
    """An image ready to send: the encoded bytes and what they are. Lives in memory only."""

    page: int
    media_type: Literal["image/png", "image/jpeg"]
    data: bytes = field(repr=False)
    width: int
    height: int
    sha256: str
    downscaled: bool = False


@dataclass(frozen=True)
class TextPart:
    """A piece of text in a message."""

    text: str


@dataclass(frozen=True)
class ImagePart:
    """An image in a message."""

    image: EncodedImage


@dataclass(frozen=True)
class Message:
    """One turn of the conversation: the user's (text and images) or the assistant's (text)."""

    role: Literal["user", "assistant"]
    parts: tuple[TextPart | ImagePart, ...]


@dataclass(frozen=True)
class Prompt:
    """Everything one request carries."""

    system: str
    messages: tuple[Message, ...]
    max_tokens: int


@dataclass(frozen=True)
class Completion:
    """The model's reply to one request, with what it cost and how the request went.

    ``sent_bytes``/``sent_sha256`` describe the HTTP request body of the attempt that succeeded,
    exactly as it left the process.
    """

    text: str
    stop_reason: str | None
    input_tokens: int | None
    output_tokens: int | None
    attempts: int
    status: int
    sent_bytes: int
    sent_sha256: str


REASON_CODES = {"timeout": EngineTimeoutError.code, "auth_failed": EngineUnavailableError.code}
"""The API error code for the failures that have their own (the rest are ``analysis_failed``)."""


class ModelCallError(AnalysisError):
    """A request to a model endpoint failed; ``reason`` is a ``CallRecord`` reason code.

    The message is safe to show: it names the engine, the endpoint host and what to do, never a
    credential or the request body.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        attempts: int,
        status: int | None = None,
        sent_bytes: int | None = None,
        sent_sha256: str | None = None,
        http_status: int = 502,
    ) -> None:
        super().__init__(message, reason=reason)
        self.code = REASON_CODES.get(reason, self.code)
        self.attempts = attempts
        self.status = status
        self.sent_bytes = sent_bytes
        self.sent_sha256 = sent_sha256
        self.http_status = http_status


class Transport(Protocol):
    """One configured model endpoint."""

    provider: str
    """``anthropic``, ``bedrock``, ``vertex`` or ``openai-compatible``."""
    model: str
    host: str
    """The endpoint's host name (and port when not the default), for audit."""

    def check_ready(self) -> None:
        """Raise ``EngineUnavailableError`` naming what is missing (a credential, a setting) or
        ``None`` when the transport could send. Never contacts the endpoint."""
        ...

    def complete(self, prompt: Prompt) -> Completion:
        """Send the prompt (retrying 429, 529 and 5xx with bounded backoff) and return the reply.

        Raises ``ModelCallError`` with a reason code: ``timeout`` (http 504), ``rate_limited``,
        ``overloaded``, ``server_error``, ``auth_failed`` (http 503), ``bad_request``,
        ``connection_failed``.
        """
        ...
