"""A policy decision is a value: allowed or not, why (machine-readable), and on what basis."""

from __future__ import annotations

from dataclasses import dataclass

# Every reason a decision can carry. The audit log records it; the API's 403 page branches on it.
ALLOWED = "allowed"
USER_DISABLED = "user_disabled"
UNKNOWN_ACTION = "unknown_action"
TARGET_INCOMPLETE = "target_incomplete"
UNKNOWN_CLASSIFICATION = "unknown_classification"
NO_ROLE_PERMITS_ACTION = "no_role_permits_action"
DATASET_OUT_OF_SCOPE = "dataset_out_of_scope"
CLASSIFICATION_ABOVE_CLEARANCE = "classification_above_clearance"
DOCUMENT_TYPE_OUT_OF_SCOPE = "document_type_out_of_scope"
NO_CASE_GRANT = "no_case_grant"
GRANT_EXPIRED = "grant_expired"
GRANT_REVOKED = "grant_revoked"
STEP_UP_REQUIRED = "step_up_required"

REASONS = frozenset(
    {
        ALLOWED,
        USER_DISABLED,
        UNKNOWN_ACTION,
        TARGET_INCOMPLETE,
        UNKNOWN_CLASSIFICATION,
        NO_ROLE_PERMITS_ACTION,
        DATASET_OUT_OF_SCOPE,
        CLASSIFICATION_ABOVE_CLEARANCE,
        DOCUMENT_TYPE_OUT_OF_SCOPE,
        NO_CASE_GRANT,
        GRANT_EXPIRED,
        GRANT_REVOKED,
        STEP_UP_REQUIRED,
    }
)


@dataclass(frozen=True)
class Decision:
    """The answer of ``PolicyEngine.decide``.

    ``role`` is the role that allowed the action (or, for a denial on the case grant, the role whose
    scope did cover the target); ``grant_id`` is the case grant that allowed it, when one was needed.
    """

    allowed: bool
    reason: str
    role: str | None = None
    grant_id: str | None = None

    @classmethod
    def allow(cls, role: str, grant_id: str | None = None) -> Decision:
        """An allow on the basis of ``role`` (and ``grant_id``)."""
        return cls(True, ALLOWED, role, grant_id)

    @classmethod
    def deny(cls, reason: str, role: str | None = None) -> Decision:
        """A denial for ``reason``."""
        return cls(False, reason, role, None)
