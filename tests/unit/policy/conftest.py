"""Fixtures of the policy tests: the workspace roles of the access matrix, a database and fakes."""

from __future__ import annotations

import secrets
from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session, sessionmaker
from tests.fakes import FakeAudit

from sealroom.clock import ManualClock
from sealroom.config import Settings
from sealroom.db.models import User
from sealroom.policy.engine import PolicyEngine
from sealroom.policy.grants import GrantService

# internal < confidential < restricted
POLICY = {
    "classifications": ["internal", "confidential", "restricted"],
    "document_types": ["clinical", "financial", "identity", "legal", "other"],
    "datasets": {
        "clinic": {"purpose": "patient care", "owner": "records", "default_classification": "confidential"},
        "billing": {"purpose": "claims", "owner": "finance", "default_classification": "internal"},
        "legal": {"purpose": "matters", "owner": "counsel", "default_classification": "restricted"},
    },
    "roles": {
        "clinician": {
            "actions": ["metadata:view", "image:analyze"],
            "datasets": ["clinic"],
            "max_classification": "confidential",
            "document_types": ["clinical", "identity"],
        },
        "privacy_officer": {
            "actions": ["metadata:view", "image:analyze", "pii:view_unmasked", "audit:read"],
            "datasets": ["clinic", "billing"],
            "max_classification": "restricted",
            "document_types": ["clinical", "financial", "identity"],
        },
        "intake": {
            "actions": ["image:ingest", "metadata:view"],
            "datasets": ["clinic", "billing"],
            "max_classification": "restricted",
            "document_types": ["clinical", "financial", "identity", "other"],
        },
        "billing_clerk": {
            "actions": ["metadata:view", "image:analyze"],
            "datasets": ["billing"],
            "max_classification": "internal",
            "document_types": ["financial"],
        },
        "auditor": {
            "actions": ["audit:read"],
            "datasets": [],
            "max_classification": "internal",
            "document_types": [],
        },
        "admin": {
            "actions": ["workspace:admin"],
            "datasets": [],
            "max_classification": "internal",
            "document_types": [],
        },
    },
}


# Both are immutable, so one instance serves every test (and hypothesis' generated inputs).
@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings.model_validate(POLICY)


@pytest.fixture(scope="session")
def engine(settings: Settings) -> PolicyEngine:
    return PolicyEngine(settings)


@pytest.fixture
def grants(db_factory: sessionmaker[Session], clock: ManualClock, audit: FakeAudit) -> GrantService:
    return GrantService(db_factory, clock, audit)


@pytest.fixture
def add_user(db_factory: sessionmaker[Session], clock: ManualClock) -> Callable[..., User]:
    """Inserts a user row directly (the identity service is tested elsewhere)."""

    def add(username: str, roles: list[str] | None = None, *, disabled: bool = False) -> User:
        with db_factory() as db:
            user = User(
                id=secrets.token_hex(16),
                username=username,
                display_name="",
                password_hash="$argon2id$unused",
                roles=roles or [],
                totp_secret_enc=None,
                mfa_enrolled=False,
                totp_last_step=0,
                disabled=disabled,
                created_at=clock.now(),
            )
            db.add(user)
            db.commit()
            return user

    return add
