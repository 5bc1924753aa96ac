"""Fixtures of the identity tests: a real SQLite database, a manual clock and an in-memory audit fake."""

from __future__ import annotations

import secrets
from collections.abc import Callable

import pytest
from argon2 import PasswordHasher
from argon2.profiles import CHEAPEST
from sqlalchemy.orm import Session, sessionmaker
from tests.fakes import FakeAudit

from sealroom.clock import ManualClock
from sealroom.config import Settings
from sealroom.identity.passwords import PasswordHashing
from sealroom.identity.service import IdentityService
from sealroom.keys import WorkspaceKeys


def make_keys() -> WorkspaceKeys:
    return WorkspaceKeys(
        wrapping_key=secrets.token_bytes(32),
        secret_sealing_key=secrets.token_bytes(32),
        pii_hash_key=secrets.token_bytes(32),
        audit_key=secrets.token_bytes(32),
        key_id="test",
        csrf_key=secrets.token_bytes(32),
    )


def make_settings(**login: int | bool) -> Settings:
    """Test settings; password-only sign-in is allowed unless ``require_mfa=True`` is passed."""
    login.setdefault("require_mfa", False)
    return Settings.model_validate(
        {
            "datasets": {
                "clinic": {"purpose": "care", "owner": "ops", "default_classification": "confidential"}
            },
            "roles": {
                "clinician": {
                    "actions": ["metadata:view", "image:analyze"],
                    "datasets": ["clinic"],
                    "max_classification": "confidential",
                    "document_types": ["clinical"],
                },
                "auditor": {
                    "actions": ["audit:read"],
                    "datasets": [],
                    "max_classification": "internal",
                    "document_types": [],
                },
            },
            "login": {"max_failures": 3, "window_minutes": 15, "lockout_minutes": 10, **login},
        }
    )


@pytest.fixture
def keys() -> WorkspaceKeys:
    return make_keys()


@pytest.fixture
def cheap_passwords() -> PasswordHashing:
    return PasswordHashing(PasswordHasher.from_parameters(CHEAPEST))


@pytest.fixture
def make_identity(
    db_factory: sessionmaker[Session],
    keys: WorkspaceKeys,
    clock: ManualClock,
    audit: FakeAudit,
    cheap_passwords: PasswordHashing,
) -> Callable[..., IdentityService]:
    """Builds a service on the shared database; keyword arguments override the login settings."""

    def build(passwords: PasswordHashing | None = None, **login: int | bool) -> IdentityService:
        return IdentityService(
            db_factory, keys, make_settings(**login), clock, audit, passwords=passwords or cheap_passwords
        )

    return build


@pytest.fixture
def identity(make_identity: Callable[..., IdentityService]) -> IdentityService:
    return make_identity()
