"""Where a model engine's secret comes from, and reading it without ever showing it.

An engine names its secret in ``sealroom.toml`` by ``api_key_env`` (an environment variable) or
``api_key_file`` (a file in the workspace, mode 0600 or stricter); the value itself never appears
in settings, reprs, exceptions or logs. Without either:

* ``anthropic`` (direct) reads ``ANTHROPIC_API_KEY``;
* ``openai-compatible`` sends the placeholder key ``not-needed`` (self-hosted servers such as vLLM,
  Ollama or LM Studio usually accept any key), except for OpenAI's own API, which reads
  ``OPENAI_API_KEY``: an OpenAI key is never handed to another server unless configured to be;
* ``bedrock`` uses the AWS credential chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/
  ``AWS_SESSION_TOKEN``, ``AWS_PROFILE``, an instance role); a configured key is a Bedrock API key;
* ``vertex`` uses Google application-default credentials; a configured value is an access token.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

from sealroom.config import EngineSettings
from sealroom.errors import ConfigError, EngineUnavailableError

NO_KEY_PLACEHOLDER = "not-needed"
"""Sent as the key to an OpenAI-compatible server when none is configured (the SDK insists on one)."""

OPENAI_HOSTS = frozenset({"api.openai.com"})
MAX_KEY_FILE_BYTES = 64 * 1024

AWS_CHAIN = (
    "the AWS credential chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, "
    "AWS_BEARER_TOKEN_BEDROCK or an instance role)"
)
GOOGLE_ADC = (
    "Google application-default credentials (GOOGLE_APPLICATION_CREDENTIALS, or "
    "`gcloud auth application-default login`)"
)


@dataclass(frozen=True)
class CredentialSource:
    """Where an engine's secret is looked for; holds names, never values."""

    env: str | None = None
    file: str | None = None
    ambient: str | None = None
    """A provider's own credential chain (AWS, Google) that the SDK resolves."""
    placeholder: bool = False
    """No secret is needed: ``NO_KEY_PLACEHOLDER`` is sent."""

    def describe(self) -> str:
        """A safe description, e.g. ``environment variable ANTHROPIC_API_KEY``."""
        if self.env:
            return f"environment variable {self.env}"
        if self.file:
            return f"key file {self.file} (in the workspace)"
        if self.ambient:
            return self.ambient
        return f"no key (the placeholder {NO_KEY_PLACEHOLDER!r} is sent)"


@dataclass(frozen=True)
class Credential:
    """A resolved secret and where it came from. ``secret`` is ``None`` for an ambient chain."""

    source: CredentialSource
    secret: SecretStr | None = field(default=None, repr=False)

    def value(self) -> str | None:
        """The secret itself, for the SDK client only."""
        return self.secret.get_secret_value() if self.secret is not None else None


def credential_source(settings: EngineSettings) -> CredentialSource:
    """Where the secret of an engine configured by ``settings`` comes from (nothing is read)."""
    if settings.api_key_env:
        return CredentialSource(env=settings.api_key_env)
    if settings.api_key_file:
        return CredentialSource(file=settings.api_key_file)
    if settings.kind == "openai-compatible":
        if _host(settings.base_url) in OPENAI_HOSTS:
            return CredentialSource(env="OPENAI_API_KEY")
        return CredentialSource(placeholder=True)
    if settings.provider == "bedrock":
        return CredentialSource(ambient=AWS_CHAIN)
    if settings.provider == "vertex":
        return CredentialSource(ambient=GOOGLE_ADC)
    return CredentialSource(env="ANTHROPIC_API_KEY")


def resolve_credential(engine: str, settings: EngineSettings, workspace_root: Path) -> Credential:
    """Read the engine's secret from its source.

    Raises ``EngineUnavailableError`` naming what to set when it is missing or empty, and
    ``ConfigError`` when the key file is readable by other users or cannot be read.
    """
    source = credential_source(settings)
    if source.placeholder:
        return Credential(source, SecretStr(NO_KEY_PLACEHOLDER))
    if source.ambient:
        return Credential(source)
    if source.env:
        value = os.environ.get(source.env, "").strip()
        if not value:
            raise EngineUnavailableError(
                f"engine {engine!r} has no credential: set the environment variable {source.env}"
                f"{_alternatives(engine, settings)}"
            )
        return Credential(source, SecretStr(value))
    assert source.file is not None
    return Credential(source, SecretStr(read_key_file(engine, workspace_root / source.file, source.file)))


def read_key_file(engine: str, path: Path, shown_as: str, *, owner: str = "engine") -> str:
    """The stripped contents of a secret file that only its owner can read; messages name it as
    ``owner`` ``engine`` (e.g. ``engine 'claude'``, ``sso provider 'corp'``)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise EngineUnavailableError(
            f"{owner} {engine!r} has no credential: the key file {shown_as} does not exist in the "
            f"workspace; write the key there and run: chmod 600 {shown_as}"
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"{owner} {engine!r}: cannot read the key file {shown_as} ({exc.strerror})"
        ) from None
    with os.fdopen(fd, "rb") as handle:
        # Checked on the open file, so the file cannot be swapped between the check and the read.
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"{owner} {engine!r}: the key file {shown_as} is not a regular file")
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(
                f"{owner} {engine!r}: the key file {shown_as} is accessible by other users "
                f"(mode {stat.filemode(info.st_mode)}); run: chmod 600 {shown_as}"
            )
        raw = handle.read(MAX_KEY_FILE_BYTES + 1)
    if len(raw) > MAX_KEY_FILE_BYTES:
        raise ConfigError(f"{owner} {engine!r}: the key file {shown_as} is too large to hold a key")
    try:
        value = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ConfigError(f"{owner} {engine!r}: the key file {shown_as} is not UTF-8 text") from None
    if not value:
        raise EngineUnavailableError(
            f"{owner} {engine!r} has no credential: the key file {shown_as} is empty"
        )
    return value


def check_aws_chain(engine: str, region: str) -> None:
    """Raise ``EngineUnavailableError`` unless the AWS credential chain yields credentials.

    May read ``~/.aws`` and ask the instance metadata service, as every AWS client does; never
    contacts Bedrock itself.
    """
    if os.environ.get("AWS_BEARER_TOKEN_BEDROCK", "").strip():
        return
    try:
        import boto3
        from botocore.exceptions import BotoCoreError
    except ImportError:
        raise EngineUnavailableError(
            f"engine {engine!r} needs boto3 for Bedrock: pip install 'anthropic[bedrock]'"
        ) from None
    try:
        credentials = boto3.Session(region_name=region).get_credentials()
    except BotoCoreError as exc:
        raise EngineUnavailableError(
            f"engine {engine!r}: the AWS credentials cannot be loaded ({type(exc).__name__}); "
            f"check AWS_PROFILE and ~/.aws/config"
        ) from None
    if credentials is None:
        raise EngineUnavailableError(
            f"engine {engine!r} has no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
            f"(and AWS_SESSION_TOKEN), or AWS_PROFILE, or set api_key_env to a Bedrock API key"
        )


def check_google_adc(engine: str) -> None:
    """Raise ``EngineUnavailableError`` unless Google application-default credentials are found.

    Reads ``GOOGLE_APPLICATION_CREDENTIALS`` or gcloud's file and may probe the GCE metadata
    server; mints no token and never contacts Vertex AI.
    """
    try:
        import google.auth
        from google.auth.exceptions import GoogleAuthError
    except ImportError:
        raise EngineUnavailableError(
            f"engine {engine!r} needs google-auth for Vertex AI: pip install 'anthropic[vertex]'"
        ) from None
    try:
        google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    except GoogleAuthError:
        raise EngineUnavailableError(
            f"engine {engine!r} has no Google credentials: set GOOGLE_APPLICATION_CREDENTIALS, run "
            f"`gcloud auth application-default login`, or set api_key_env to a variable holding an "
            f"access token"
        ) from None


def _alternatives(engine: str, settings: EngineSettings) -> str:
    if settings.api_key_env or settings.api_key_file:
        return ""
    return f", or give api_key_env or api_key_file in [engines.{engine}] of sealroom.toml"


def _host(url: str | None) -> str | None:
    from urllib.parse import urlsplit

    return urlsplit(url).hostname if url else None
