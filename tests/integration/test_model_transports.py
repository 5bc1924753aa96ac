"""The model transports, with the real ``anthropic`` and ``openai`` SDK clients, against a fake server."""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from sealroom.analysis.model.anthropic_transport import AnthropicTransport
from sealroom.analysis.model.credentials import resolve_credential
from sealroom.analysis.model.openai_transport import OpenAITransport
from sealroom.analysis.model.transport import (
    EncodedImage,
    ImagePart,
    Message,
    ModelCallError,
    Prompt,
    TextPart,
)
from sealroom.analysis.model.wire import SDK_LOGGERS
from sealroom.config import EngineSettings
from sealroom.errors import ConfigError, EngineUnavailableError
from tests.model_server import ModelServer, delay, drop, images, raw, reply, status, system, texts, trickle

KEY = "sk-ant-test-0123456789abcdef-SECRET"
OPENAI_KEY = "sk-proj-test-9876543210-SECRET"
FAST = {"retry-after-ms": "1"}
AMBIENT_PREFIXES = ("ANTHROPIC_", "OPENAI_", "AWS_", "GOOGLE_", "CLOUD_ML_")

Transport = AnthropicTransport | OpenAITransport


def png(colour: tuple[int, int, int], page: int) -> EncodedImage:
    """A small real PNG."""
    buffer = io.BytesIO()
    Image.new("RGB", (24, 16), colour).save(buffer, format="PNG")
    data = buffer.getvalue()
    return EncodedImage(page, "image/png", data, 24, 16, hashlib.sha256(data).hexdigest())


PAGES = (png((200, 10, 10), 0), png((10, 200, 10), 1))
PROMPT = Prompt(
    system="You are the document analysis engine.",
    messages=(
        Message("user", (TextPart("Describe the document."), ImagePart(PAGES[0]), ImagePart(PAGES[1]))),
    ),
    max_tokens=321,
)


@pytest.fixture(autouse=True)
def hermetic_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No real credential, profile, proxy or cloud metadata service can take part."""
    for name in list(os.environ):
        if name.startswith(AMBIENT_PREFIXES) or name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("ANTHROPIC_CONFIG_DIR", str(home / "anthropic"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(home / "gcloud"))
    monkeypatch.setenv("NO_GCE_CHECK", "True")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    levels = {name: logging.getLogger(name).level for name in SDK_LOGGERS}
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def claude(server: ModelServer, tmp_path: Path, **overrides: Any) -> AnthropicTransport:
    options = {"model": "claude-test-1", "max_retries": 2, **overrides}
    settings = EngineSettings(kind="anthropic", base_url=server.base_url("anthropic"), **options)
    return AnthropicTransport("claude", settings, tmp_path, max_retry_wait=0.05)


def compatible(server: ModelServer, tmp_path: Path, **overrides: Any) -> OpenAITransport:
    options = {"model": "qwen-vl", "max_retries": 2, **overrides}
    settings = EngineSettings(kind="openai-compatible", base_url=server.base_url("openai"), **options)
    return OpenAITransport("local-vlm", settings, tmp_path, max_retry_wait=0.05)


@pytest.fixture
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    return KEY


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- Claude API -------------------------------------------------------------------------------


def test_a_reply_is_parsed_into_a_completion(model_server: ModelServer, tmp_path: Path, api_key: str) -> None:
    model_server.queue(reply('{"summary": "an invoice"}', input_tokens=1234, output_tokens=56))

    completion = claude(model_server, tmp_path).complete(PROMPT)

    assert completion.text == '{"summary": "an invoice"}'
    assert (completion.input_tokens, completion.output_tokens) == (1234, 56)
    assert completion.stop_reason == "end_turn"
    assert (completion.status, completion.attempts) == (200, 1)


def test_images_text_and_system_prompt_arrive_as_sent(
    model_server: ModelServer, tmp_path: Path, api_key: str
) -> None:
    claude(model_server, tmp_path).complete(PROMPT)

    request = model_server.last
    assert request.path == "/v1/messages"
    assert [sha256(image) for image in images(request)] == [page.sha256 for page in PAGES]
    assert texts(request) == ["Describe the document."]
    assert system(request) == PROMPT.system
    assert request.json["model"] == "claude-test-1"
    assert request.json["max_tokens"] == 321
    # API version 2026-10-21 refuses sampling parameters with a 400.
    assert "temperature" not in request.json
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["anthropic-version"]


def test_the_recorded_digest_is_the_body_the_server_received(
    model_server: ModelServer, tmp_path: Path, api_key: str
) -> None:
    completion = claude(model_server, tmp_path).complete(PROMPT)

    assert completion.sent_bytes == len(model_server.last.body)
    assert completion.sent_sha256 == sha256(model_server.last.body)


def test_rate_limit_then_overload_then_success_is_retried(
    model_server: ModelServer, tmp_path: Path, api_key: str
) -> None:
    model_server.queue(status(429, headers=FAST), status(529, headers=FAST), reply("fine"))

    completion = claude(model_server, tmp_path, max_retries=2).complete(PROMPT)

    assert (completion.text, completion.attempts) == ("fine", 3)
    assert len(model_server.requests) == 3
    assert completion.sent_sha256 == sha256(model_server.requests[-1].body)


@pytest.mark.parametrize(
    ("code", "reason"), [(500, "server_error"), (503, "server_error"), (529, "overloaded")]
)
def test_server_errors_beyond_max_retries_fail_with_the_attempt_count(
    model_server: ModelServer, tmp_path: Path, api_key: str, code: int, reason: str
) -> None:
    model_server.queue(*[status(code, headers=FAST)] * 3)

    with pytest.raises(ModelCallError) as caught:
        claude(model_server, tmp_path, max_retries=2).complete(PROMPT)

    error = caught.value
    assert (error.reason, error.attempts, error.status, error.http_status) == (reason, 3, code, 502)
    assert error.sent_sha256 == sha256(model_server.last.body)
    assert "claude" in str(error) and "127.0.0.1" in str(error) and "3 attempts" in str(error)


def test_a_slow_endpoint_times_out_in_bounded_time(
    model_server: ModelServer, tmp_path: Path, api_key: str
) -> None:
    model_server.queue(delay(5))
    started = time.monotonic()

    with pytest.raises(ModelCallError) as caught:
        claude(model_server, tmp_path, timeout_seconds=0.5, max_retries=0).complete(PROMPT)

    assert time.monotonic() - started < 3
    assert (caught.value.reason, caught.value.http_status, caught.value.attempts) == ("timeout", 504, 1)
    assert "timeout_seconds" in str(caught.value)


def test_a_body_trickling_past_the_timeout_is_cut_off(
    model_server: ModelServer, tmp_path: Path, api_key: str
) -> None:
    """httpx's read timeout restarts with every byte received; the attempt as a whole is bounded too."""
    model_server.queue(trickle(0.15, pieces=20))  # each read 0.15 s, the whole body 3 s
    started = time.monotonic()

    with pytest.raises(ModelCallError) as caught:
        claude(model_server, tmp_path, timeout_seconds=0.5, max_retries=0).complete(PROMPT)

    assert caught.value.reason == "timeout"
    assert time.monotonic() - started < 2.5


def test_a_huge_retry_after_is_capped(model_server: ModelServer, tmp_path: Path, api_key: str) -> None:
    model_server.queue(status(429, headers={"retry-after": "3600"}), reply("after the wait"))
    started = time.monotonic()

    completion = claude(model_server, tmp_path, max_retries=1).complete(PROMPT)

    assert (completion.text, completion.attempts) == ("after the wait", 2)
    assert time.monotonic() - started < 3


def test_a_rejected_key_is_auth_failed_and_named_but_never_shown(
    model_server: ModelServer, tmp_path: Path, api_key: str
) -> None:
    model_server.queue(status(401, message=f"invalid x-api-key {KEY}"))

    with pytest.raises(ModelCallError) as caught:
        claude(model_server, tmp_path).complete(PROMPT)

    error = caught.value
    assert (error.reason, error.http_status, error.status, error.attempts) == ("auth_failed", 503, 401, 1)
    assert "ANTHROPIC_API_KEY" in str(error)
    assert KEY not in str(error) and KEY not in repr(error.args)
    assert error.__cause__ is None and error.__suppress_context__


def test_after_an_auth_failure_a_rotated_key_is_read_again(
    model_server: ModelServer, tmp_path: Path, api_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    transport = claude(model_server, tmp_path)
    model_server.queue(status(401))
    with pytest.raises(ModelCallError):
        transport.complete(PROMPT)

    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-rotated")
    transport.complete(PROMPT)

    assert model_server.last.headers["authorization"] == "Bearer sk-ant-rotated"


@pytest.mark.parametrize(
    ("behaviour", "reason"),
    [
        (drop(), "connection_failed"),
        (raw(200, b"<html>Sign in to the proxy</html>", {"content-type": "text/html"}), "server_error"),
        (raw(200, b'{"status": "ok"}', {"content-type": "application/json"}), "server_error"),
        (status(404, message="model: claude-test-1"), "bad_request"),
        (status(413), "bad_request"),
        (raw(307, b"", {"location": "https://elsewhere.example/v1/messages"}), "bad_request"),
    ],
)
def test_other_failures_have_their_reason(
    model_server: ModelServer, tmp_path: Path, api_key: str, behaviour: Any, reason: str
) -> None:
    model_server.queue(behaviour)

    with pytest.raises(ModelCallError) as caught:
        claude(model_server, tmp_path, max_retries=0).complete(PROMPT)

    assert caught.value.reason == reason
    assert len(model_server.requests) == 1  # a redirect is not followed


def test_an_unreachable_endpoint_is_connection_failed(tmp_path: Path, api_key: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = EngineSettings(kind="anthropic", model="m", base_url=f"http://127.0.0.1:{port}", max_retries=0)

    with pytest.raises(ModelCallError) as caught:
        AnthropicTransport("claude", settings, tmp_path).complete(PROMPT)

    assert caught.value.reason == "connection_failed"
    assert f"127.0.0.1:{port}" in str(caught.value)


# --- credentials ------------------------------------------------------------------------------


def test_a_missing_key_makes_the_engine_unavailable_and_nothing_is_sent(
    model_server: ModelServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A token or a profile the SDK would find on its own does not count: the key must be configured.
    monkeypatch.setenv("ANTHROPIC_AUTH_TOKEN", "sk-ant-ambient")
    transport = claude(model_server, tmp_path)

    with pytest.raises(EngineUnavailableError, match="ANTHROPIC_API_KEY"):
        transport.check_ready()
    with pytest.raises(EngineUnavailableError):
        transport.complete(PROMPT)
    assert model_server.requests == []


def test_a_named_variable_that_is_unset_is_named(model_server: ModelServer, tmp_path: Path) -> None:
    transport = compatible(model_server, tmp_path, api_key_env="VLLM_API_KEY")

    with pytest.raises(EngineUnavailableError, match="VLLM_API_KEY"):
        transport.check_ready()


def test_a_key_file_readable_by_others_is_refused(model_server: ModelServer, tmp_path: Path) -> None:
    key_file = tmp_path / "keys" / "claude.key"
    key_file.parent.mkdir()
    key_file.write_text(f"  {KEY}\n")
    key_file.chmod(0o644)
    transport = claude(model_server, tmp_path, api_key_file="keys/claude.key")

    with pytest.raises(ConfigError, match="chmod 600"):
        transport.check_ready()

    key_file.chmod(0o600)
    transport.check_ready()
    transport.complete(PROMPT)
    assert model_server.last.headers["authorization"] == f"Bearer {KEY}"


def test_a_missing_key_file_is_named(model_server: ModelServer, tmp_path: Path) -> None:
    with pytest.raises(EngineUnavailableError, match=r"keys/none\.key"):
        claude(model_server, tmp_path, api_key_file="keys/none.key").check_ready()


def test_no_repr_shows_the_secret(model_server: ModelServer, tmp_path: Path, api_key: str) -> None:
    transport = claude(model_server, tmp_path)
    transport.complete(PROMPT)
    credential = resolve_credential("claude", transport._settings, tmp_path)

    for shown in (repr(transport), repr(credential), str(credential), repr(credential.source)):
        assert KEY not in shown
    assert credential.source.describe() == "environment variable ANTHROPIC_API_KEY"


def test_listing_engines_needs_no_credential_and_names_the_default_hosts(tmp_path: Path) -> None:
    def host(**settings: Any) -> str:
        return AnthropicTransport("e", EngineSettings(kind="anthropic", model="m", **settings), tmp_path).host

    assert host() == "api.anthropic.com"
    assert host(provider="bedrock", region="eu-central-1") == "bedrock-runtime.eu-central-1.amazonaws.com"
    assert host(provider="vertex", region="us-east5", project_id="p") == "us-east5-aiplatform.googleapis.com"
    assert host(provider="vertex", region="global", project_id="p") == "aiplatform.googleapis.com"
    assert host(base_url="https://gateway.example:8443/anthropic") == "gateway.example:8443"


# --- Bedrock and Vertex -----------------------------------------------------------------------


def test_bedrock_signs_with_sigv4_and_invokes_the_model_path(
    model_server: ModelServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFAKEFAKEFAKE0001")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "fake/secret/key/0123456789abcdef")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "fake-session-token")
    model = "anthropic.claude-test-1-v1:0"
    settings = EngineSettings(
        kind="anthropic",
        provider="bedrock",
        region="eu-central-1",
        model=model,
        base_url=model_server.base_url("bedrock"),
    )
    transport = AnthropicTransport("bedrock-claude", settings, tmp_path)
    model_server.queue(reply("from bedrock", input_tokens=7, output_tokens=3))

    transport.check_ready()
    completion = transport.complete(PROMPT)

    request = model_server.last
    assert transport.provider == "bedrock"
    assert (request.api, request.model) == ("bedrock", model)
    assert request.path == "/model/anthropic.claude-test-1-v1:0/invoke"
    authorization = request.headers["authorization"]
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIAFAKEFAKEFAKE0001/")
    assert "/eu-central-1/bedrock/aws4_request" in authorization
    assert "SignedHeaders=" in authorization and "Signature=" in authorization
    assert request.headers["x-amz-security-token"] == "fake-session-token"
    assert "model" not in request.json and request.json["anthropic_version"]
    assert [sha256(image) for image in images(request)] == [page.sha256 for page in PAGES]
    assert (completion.text, completion.sent_sha256) == ("from bedrock", sha256(request.body))


def test_bedrock_without_aws_credentials_is_unavailable(tmp_path: Path) -> None:
    settings = EngineSettings(kind="anthropic", provider="bedrock", region="eu-central-1", model="m")

    with pytest.raises(EngineUnavailableError, match="AWS_ACCESS_KEY_ID"):
        AnthropicTransport("bedrock-claude", settings, tmp_path).check_ready()


def test_bedrock_with_a_configured_api_key_sends_it_as_a_bearer_token(
    model_server: ModelServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BEDROCK_KEY", "bedrock-api-key-fake")
    settings = EngineSettings(
        kind="anthropic",
        provider="bedrock",
        region="us-west-2",
        model="anthropic.claude-test-1-v1:0",
        api_key_env="BEDROCK_KEY",
        base_url=model_server.base_url("bedrock"),
    )

    AnthropicTransport("bedrock-claude", settings, tmp_path).complete(PROMPT)

    assert model_server.last.headers["authorization"] == "Bearer bedrock-api-key-fake"


@pytest.mark.parametrize(
    "cloud",
    [
        # A region no other test uses: the SDK caches one boto3 session per region and key set.
        {"provider": "bedrock", "region": "ap-southeast-4"},
        {"provider": "vertex", "region": "us-east5", "project_id": "p"},
    ],
)
def test_a_cloud_credential_chain_that_yields_nothing_is_auth_failed_and_nothing_is_sent(
    model_server: ModelServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cloud: dict[str, str]
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "absent.json"))
    base_url = model_server.base_url("vertex" if cloud["provider"] == "vertex" else "bedrock")
    settings = EngineSettings(kind="anthropic", model="m", base_url=base_url, **cloud)

    with pytest.raises(ModelCallError) as caught:
        AnthropicTransport("cloud-claude", settings, tmp_path).complete(PROMPT)

    assert (caught.value.reason, caught.value.http_status, caught.value.attempts) == ("auth_failed", 503, 0)
    assert model_server.requests == []


def test_vertex_posts_to_the_project_region_and_model_with_a_bearer_token(
    model_server: ModelServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VERTEX_ACCESS_TOKEN", "ya29.fake-access-token")
    settings = EngineSettings(
        kind="anthropic",
        provider="vertex",
        region="europe-west4",
        project_id="sealroom-test",
        model="claude-test-1@20260101",
        api_key_env="VERTEX_ACCESS_TOKEN",
        base_url=model_server.base_url("vertex"),
    )
    transport = AnthropicTransport("vertex-claude", settings, tmp_path)

    transport.check_ready()
    completion = transport.complete(PROMPT)

    request = model_server.last
    assert transport.provider == "vertex"
    assert request.path == (
        "/v1/projects/sealroom-test/locations/europe-west4/publishers/anthropic/models/"
        "claude-test-1@20260101:rawPredict"
    )
    assert request.path_params == {"project": "sealroom-test", "region": "europe-west4"}
    assert request.headers["authorization"] == "Bearer ya29.fake-access-token"
    assert "model" not in request.json and request.json["anthropic_version"]
    assert system(request) == PROMPT.system
    assert completion.attempts == 1


def test_vertex_without_a_token_or_google_credentials_is_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "absent.json"))
    settings = EngineSettings(
        kind="anthropic", provider="vertex", region="us-east5", project_id="p", model="m"
    )

    with pytest.raises(EngineUnavailableError, match="GOOGLE_APPLICATION_CREDENTIALS"):
        AnthropicTransport("vertex-claude", settings, tmp_path).check_ready()


# --- OpenAI-compatible ------------------------------------------------------------------------


def test_openai_compatible_sends_data_urls_and_parses_the_chat_completion(
    model_server: ModelServer, tmp_path: Path
) -> None:
    model_server.queue(reply('{"answer": "yes"}', input_tokens=900, output_tokens=12, stop_reason="length"))
    transport = compatible(model_server, tmp_path)

    transport.check_ready()
    completion = transport.complete(PROMPT)

    request = model_server.last
    assert request.path == "/v1/chat/completions"
    content = request.json["messages"][1]["content"]
    assert [part["type"] for part in content] == ["text", "image_url", "image_url"]
    assert content[1]["image_url"]["url"].startswith("data:image/png;base64,")
    assert [sha256(image) for image in images(request)] == [page.sha256 for page in PAGES]
    assert request.json["messages"][0] == {"role": "system", "content": PROMPT.system}
    assert (request.json["max_tokens"], request.json["temperature"]) == (321, 0)
    assert (completion.text, completion.stop_reason) == ('{"answer": "yes"}', "length")
    assert (completion.input_tokens, completion.output_tokens, completion.attempts) == (900, 12, 1)
    assert completion.sent_sha256 == sha256(request.body)


def test_a_self_hosted_server_gets_a_placeholder_never_the_ambient_openai_key(
    model_server: ModelServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("OPENAI_ORG_ID", "org-should-not-leave")

    compatible(model_server, tmp_path).complete(PROMPT)

    headers = model_server.last.headers
    assert headers["authorization"] == "Bearer not-needed"
    assert "openai-organization" not in headers


def test_a_configured_key_is_sent_to_the_openai_compatible_server(
    model_server: ModelServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VLLM_API_KEY", OPENAI_KEY)

    compatible(model_server, tmp_path, api_key_env="VLLM_API_KEY").complete(PROMPT)

    assert model_server.last.headers["authorization"] == f"Bearer {OPENAI_KEY}"


def test_openai_compatible_retries_and_caps_a_retry_after_the_sdk_would_refuse(
    model_server: ModelServer, tmp_path: Path
) -> None:
    # The SDK gives up on a retry-after over two minutes; capped, the request is retried soon.
    model_server.queue(status(429, headers={"retry-after": "86400"}), status(503, headers=FAST), reply("ok"))

    completion = compatible(model_server, tmp_path, max_retries=2).complete(PROMPT)

    assert (completion.text, completion.attempts) == ("ok", 3)


def test_openai_compatible_failures_have_their_reason(model_server: ModelServer, tmp_path: Path) -> None:
    model_server.queue(status(401), delay(5))

    with pytest.raises(ModelCallError) as rejected:
        compatible(model_server, tmp_path).complete(PROMPT)
    with pytest.raises(ModelCallError) as slow:
        compatible(model_server, tmp_path, timeout_seconds=0.5, max_retries=0).complete(PROMPT)

    assert (rejected.value.reason, rejected.value.http_status) == ("auth_failed", 503)
    assert "api_key_env" in str(rejected.value)
    assert (slow.value.reason, slow.value.http_status) == ("timeout", 504)


# --- logs -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["anthropic", "openai-compatible"])
def test_sdk_debug_logging_never_writes_keys_or_image_data(
    model_server: ModelServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    kind: str,
) -> None:
    import anthropic._utils._logs
    import openai._utils._logs

    monkeypatch.setenv("ANTHROPIC_LOG", "debug")
    monkeypatch.setenv("OPENAI_LOG", "debug")
    anthropic._utils._logs.setup_logging()  # what importing the SDKs does with these set
    openai._utils._logs.setup_logging()
    for name in ("httpx", "httpcore", "httpcore2"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("VLLM_API_KEY", OPENAI_KEY)
    model_server.queue(status(429, headers=FAST), reply("ok"))

    if kind == "anthropic":
        claude(model_server, tmp_path).complete(PROMPT)
    else:
        compatible(model_server, tmp_path, api_key_env="VLLM_API_KEY").complete(PROMPT)

    logged = caplog.text + "".join(str(record.__dict__) for record in caplog.records)
    body = model_server.last.body.decode()
    image_data = images(model_server.last)[0]
    assert KEY not in logged and OPENAI_KEY not in logged
    assert base64.b64encode(image_data).decode()[:40] not in logged
    assert body[:200] not in logged
