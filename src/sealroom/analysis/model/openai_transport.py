"""Any OpenAI-compatible server (vLLM, Ollama, LM Studio, TGI, OpenAI itself) through the ``openai`` SDK.

Chat Completions with the images as ``data:`` URLs in the user turn, ``max_tokens`` and
temperature 0. A self-hosted server usually needs no key: without ``api_key_env``/``api_key_file``
the placeholder ``not-needed`` is sent (see ``credentials``), so a real ``OPENAI_API_KEY`` in the
environment is never handed to another server. ``OPENAI_BASE_URL`` cannot redirect the images
(``base_url`` is required and passed explicitly), and ``OPENAI_ORG_ID``/``OPENAI_PROJECT_ID`` are not
forwarded as headers.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import openai
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionContentPartImageParam,
    ChatCompletionContentPartTextParam,
    ChatCompletionMessageParam,
)

from sealroom.analysis.model.credentials import resolve_credential
from sealroom.analysis.model.sdk_client import SdkClient
from sealroom.analysis.model.transport import Completion, ImagePart, Prompt, TextPart
from sealroom.analysis.model.wire import MAX_RETRY_WAIT_SECONDS, Wire, endpoint_host
from sealroom.config import EngineSettings
from sealroom.errors import ConfigError

PROVIDER = "openai-compatible"


def to_chat_messages(prompt: Prompt) -> list[ChatCompletionMessageParam]:
    """The prompt as Chat Completions messages: system first, images as base64 data URLs."""
    messages: list[ChatCompletionMessageParam] = []
    if prompt.system:
        messages.append({"role": "system", "content": prompt.system})
    for message in prompt.messages:
        if message.role == "assistant":
            # An assistant turn carries text only.
            text = "".join(part.text for part in message.parts if isinstance(part, TextPart))
            messages.append({"role": "assistant", "content": text})
            continue
        content: list[ChatCompletionContentPartTextParam | ChatCompletionContentPartImageParam] = []
        for part in message.parts:
            if isinstance(part, ImagePart):
                data = base64.b64encode(part.image.data).decode("ascii")
                url = f"data:{part.image.media_type};base64,{data}"
                content.append({"type": "image_url", "image_url": {"url": url}})
            else:
                content.append({"type": "text", "text": part.text})
        messages.append({"role": "user", "content": content})
    return messages


class OpenAITransport:
    """``Transport`` to an OpenAI-compatible Chat Completions endpoint at ``settings.base_url``.

    The SDK client is built on the first ``complete``; it is dropped after an authentication
    failure, so a rotated key is read again on the next call.
    """

    def __init__(
        self,
        engine_name: str,
        settings: EngineSettings,
        workspace_root: Path,
        *,
        max_retry_wait: float = MAX_RETRY_WAIT_SECONDS,
    ) -> None:
        if settings.kind != "openai-compatible" or not settings.base_url:
            raise ConfigError(f"engine {engine_name!r} is not an openai-compatible engine with a base_url")
        self.engine_name = engine_name
        self.provider = PROVIDER
        self.model = settings.model
        self.base_url = settings.base_url
        self.host = endpoint_host(settings.base_url)
        self._settings = settings
        self._root = workspace_root
        self._wire = Wire.for_engine(
            engine_name, self.provider, self.host, settings, max_retry_wait, workspace_root
        )
        self._client: SdkClient[openai.OpenAI] = SdkClient(
            engine_name, settings, workspace_root, self._build
        )

    def __repr__(self) -> str:
        return f"OpenAITransport({self.engine_name!r}, host={self.host!r}, model={self.model!r})"

    def check_ready(self) -> None:
        """Raise ``EngineUnavailableError`` when a configured key is missing (``ConfigError`` for a key
        file others can read); never contacts the endpoint."""
        resolve_credential(self.engine_name, self._settings, self._root)

    def complete(self, prompt: Prompt) -> Completion:
        """Send ``prompt`` as one chat completion; see ``Transport.complete`` for the failures."""
        messages = to_chat_messages(prompt)

        def call(client: openai.OpenAI) -> ChatCompletion:
            return client.chat.completions.create(
                model=self.model, messages=messages, max_tokens=prompt.max_tokens, temperature=0
            )

        reply, exchange = self._client.send(self._wire, call)
        # The SDK hands back a string for a non-JSON body and builds a model from any JSON without checks.
        choices = getattr(reply, "choices", None)
        if not isinstance(reply, ChatCompletion) or not isinstance(choices, list) or not choices:
            raise self._wire.malformed(exchange, reply, "a chat completion")
        first: Any = choices[0]
        usage = getattr(reply, "usage", None)
        return exchange.completion(
            text=getattr(getattr(first, "message", None), "content", None) or "",
            stop_reason=getattr(first, "finish_reason", None),
            input_tokens=getattr(usage, "prompt_tokens", None),
            output_tokens=getattr(usage, "completion_tokens", None),
        )

    def close(self) -> None:
        """Close the SDK client and its connections."""
        self._client.close()

    def _build(self, secret: str | None) -> openai.OpenAI:
        assert secret is not None, "an openai-compatible engine always has a key or the placeholder"
        client = openai.OpenAI(
            api_key=secret,
            base_url=self.base_url,
            timeout=self._settings.timeout_seconds,
            max_retries=self._settings.max_retries,
            http_client=openai.DefaultHttpxClient(**self._wire.http_client_options()),
        )
        # Read from OPENAI_ORG_ID / OPENAI_PROJECT_ID by the SDK; not for another server.
        client.organization = None
        client.project = None
        return client
