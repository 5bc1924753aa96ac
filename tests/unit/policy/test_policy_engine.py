# ruff: noqa: E501  (the access matrix is a table: one row per line reads best)
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sealroom.config import ACTIONS
from sealroom.policy.decision import REASONS, Decision
from sealroom.policy.engine import (
    APPROVAL_ACTIONS,
    IMAGE_ACTIONS,
    INGEST_ACTIONS,
    WORKSPACE_ACTIONS,
    PolicyEngine,
)

NOW = datetime(2030, 1, 7, 9, 0, 0, tzinfo=UTC)
CASE = "case-1"
USER = "u1"


@dataclass(frozen=True)
class G:
    """A grant-like stand-in for ``sealroom.db.models.Grant``."""

    id: str
    case_id: str = CASE
    user_id: str = USER
    expires_at: datetime = NOW + timedelta(days=1)
    revoked_at: datetime | None = None


GRANT_STATES: dict[str, list[G]] = {
    "active": [G("g-active")],
    "expired": [G("g-expired", expires_at=NOW - timedelta(seconds=1))],
    "revoked": [G("g-revoked", revoked_at=NOW - timedelta(hours=1))],
    "other_case": [G("g-other", case_id="case-2")],
    "none": [],
}

# roles, action, dataset, classification, document type, grant state -> allowed, reason, role, grant id.
MATRIX = [
    # clinician: clinic, up to confidential, clinical + identity; view metadata and analyse
    (["clinician"], "metadata:view", "clinic", "confidential", "clinical", "active", True, "allowed", "clinician", "g-active"),
    (["clinician"], "image:analyze", "clinic", "internal", "identity", "active", True, "allowed", "clinician", "g-active"),
    (["clinician"], "image:analyze", "clinic", "restricted", "clinical", "active", False, "classification_above_clearance", None, None),
    (["clinician"], "image:analyze", "billing", "internal", "financial", "active", False, "dataset_out_of_scope", None, None),
    (["clinician"], "image:analyze", "clinic", "confidential", "financial", "active", False, "document_type_out_of_scope", None, None),
    (["clinician"], "pii:view_unmasked", "clinic", "internal", "clinical", "active", False, "no_role_permits_action", None, None),
    (["clinician"], "image:analyze", "clinic", "confidential", "clinical", "none", False, "no_case_grant", "clinician", None),
    (["clinician"], "image:analyze", "clinic", "confidential", "clinical", "expired", False, "grant_expired", "clinician", None),
    (["clinician"], "image:analyze", "clinic", "confidential", "clinical", "revoked", False, "grant_revoked", "clinician", None),
    (["clinician"], "image:analyze", "clinic", "confidential", "clinical", "other_case", False, "no_case_grant", "clinician", None),
    (["clinician"], "image:ingest", "clinic", "confidential", "clinical", "none", False, "no_role_permits_action", None, None),
    (["clinician"], "audit:read", None, None, None, "none", False, "no_role_permits_action", None, None),
    (["clinician"], "workspace:admin", None, None, None, "none", False, "no_role_permits_action", None, None),
    # privacy officer: clinic + billing, up to restricted, unmasked PII, audit
    (["privacy_officer"], "pii:view_unmasked", "clinic", "restricted", "clinical", "active", True, "allowed", "privacy_officer", "g-active"),
    (["privacy_officer"], "pii:view_unmasked", "billing", "restricted", "financial", "none", False, "no_case_grant", "privacy_officer", None),
    (["privacy_officer"], "pii:view_unmasked", "legal", "restricted", "legal", "active", False, "dataset_out_of_scope", None, None),
    (["privacy_officer"], "audit:read", None, None, None, "none", True, "allowed", "privacy_officer", None),
    (["privacy_officer"], "workspace:admin", None, None, None, "none", False, "no_role_permits_action", None, None),
    # intake: files material without any case grant
    (["intake"], "image:ingest", "clinic", "restricted", "clinical", "none", True, "allowed", "intake", None),
    (["intake"], "image:ingest", "billing", "internal", "other", "revoked", True, "allowed", "intake", None),
    (["intake"], "image:ingest", "legal", "restricted", "legal", "none", False, "dataset_out_of_scope", None, None),
    (["intake"], "image:ingest", "billing", "internal", "legal", "none", False, "document_type_out_of_scope", None, None),
    (["intake"], "image:analyze", "clinic", "internal", "clinical", "active", False, "no_role_permits_action", None, None),
    (["intake"], "metadata:view", "clinic", "restricted", "clinical", "active", True, "allowed", "intake", "g-active"),
    (["intake"], "metadata:view", "clinic", "restricted", "clinical", "none", False, "no_case_grant", "intake", None),
    # billing clerk: billing, internal only, financial
    (["billing_clerk"], "image:analyze", "billing", "internal", "financial", "active", True, "allowed", "billing_clerk", "g-active"),
    (["billing_clerk"], "image:analyze", "billing", "confidential", "financial", "active", False, "classification_above_clearance", None, None),
    (["billing_clerk"], "image:analyze", "billing", "internal", "identity", "active", False, "document_type_out_of_scope", None, None),
    # auditor and administrator: workspace actions only
    (["auditor"], "audit:read", None, None, None, "none", True, "allowed", "auditor", None),
    (["auditor"], "metadata:view", "clinic", "internal", "clinical", "active", False, "no_role_permits_action", None, None),
    (["admin"], "workspace:admin", None, None, None, "none", True, "allowed", "admin", None),
    (["admin"], "audit:read", None, None, None, "none", False, "no_role_permits_action", None, None),
    (["admin"], "image:analyze", "clinic", "internal", "clinical", "active", False, "no_role_permits_action", None, None),
    # several roles: the first allowing role is the basis; otherwise the most specific failure
    (["clinician", "billing_clerk"], "image:analyze", "billing", "internal", "financial", "active", True, "allowed", "billing_clerk", "g-active"),
    (["clinician", "privacy_officer"], "image:analyze", "clinic", "confidential", "clinical", "active", True, "allowed", "clinician", "g-active"),
    (["privacy_officer", "clinician"], "image:analyze", "clinic", "confidential", "clinical", "active", True, "allowed", "privacy_officer", "g-active"),
    (["billing_clerk", "clinician"], "image:analyze", "clinic", "restricted", "clinical", "active", False, "classification_above_clearance", None, None),
    (["auditor", "billing_clerk"], "image:analyze", "clinic", "internal", "clinical", "active", False, "dataset_out_of_scope", None, None),
    (["auditor", "clinician"], "pii:view_unmasked", "clinic", "internal", "clinical", "active", False, "no_role_permits_action", None, None),
    (["clinician", "intake"], "image:ingest", "clinic", "confidential", "clinical", "none", True, "allowed", "intake", None),
    # default deny: unknown roles, no roles, unknown actions
    (["surgeon"], "image:analyze", "clinic", "internal", "clinical", "active", False, "no_role_permits_action", None, None),
    ([], "audit:read", None, None, None, "none", False, "no_role_permits_action", None, None),
    ([], "metadata:view", "clinic", "internal", "clinical", "active", False, "no_role_permits_action", None, None),
    (["surgeon", "clinician"], "image:analyze", "clinic", "internal", "clinical", "active", True, "allowed", "clinician", "g-active"),
    (["privacy_officer"], "image:download", "clinic", "internal", "clinical", "active", False, "unknown_action", None, None),
    (["privacy_officer"], "image:export", "clinic", "internal", "clinical", "active", False, "unknown_action", None, None),
    (["admin"], "", None, None, None, "none", False, "unknown_action", None, None),
    (["admin"], "WORKSPACE:ADMIN", None, None, None, "none", False, "unknown_action", None, None),
]  # fmt: skip


@pytest.mark.parametrize(
    (
        "roles",
        "action",
        "dataset",
        "classification",
        "document_type",
        "grant_state",
        "allowed",
        "reason",
        "role",
        "grant",
    ),
    MATRIX,
)
def test_access_matrix(
    engine: PolicyEngine,
    roles: list[str],
    action: str,
    dataset: str | None,
    classification: str | None,
    document_type: str | None,
    grant_state: str,
    allowed: bool,
    reason: str,
    role: str | None,
    grant: str | None,
) -> None:
    decision = engine.decide(
        roles,
        action,
        dataset=dataset,
        classification=classification,
        document_type=document_type,
        case_grants=GRANT_STATES[grant_state],
        case_id=CASE if dataset is not None else None,
        now=NOW,
        user_id=USER,
    )
    assert decision == Decision(allowed, reason, role, grant)


def test_action_kinds_cover_exactly_the_configured_actions() -> None:
    kinds = [IMAGE_ACTIONS, INGEST_ACTIONS, APPROVAL_ACTIONS, WORKSPACE_ACTIONS]
    assert set().union(*kinds) == set(ACTIONS)
    assert sum(len(kind) for kind in kinds) == len(ACTIONS)


def test_matrix_reasons_are_declared() -> None:
    assert {row[7] for row in MATRIX} <= REASONS


def decide(engine: PolicyEngine, roles: list[str], action: str = "image:analyze", **kw: object) -> Decision:
    target: dict[str, object] = {
        "dataset": "clinic",
        "classification": "internal",
        "document_type": "clinical",
        "case_grants": GRANT_STATES["active"],
        "case_id": CASE,
        "now": NOW,
    }
    target.update(kw)
    return engine.decide(roles, action, **target)  # type: ignore[arg-type]


def test_disabled_users_are_denied_first(engine: PolicyEngine) -> None:
    assert decide(engine, ["privacy_officer"], user_disabled=True) == Decision(False, "user_disabled")
    assert decide(engine, ["admin"], "workspace:admin", user_disabled=True).reason == "user_disabled"


def test_unknown_classification(engine: PolicyEngine) -> None:
    assert decide(engine, ["privacy_officer"], classification="top-secret").reason == "unknown_classification"


@pytest.mark.parametrize("missing", ["dataset", "classification", "document_type"])
def test_a_case_target_needs_its_whole_scope(engine: PolicyEngine, missing: str) -> None:
    assert decide(engine, ["privacy_officer"], **{missing: None}).reason == "target_incomplete"
    assert decide(engine, ["intake"], "image:ingest", **{missing: None}).reason == "target_incomplete"


def test_without_a_case_only_role_scope_is_asked(engine: PolicyEngine) -> None:
    # "May this user list data set clinic?" -- no image is reached, so no grant is needed.
    listing = decide(
        engine, ["clinician"], "metadata:view", classification=None, document_type=None, case_id=None
    )
    assert listing == Decision(True, "allowed", "clinician", None)
    assert decide(engine, ["clinician"], dataset="billing", case_id=None).reason == "dataset_out_of_scope"


def test_grants_of_other_users_are_ignored(engine: PolicyEngine) -> None:
    someone_else = [G("g-x", user_id="u2")]
    assert decide(engine, ["clinician"], case_grants=someone_else, user_id=USER).reason == "no_case_grant"


def test_a_grant_expires_at_its_expiry_instant(engine: PolicyEngine) -> None:
    grant = [G("g-1", expires_at=NOW + timedelta(seconds=1))]
    assert decide(engine, ["clinician"], case_grants=grant).allowed
    assert (
        decide(engine, ["clinician"], case_grants=grant, now=NOW + timedelta(seconds=1)).reason
        == "grant_expired"
    )


def test_any_active_grant_is_enough(engine: PolicyEngine) -> None:
    grants = GRANT_STATES["expired"] + GRANT_STATES["revoked"] + [G("g-new")]
    assert decide(engine, ["clinician"], case_grants=grants) == Decision(
        True, "allowed", "clinician", "g-new"
    )


def test_expiry_is_reported_over_revocation(engine: PolicyEngine) -> None:
    grants = GRANT_STATES["revoked"] + GRANT_STATES["expired"]
    assert decide(engine, ["clinician"], case_grants=grants).reason == "grant_expired"


# -- properties ----------------------------------------------------------------------------------

ANY_ACTION = st.one_of(st.sampled_from(ACTIONS), st.text(max_size=20))
MAYBE = st.one_of(st.none(), st.sampled_from(["clinic", "billing", "legal", "x"]))
MAYBE_CLASS = st.one_of(st.none(), st.sampled_from(["internal", "confidential", "restricted", "secret"]))
MAYBE_TYPE = st.one_of(st.none(), st.sampled_from(["clinical", "financial", "identity", "legal", "other"]))
GRANTS = st.lists(
    st.builds(
        G,
        id=st.text(min_size=1, max_size=8),
        case_id=st.sampled_from([CASE, "case-2"]),
        user_id=st.sampled_from([USER, "u2"]),
        expires_at=st.sampled_from([NOW - timedelta(days=1), NOW + timedelta(days=1)]),
        revoked_at=st.sampled_from([None, NOW]),
    ),
    max_size=4,
    unique_by=lambda grant: grant.id,
)


@given(
    action=ANY_ACTION,
    dataset=MAYBE,
    classification=MAYBE_CLASS,
    document_type=MAYBE_TYPE,
    grants=GRANTS,
    case_id=st.one_of(st.none(), st.just(CASE)),
    disabled=st.booleans(),
)
def test_no_roles_never_allows_anything(
    engine: PolicyEngine,
    action: str,
    dataset: str | None,
    classification: str | None,
    document_type: str | None,
    grants: list[G],
    case_id: str | None,
    disabled: bool,
) -> None:
    for roles in ([], ["nonexistent-role"]):
        decision = engine.decide(
            roles,
            action,
            dataset=dataset,
            classification=classification,
            document_type=document_type,
            case_grants=grants,
            case_id=case_id,
            now=NOW,
            user_disabled=disabled,
        )
        assert not decision.allowed
        assert decision.reason in REASONS


@given(
    roles=st.lists(
        st.sampled_from(["clinician", "privacy_officer", "intake", "billing_clerk", "auditor", "admin"])
    ),
    action=ANY_ACTION,
    dataset=MAYBE,
    classification=MAYBE_CLASS,
    document_type=MAYBE_TYPE,
    grants=GRANTS,
)
def test_an_allow_on_a_case_always_rests_on_a_held_role_and_an_active_grant(
    engine: PolicyEngine,
    roles: list[str],
    action: str,
    dataset: str | None,
    classification: str | None,
    document_type: str | None,
    grants: list[G],
) -> None:
    decision = engine.decide(
        roles,
        action,
        dataset=dataset,
        classification=classification,
        document_type=document_type,
        case_grants=grants,
        case_id=CASE,
        now=NOW,
        user_id=USER,
    )
    if decision.allowed:
        assert decision.role in roles
        if action in IMAGE_ACTIONS:
            grant = next(g for g in grants if g.id == decision.grant_id)
            assert grant.case_id == CASE and grant.user_id == USER
            assert grant.revoked_at is None and grant.expires_at > NOW
