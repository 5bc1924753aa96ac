"""Ports the identity and policy services depend on (implemented elsewhere, faked in tests)."""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy.orm import Session


class AuditSink(Protocol):
    """Where services write audit records: the hash-chained audit log in production.

    ``record`` appends one event inside the caller's transaction on ``db`` (so the event commits or
    rolls back together with the change it describes) and raises ``AuditUnavailableError`` when the
    event cannot be written; callers let that propagate, so the action is refused. Events carry ids
    and keyed hashes only: never passwords, TOTP codes, secrets or pixels.
    """

    def record(
        self,
        db: Session,
        *,
        category: str,
        action: str,
        outcome: str,
        actor: str,
        session_id: str | None = None,
        image_id: str | None = None,
        case_id: str | None = None,
        reason: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> object:
        """Append one audit event in ``db``'s transaction; raises ``AuditUnavailableError`` on failure."""
        ...
