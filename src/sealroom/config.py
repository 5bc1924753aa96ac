"""Workspace settings: ``sealroom.toml`` in the workspace folder, overridable by environment.

One ``Settings`` object is built at start-up and passed down; nothing else reads the file or the
environment. Unknown keys are errors, so a typo never silently weakens a policy.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path, PurePosixPath
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sealroom.errors import ConfigError

CONFIG_NAME = "sealroom.toml"

ENGINE_NAME = re.compile(r"[a-z][a-z0-9-]{0,39}")

ACTIONS = (
    "metadata:view",
    "image:ingest",
    "image:analyze",
    "pii:view_unmasked",
    "audit:read",
    "workspace:admin",
    "request:approve",
    "breakglass:review",
)
"""``request:approve`` is scoped like image actions (data sets, up to ``max_classification``): an
approver decides access and export requests about those data sets only, never their own.
``breakglass:review`` is workspace-wide: closing break-glass uses in the review queue."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSettings(_Strict):
    """Where ``sealroom serve`` listens and whether it sits behind TLS."""

    host: str = "127.0.0.1"
    port: int = Field(default=8700, ge=1, le=65535)
    behind_tls: bool = False


class SessionSettings(_Strict):
    """Workspace session lifetimes."""

    idle_timeout_minutes: int = Field(default=15, ge=1)
    absolute_timeout_minutes: int = Field(default=480, ge=1)


class LoginSettings(_Strict):
    """Throttling of failed sign-ins."""

    max_failures: int = Field(default=5, ge=1)
    window_minutes: int = Field(default=15, ge=1)
    lockout_minutes: int = Field(default=15, ge=1)
    require_mfa: bool = True
    local_accounts: bool = True
    """False: only single sign-on (``[sso.providers]``) signs anyone in; password sign-in is refused."""
    invitation_hours: int = Field(default=72, ge=1, le=24 * 14)
    """How long an enrolment link (a new account's, or a second-factor reset's) stays valid."""


class LimitSettings(_Strict):
    """Limits on files offered for ingest."""

    max_file_bytes: int = Field(default=50 * 1024 * 1024, ge=1)
    max_pixels_per_page: int = Field(default=60_000_000, ge=1)
    max_total_pixels: int = Field(default=250_000_000, ge=1)  # all pages of one file together
    max_pages: int = Field(default=50, ge=1)
    pdf_render_dpi: int = Field(default=200, ge=50, le=600)


EgressMode = Literal["local-only", "redacted", "allowed"]
EGRESS_MODES: tuple[EgressMode, ...] = ("local-only", "redacted", "allowed")
"""Strictest first: ``local-only`` (no external engine), ``redacted`` (PII and faces burned out of the
pixels first), ``allowed`` (pages sent as they are)."""


class DatasetSettings(_Strict):
    """A data set: why it exists, who owns it, the classification its images default to, and what
    may leave the workspace for an external model engine."""

    purpose: str
    owner: str
    default_classification: str
    egress: EgressMode = "local-only"
    approvals_required: int = Field(default=1, ge=1, le=2)
    """Approvals an access or export request about this data set needs (two for restricted data)."""
    break_glass: bool = False
    """Whether a user whose role covers this data set may take emergency access to a case here."""
    break_glass_minutes: int = Field(default=60, ge=5, le=24 * 60)
    export_original: bool = False
    """Whether an export may carry the original file (always with two approvals) instead of a redacted,
    watermarked rendering."""
    retention_days: int | None = Field(default=None, ge=1)
    """Images are crypto-shredded this many days after ingest (unless on legal hold); unset keeps them."""


class EgressSettings(_Strict):
    """Workspace-wide egress ceilings by classification; the stricter of this and the data set's wins."""

    classifications: dict[str, EgressMode] = {}


class EngineSettings(_Strict):
    """One external model engine (``[engines.NAME]``). Credentials are never written here: the
    settings name an environment variable or a 0600 secret file that holds them."""

    kind: Literal["anthropic", "openai-compatible"]
    model: str = Field(min_length=1, max_length=200)
    provider: Literal["direct", "bedrock", "vertex"] = "direct"
    """For ``anthropic``: the Claude API itself, Amazon Bedrock or Google Vertex AI."""
    base_url: str | None = None
    """Required for ``openai-compatible``; optional for ``anthropic`` (a gateway or proxy)."""
    region: str | None = None
    project_id: str | None = None
    api_key_env: str | None = None
    api_key_file: str | None = None
    """A file (relative to the workspace, mode 0600) holding the API key or access token."""
    allow_plain_http: bool = False
    """Allow ``http://`` to a host other than loopback (images would cross the network unencrypted)."""
    ca_bundle: str | None = None
    """A PEM file (relative to the workspace) of the CA that signed an internal endpoint's certificate.
    Environment variables (proxies, ``SSL_CERT_FILE``) are never used for engine connections."""
    timeout_seconds: float = Field(default=60.0, gt=0, le=600)
    max_retries: int = Field(default=2, ge=0, le=6)
    max_tokens: int = Field(default=2048, ge=16, le=32768)
    max_image_side: int = Field(default=1568, ge=256, le=8000)
    max_image_pixels: int = Field(default=1_600_000, ge=65_536, le=64_000_000)
    max_image_bytes: int = Field(default=3_750_000, ge=50_000, le=20_000_000)
    max_images_per_request: int = Field(default=20, ge=1, le=100)

    @model_validator(mode="after")
    def _complete(self) -> EngineSettings:
        if self.kind == "openai-compatible" and not self.base_url:
            raise ValueError("an openai-compatible engine needs base_url (e.g. http://127.0.0.1:8000/v1)")
        if self.kind == "anthropic" and self.provider in ("bedrock", "vertex") and not self.region:
            raise ValueError(f"a {self.provider} engine needs region")
        if self.kind == "anthropic" and self.provider == "vertex" and not self.project_id:
            raise ValueError("a vertex engine needs project_id")
        if self.api_key_env and self.api_key_file:
            raise ValueError("give api_key_env or api_key_file, not both")
        if self.base_url is not None:
            check_endpoint_url(self.base_url, self.allow_plain_http)
        for name in ("api_key_file", "ca_bundle"):
            path = PurePosixPath(getattr(self, name) or ".")
            if path.is_absolute() or ".." in path.parts:
                raise ValueError(f"{name} must be a path inside the workspace (relative, without '..')")
        return self


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


def check_endpoint_url(
    url: str,
    allow_plain_http: bool,
    *,
    setting: str = "base_url",
    carries: str = "images",
    switch: str | None = "allow_plain_http",
) -> None:
    """Refuse an endpoint URL that is not http(s), carries credentials, or is plain http off loopback.

    ``setting`` names the setting in messages; ``carries`` says what would cross the network;
    ``switch`` is the setting that allows plain http (None: there is none)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{setting} must be an http(s) URL with a host, not {url!r}")
    if parts.username or parts.password:
        raise ValueError(
            f"{setting} must not carry credentials in the URL; secrets have their own settings "
            "(api_key_env / api_key_file for engines, client_secret_env / client_secret_file for sign-on)"
        )
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS and not allow_plain_http:
        allow = (
            f", or set {switch} = true for a trusted network" if switch else " (plain http only on loopback)"
        )
        raise ValueError(
            f"{setting} {url!r} is plain http to another host: {carries} would cross the network "
            f"unencrypted; use https{allow}"
        )


class StepUpSettings(_Strict):
    """Step-up MFA: how recent a TOTP check must be before an image is opened, by classification.

    ``classifications`` maps a level to minutes; a level not listed takes the strictest value of the
    levels below it, so a higher classification is never looser. Levels below every listed one need
    no step-up. ``trigger_entities`` / ``trigger_document_types``: when the offline engine's pre-scan
    finds one of these on an image, its classification is raised to ``raise_to`` (if higher) and the
    result waits for a fresh second factor.
    """

    classifications: dict[str, int] = {}
    trigger_entities: list[str] = ["CREDIT_CARD"]
    trigger_document_types: list[str] = ["identity"]
    raise_to: str | None = None

    @field_validator("classifications")
    @classmethod
    def _positive(cls, levels: dict[str, int]) -> dict[str, int]:
        for level, minutes in levels.items():
            if not 1 <= minutes <= 24 * 60:
                raise ValueError(f"step_up.classifications.{level}: minutes must be 1-1440")
        return levels


class AccessSettings(_Strict):
    """Limits of access requests and grants."""

    request_max_hours: int = Field(default=72, ge=1, le=24 * 90)
    """The longest access an approved request may give."""
    request_pending_hours: int = Field(default=72, ge=1, le=24 * 30)
    """An undecided request expires after this long."""
    grant_max_days: int = Field(default=90, ge=1, le=3650)
    """The longest a case grant may run, however it is created."""


class ExportSettings(_Strict):
    """Approved exports: how long after approval the single delivery may happen."""

    window_minutes: int = Field(default=15, ge=1, le=24 * 60)


class ForwardSinkSettings(_Strict):
    """One SIEM destination fed from the audit log (``[forwarding.sinks.NAME]``).

    Records are delivered in ``seq`` order, at least once (each carries its ``event_id``); a sink that
    is down is retried from where it stopped, so nothing is skipped.
    """

    kind: Literal["syslog", "webhook"]
    url: str
    """``syslog``: ``tcp://host:port`` or ``tls://host:port`` (RFC 5424, octet-counted framing);
    ``webhook``: an https URL (plain http to loopback only) receiving JSON batches."""
    format: Literal["sealroom", "ocsf"] = "sealroom"
    """``sealroom``: the sealed record (verifiable); ``ocsf``: OCSF events (see ``docs/compliance.md``)."""
    ca_bundle: str | None = None
    """A PEM file (relative to the workspace) of the CA that signed the receiver's certificate."""
    secret_env: str | None = None
    """``webhook``: environment variable holding the key that signs each body (HMAC-SHA256)."""
    timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    batch_size: int = Field(default=100, ge=1, le=1000)
    categories: list[str] = []
    """Forward only these audit categories (empty: all)."""

    @model_validator(mode="after")
    def _target(self) -> ForwardSinkSettings:
        if self.kind == "webhook":
            check_endpoint_url(self.url, allow_plain_http=False)
        elif not re.fullmatch(r"(tcp|tls)://[A-Za-z0-9.\-\[\]:]+:\d{1,5}", self.url):
            raise ValueError("a syslog sink url must look like tls://host:6514 or tcp://host:601")
        if self.secret_env is not None and self.kind != "webhook":
            raise ValueError("secret_env signs webhook bodies; a syslog sink has none")
        path = PurePosixPath(self.ca_bundle or ".")
        if path.is_absolute() or ".." in path.parts:
            raise ValueError("ca_bundle must be a path inside the workspace (relative, without '..')")
        return self


class ForwardingSettings(_Strict):
    """Forwarding of the audit log to SIEM sinks, from the log itself as a durable outbox."""

    sinks: dict[str, ForwardSinkSettings] = {}
    poll_seconds: float = Field(default=2.0, gt=0, le=300)
    """How often ``serve`` looks for new records when idle."""
    backlog_alert_records: int = Field(default=1000, ge=1)
    """Alert when a sink is this many records behind ..."""
    backlog_alert_minutes: int = Field(default=15, ge=1)
    """... or its oldest undelivered record is this old."""


class AnchorSettings(_Strict):
    """Signed anchors: the chain head signed with Ed25519 (a key apart from the audit HMAC key)."""

    key_file: str = "keys/anchor.key"
    interval_minutes: int = Field(default=60, ge=1, le=24 * 60)
    """How often ``serve`` signs the head (``sealroom audit anchor`` signs it at once)."""
    file: str | None = None
    """Append each signed anchor to this file as a JSON line; put it where the database's
    administrators cannot rewrite it (another host, a WORM mount). Absolute, or relative to the
    workspace."""


class AuditSettings(_Strict):
    """The audit log's own policy."""

    retention_days: int | None = Field(default=None, ge=1)
    """How long audit records must be kept (Sealroom never deletes them; the readiness check
    compares this with the data sets' retention)."""
    verify_interval_minutes: int = Field(default=60, ge=1, le=7 * 24 * 60)
    """How often ``serve`` verifies the chain (a failure raises an alert)."""
    anchor: AnchorSettings = AnchorSettings()


class ThresholdRule(_Strict):
    """An alert rule that fires when more than ``threshold`` things happen within ``window_minutes``."""

    enabled: bool = True
    threshold: int = Field(ge=1)
    window_minutes: int = Field(ge=1, le=24 * 60)


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class WorkingHoursRule(_Strict):
    """Alert on image access outside working hours (``start``-``end`` local time on ``days``)."""

    enabled: bool = False
    timezone: str = "UTC"
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = ["mon", "tue", "wed", "thu", "fri"]
    start: str = "07:00"
    end: str = "19:00"

    @model_validator(mode="after")
    def _hours(self) -> WorkingHoursRule:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        for name in ("start", "end"):
            if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", getattr(self, name)):
                raise ValueError(f"working hours {name} must be HH:MM (24-hour clock)")
        if self.start >= self.end:
            raise ValueError("working hours start must come before end")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {self.timezone!r} (e.g. Europe/London)") from exc
        return self


class SwitchRule(_Strict):
    """An alert rule that is either on or off."""

    enabled: bool = True


class AlertRuleSettings(_Strict):
    """Alert rules (``[alerts.rules.NAME]``); every alert goes to the alert sinks and the audit log."""

    bulk_access: ThresholdRule = ThresholdRule(threshold=50, window_minutes=10)
    """More than ``threshold`` distinct images opened by one user within the window."""
    off_hours: WorkingHoursRule = WorkingHoursRule()
    repeated_denials: ThresholdRule = ThresholdRule(threshold=5, window_minutes=10)
    """More than ``threshold`` access denials of one user within the window."""
    break_glass: SwitchRule = SwitchRule()
    audit_verify_failure: SwitchRule = SwitchRule()
    forwarding_backlog: SwitchRule = SwitchRule()


class AnalysisSettings(_Strict):
    """The offline engine's recogniser set."""

    entities: list[str] = []
    """Entity types the offline engine reports (and so masks); empty: every type it knows. Text of a
    type left out is not recognised as personal data."""


class AlertSettings(_Strict):
    """Where alerts (break-glass use) are sent at once. Both are optional; with neither, alerts are
    only in the audit log and ``sealroom readiness`` warns."""

    webhook_url: str | None = None
    """An https URL (http to loopback only) receiving a JSON POST per alert."""
    webhook_secret_env: str | None = None
    """Environment variable holding the key that signs each webhook body (HMAC-SHA256 header)."""
    syslog: str | None = None
    """``udp://host:port`` or ``tcp://host:port``: RFC 5424 messages to a syslog collector."""
    timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    rules: AlertRuleSettings = AlertRuleSettings()

    @field_validator("webhook_url")
    @classmethod
    def _webhook(cls, url: str | None) -> str | None:
        if url is not None:
            check_endpoint_url(url, allow_plain_http=False)
        return url

    @field_validator("syslog")
    @classmethod
    def _syslog(cls, target: str | None) -> str | None:
        if target is not None and not re.fullmatch(r"(udp|tcp)://[A-Za-z0-9.\-\[\]:]+:\d{1,5}", target):
            raise ValueError("syslog must look like udp://host:514 or tcp://host:601")
        return target


class RetentionSettings(_Strict):
    """How often ``serve`` runs the retention pass (``sealroom retention run`` runs it by hand)."""

    interval_minutes: int = Field(default=60, ge=1, le=24 * 60)


class RoleSettings(_Strict):
    """A role: actions allowed on which data sets, up to which classification, for which document types."""

    actions: list[str]
    datasets: list[str]
    max_classification: str
    document_types: list[str]

    @field_validator("actions")
    @classmethod
    def _known_actions(cls, actions: list[str]) -> list[str]:
        unknown = sorted(set(actions) - set(ACTIONS))
        if unknown:
            raise ValueError(f"unknown actions {unknown}; known: {list(ACTIONS)}")
        return actions


SSO_PROVIDER_NAME = re.compile(r"[a-z][a-z0-9-]{0,31}")


class RoleMappingRule(_Strict):
    """An identity-provider claim value that confers Sealroom roles, e.g. group
    ``radiology-clinicians`` → role ``clinician`` (the role's own data sets and limits apply)."""

    claim: str = Field(default="groups", min_length=1, max_length=128)
    value: str = Field(min_length=1, max_length=256)
    roles: list[str] = Field(min_length=1)


class OidcProviderSettings(_Strict):
    """One OpenID Connect identity provider (Entra ID, Okta, Keycloak, Ping, AD FS ...)."""

    display_name: str = Field(min_length=1, max_length=80)
    issuer: str
    client_id: str = Field(min_length=1, max_length=256)
    client_secret_env: str | None = None
    client_secret_file: str | None = None
    scopes: list[str] = ["openid", "profile", "email"]
    username_claim: str = "preferred_username"
    role_mapping: list[RoleMappingRule] = []
    mfa_amr: list[str] = ["mfa"]
    """``amr`` values (RFC 8176) that count as multi-factor; any one of them is enough."""
    mfa_acr: list[str] = []
    """``acr`` values that count as multi-factor (e.g. a provider's MFA policy name)."""
    api_audience: str | None = None
    """When set, API clients may present this provider's JWT access tokens issued for this audience."""
    api_requires_mfa: bool = True
    """With ``login.require_mfa``, an API token must itself show MFA (``amr``/``acr``); a provider that
    cannot put them in access tokens needs this off, knowingly (the readiness check warns)."""
    jit_provisioning: bool = True
    """Create a Sealroom account at a person's first sign-in (it can act only once mapped to a role)."""
    recheck_minutes: int = Field(default=15, ge=1, le=24 * 60)
    """How often an open session's roles and account state are fetched again from the provider."""
    allow_plain_http: bool = False
    ca_bundle: str | None = None
    timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    jwks_min_refresh_seconds: float = Field(default=30.0, ge=0, le=3600)
    """A token signed by an unknown key makes Sealroom fetch the provider's keys again, at most this often."""
    clock_skew_seconds: int = Field(default=60, ge=0, le=600)

    @model_validator(mode="after")
    def _complete(self) -> OidcProviderSettings:
        check_endpoint_url(
            self.issuer, self.allow_plain_http, setting="issuer", carries="tokens and personal claims"
        )
        if "openid" not in self.scopes:
            raise ValueError("scopes must include 'openid'")
        if self.client_secret_env and self.client_secret_file:
            raise ValueError("give client_secret_env or client_secret_file, not both")
        if self.api_audience is not None and self.api_audience == self.client_id:
            # ID tokens are issued to client_id: they must never pass as API access tokens.
            raise ValueError("api_audience must differ from client_id (use the API's own identifier)")
        for name in ("client_secret_file", "ca_bundle"):
            path = PurePosixPath(getattr(self, name) or ".")
            if path.is_absolute() or ".." in path.parts:
                raise ValueError(f"{name} must be a path inside the workspace (relative, without '..')")
        return self


class SsoSettings(_Strict):
    """Single sign-on: OpenID Connect providers, and the address browsers use to reach Sealroom."""

    public_url: str | None = None
    """Sealroom's own address as browsers see it (e.g. ``https://sealroom.example.org``): the base of the
    redirect and logout addresses registered with each provider. Never taken from a request's Host."""
    providers: dict[str, OidcProviderSettings] = {}

    @model_validator(mode="after")
    def _complete(self) -> SsoSettings:
        for name in self.providers:
            if not SSO_PROVIDER_NAME.fullmatch(name):
                raise ValueError(f"provider name {name!r}: use lower-case letters, digits and dashes")
        if self.providers and not self.public_url:
            raise ValueError("public_url is required when providers are configured")
        if self.public_url is not None:
            check_endpoint_url(
                self.public_url,
                False,
                setting="sso.public_url",
                carries="session cookies and tokens",
                switch=None,
            )
        return self


class Settings(_Strict):
    """The whole workspace configuration."""

    environment: Literal["production", "development"] = "production"
    database_url: str = "sqlite:///sealroom.db"
    blob_dir: str = "blobs"
    workspace_key_file: str = "keys/workspace.key"
    audit_key_file: str = "keys/audit.key"
    classifications: list[str] = ["internal", "confidential", "restricted"]
    document_types: list[str] = ["clinical", "financial", "identity", "legal", "other"]
    server: ServerSettings = ServerSettings()
    session: SessionSettings = SessionSettings()
    login: LoginSettings = LoginSettings()
    limits: LimitSettings = LimitSettings()
    datasets: dict[str, DatasetSettings] = {}
    roles: dict[str, RoleSettings] = {}
    egress: EgressSettings = EgressSettings()
    engines: dict[str, EngineSettings] = {}
    step_up: StepUpSettings = StepUpSettings()
    access: AccessSettings = AccessSettings()
    export: ExportSettings = ExportSettings()
    alerts: AlertSettings = AlertSettings()
    retention: RetentionSettings = RetentionSettings()
    audit: AuditSettings = AuditSettings()
    forwarding: ForwardingSettings = ForwardingSettings()
    analysis: AnalysisSettings = AnalysisSettings()
    sso: SsoSettings = SsoSettings()
    profile: Literal["clinical", "financial", "legal", "government"] | None = None
    """The use-case profile ``sealroom init --profile`` seeded this file from (informational)."""

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        levels = set(self.classifications)
        for name, dataset in self.datasets.items():
            if dataset.default_classification not in levels:
                raise ValueError(
                    f"dataset {name!r}: unknown classification {dataset.default_classification!r}"
                )
        for name, role in self.roles.items():
            if role.max_classification not in levels:
                raise ValueError(f"role {name!r}: unknown classification {role.max_classification!r}")
            missing = sorted(set(role.datasets) - set(self.datasets))
            if missing:
                raise ValueError(f"role {name!r}: unknown datasets {missing}")
            bad_types = sorted(set(role.document_types) - set(self.document_types))
            if bad_types:
                raise ValueError(f"role {name!r}: unknown document types {bad_types}")
        unknown_levels = sorted(set(self.egress.classifications) - levels)
        if unknown_levels:
            raise ValueError(f"egress: unknown classifications {unknown_levels}")
        unknown_levels = sorted(set(self.step_up.classifications) - levels)
        if unknown_levels:
            raise ValueError(f"step_up: unknown classifications {unknown_levels}")
        if self.step_up.raise_to is not None and self.step_up.raise_to not in levels:
            raise ValueError(f"step_up.raise_to: unknown classification {self.step_up.raise_to!r}")
        for name, provider in self.sso.providers.items():
            for rule in provider.role_mapping:
                missing = sorted(set(rule.roles) - set(self.roles))
                if missing:
                    raise ValueError(f"sso provider {name!r}: role_mapping names unknown roles {missing}")
        if not self.login.local_accounts and not self.sso.providers:
            raise ValueError("login.local_accounts = false needs at least one [sso.providers] entry")
        from sealroom.audit.events import Category

        for name, sink in self.forwarding.sinks.items():
            unknown = sorted(set(sink.categories) - {category.value for category in Category})
            if unknown:
                raise ValueError(f"forwarding sink {name!r}: unknown audit categories {unknown}")
        for name, engine in self.engines.items():
            if engine.api_key_file in (self.workspace_key_file, self.audit_key_file):
                raise ValueError(f"engine {name!r}: api_key_file may not be one of the workspace's own keys")
            if name == "local" or not ENGINE_NAME.fullmatch(name):
                raise ValueError(
                    f"engine name {name!r}: use lower-case letters, digits and dashes; 'local' is built in"
                )
        return self

    def classification_rank(self, classification: str) -> int:
        """Position of a classification in the order, lowest first."""
        return self.classifications.index(classification)

    def step_up_minutes(self, classification: str) -> int | None:
        """How recent a TOTP check must be to open an image at ``classification`` (None: no step-up).

        The strictest value set for this level or any below it; an unknown level takes the strictest
        value of all.
        """
        configured = self.step_up.classifications
        if classification not in self.classifications:
            return min(configured.values(), default=None)
        rank = self.classification_rank(classification)
        values = [minutes for level, minutes in configured.items() if self.classification_rank(level) <= rank]
        return min(values, default=None)


def load_settings(workspace: Path) -> Settings:
    """Read ``sealroom.toml`` from the workspace; ``SEALROOM_DATABASE_URL`` overrides the database."""
    path = workspace / CONFIG_NAME
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path} not found; create a workspace with: sealroom init {workspace}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    if url := os.environ.get("SEALROOM_DATABASE_URL"):
        raw["database_url"] = url
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        problems = "\n".join(f"  - {problem}" for problem in describe_problems(exc))
        raise ConfigError(f"{path} is invalid (see docs/configuration.md):\n{problems}") from exc


def describe_problems(exc: ValidationError) -> list[str]:
    """One line per problem, naming the setting as written in the file; values are not repeated
    (a misplaced one may be a credential)."""
    lines = []
    for error in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in error["loc"])
        if error["type"] == "extra_forbidden":
            lines.append(f"{where}: unknown setting (check its spelling and the section it is in)")
        else:
            message = str(error["msg"]).removeprefix("Value error, ")
            lines.append(f"{where}: {message}" if where else message)
    return lines
