"""Workspace settings: ``sealroom.toml`` in the workspace folder, overridable by environment.

One ``Settings`` object is built at start-up and passed down; nothing else reads the file or the
environment. Unknown keys are errors, so a typo never silently weakens a policy.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sealroom.errors import ConfigError

CONFIG_NAME = "sealroom.toml"

ACTIONS = (
    "metadata:view",
    "image:ingest",
    "image:analyze",
    "pii:view_unmasked",
    "audit:read",
    "workspace:admin",
)


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


class LimitSettings(_Strict):
    """Limits on files offered for ingest."""

    max_file_bytes: int = Field(default=50 * 1024 * 1024, ge=1)
    max_pixels_per_page: int = Field(default=60_000_000, ge=1)
    max_total_pixels: int = Field(default=250_000_000, ge=1)  # all pages of one file together
    max_pages: int = Field(default=50, ge=1)
    pdf_render_dpi: int = Field(default=200, ge=50, le=600)


class DatasetSettings(_Strict):
    """A data set: why it exists, who owns it, and the classification its images default to."""

    purpose: str
    owner: str
    default_classification: str


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
        return self

    def classification_rank(self, classification: str) -> int:
        """Position of a classification in the order, lowest first."""
        return self.classifications.index(classification)


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
        raise ConfigError(f"{path} is invalid:\n{exc}") from exc
