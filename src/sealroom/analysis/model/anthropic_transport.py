"""Claude through the ``anthropic`` SDK: the Claude API itself, Amazon Bedrock or Google Vertex AI.

Images travel as base64 image blocks in the user turn, the system prompt as ``system``. No sampling
parameters are sent: API version 2026-10-21 (the SDK's default) refuses ``temperature`` with a 400,
and SDK 2.x no longer offers it.

Every value the SDK could pick up from the environment or the home directory on its own is passed
explicitly instead: the key (so ``ANTHROPIC_PROFILE``, ``~/.config/anthropic`` profiles and workload
identity federation are never consulted), the base URL (so ``ANTHROPIC_BASE_URL``,
``ANTHROPIC_BEDROCK_BASE_URL`` and ``ANTHROPIC_VERTEX_BASE_URL`` do not redirect images), the region
and project, and ``open_telemetry=False`` (so ``ANTHROPIC_OPEN_TELEMETRY_*`` cannot copy request
content into trace spans). Bedrock without a configured key uses the AWS credential chain, Vertex
without one Google application-default credentials, as their SDKs do.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import anthropic
from anthropic.types import ImageBlockParam, MessageParam, TextBlockParam

from sealroom.analysis.model.credentials import (
    check_aws_chain,
    check_google_adc,
    resolve_credential,
)
from sealroom.analysis.model.sdk_client import SdkClient
from sealroom.analysis.model.transport import Completion, ImagePart, Prompt
from sealroom.analysis.model.wire import MAX_RETRY_WAIT_SECONDS, Wire, endpoint_host
from sealroom.config import EngineSettings
from sealroom.errors import ConfigError

PROVIDER_NAMES = {"direct": "anthropic", "bedrock": "bedrock", "vertex": "vertex"}
ANTHROPIC_API = "https://api.anthropic.com"
_VERTEX_MULTI_REGION = {"global": "aiplatform.googleapis.com", "us": "aiplatform.us.rep.googleapis.com",
                        "eu": "aiplatform.eu.rep.googleapis.com"}

AnthropicClient = anthropic.Anthropic | anthropic.AnthropicBedrock | anthropic.AnthropicVertex


def default_base_url(settings: EngineSettings) -> str:
    """The endpoint the engine talks to: ``base_url`` when set, else the provider's regional default."""
    if settings.base_url:
        return settings.base_url
    if settings.provider == "bedrock":
        return f"https://bedrock-runtime.{settings.region}.amazonaws.com"
    if settings.provider == "vertex":
        region = settings.region or ""
        return f"https://{_VERTEX_MULTI_REGION.get(region, f'{region}-aiplatform.googleapis.com')}/v1"
    return ANTHROPIC_API


def to_message_params(prompt: Prompt) -> list[MessageParam]:
    """The prompt's turns as Messages API message params (images as base64 blocks)."""
    messages: list[MessageParam] = []
    for message in prompt.messages:
        blocks: list[TextBlockParam | ImageBlockParam] = []
        for part in message.parts:
            if isinstance(part, ImagePart):
                blocks.append({
                    "type": "image",
                    "source": {
                        "type": "base64",
                        "media_type": part.image.media_type,
                        "data": base64.b64encode(part.image.data).decode("ascii"),
                    },
                })
            else:
                blocks.append({"type": "text", "text": part.text})
        if message.role == "user":
            messages.append({"role": "user", "content": blocks})
        else:
            messages.append({"role": "assistant", "content": blocks})
    return messages


class AnthropicTransport:
    """``Transport`` to Claude on the Claude API (``anthropic``), Bedrock or Vertex AI.

    The SDK client is built on the first ``complete``, so listing engines needs no credential; it is
    dropped after an authentication failure, so a rotated key is read again on the next call.
    """

    def __init__(
        self,
        engine_name: str,
        settings: EngineSettings,
        workspace_root: Path,
        *,
        max_retry_wait: float = MAX_RETRY_WAIT_SECONDS,
    ) -> None:
        if settings.kind != "anthropic":
            raise ConfigError(f"engine {engine_name!r} is of kind {settings.kind!r}, not 'anthropic'")
        self.engine_name = engine_name
        self.provider = PROVIDER_NAMES[settings.provider]
        self.model = settings.model
        self.base_url = default_base_url(settings)
        self.host = endpoint_host(self.base_url)
        self._settings = settings
        self._root = workspace_root
        self._wire = Wire.for_engine(
            engine_name, self.provider, self.host, settings, max_retry_wait, workspace_root
        )
        self._client: SdkClient[AnthropicClient] = SdkClient(
            engine_name, settings, workspace_root, self._build
        )
        self._ambient_found = False

    def __repr__(self) -> str:
        return f"AnthropicTransport({self.engine_name!r}, provider={self.provider!r}, host={self.host!r})"

    def check_ready(self) -> None:
        """Raise ``EngineUnavailableError`` naming the missing credential; never contacts the endpoint.

        ``ConfigError`` when the key file is readable by other users.
        """
        credential = resolve_credential(self.engine_name, self._settings, self._root)
        if credential.source.ambient is None or self._ambient_found:
            return
        if self._settings.provider == "bedrock":
            check_aws_chain(self.engine_name, self._settings.region or "")
        else:
            check_google_adc(self.engine_name)
        self._ambient_found = True

    def complete(self, prompt: Prompt) -> Completion:
        """Send ``prompt`` to the Messages API; see ``Transport.complete`` for the failures."""
        messages = to_message_params(prompt)
        system = prompt.system or anthropic.omit

        def call(client: AnthropicClient) -> anthropic.types.Message:
            return client.messages.create(
                model=self.model, max_tokens=prompt.max_tokens, messages=messages, system=system
            )

        message, exchange = self._client.send(self._wire, call)
        # The SDK hands back a string for a non-JSON body and builds a model from any JSON without checks.
        content = getattr(message, "content", None)
        if not isinstance(message, anthropic.types.Message) or not isinstance(content, list):
            raise self._wire.malformed(exchange, message, "a message")
        usage = getattr(message, "usage", None)
        return exchange.completion(
            text="".join(block.text for block in content if getattr(block, "type", None) == "text"),
            stop_reason=getattr(message, "stop_reason", None),
            input_tokens=getattr(usage, "input_tokens", None),
            output_tokens=getattr(usage, "output_tokens", None),
        )

    def close(self) -> None:
        """Close the SDK client and its connections."""
        self._client.close()

    def _build(self, secret: str | None) -> AnthropicClient:
        settings = self._settings
        # The same for every provider: explicit endpoint and limits, our HTTP hooks, no telemetry copy.
        common: dict[str, Any] = {
            "base_url": self.base_url,
            "timeout": settings.timeout_seconds,
            "max_retries": settings.max_retries,
            "http_client": anthropic.DefaultHttpxClient(**self._wire.http_client_options()),
            "open_telemetry": False,
        }
        if settings.provider == "bedrock":
            return anthropic.AnthropicBedrock(aws_region=settings.region, api_key=secret, **common)
        if settings.provider == "vertex":
            assert settings.region and settings.project_id  # checked by EngineSettings
            return anthropic.AnthropicVertex(
                region=settings.region, project_id=settings.project_id, access_token=secret, **common
            )
        # Never None here: without an explicit key the SDK would search profiles and the home directory.
        assert secret is not None, "the Claude API always has a resolved key"
        return anthropic.Anthropic(api_key=secret, **common)
