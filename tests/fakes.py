"""Hand-written fakes shared by unit tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from sealroom.errors import AuditUnavailableError


@dataclass
class FakeAudit:
    """Records every call; set ``fail`` to make it behave like an unwritable audit log."""

    events: list[dict[str, Any]] = field(default_factory=list)
    fail: bool = False

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
    ) -> None:
        if self.fail:
            raise AuditUnavailableError("the audit log cannot be written")
        self.events.append(
            {
                "category": category,
                "action": action,
                "outcome": outcome,
                "actor": actor,
                "session_id": session_id,
                "image_id": image_id,
                "case_id": case_id,
                "reason": reason,
                "details": dict(details or {}),
            }
        )

    def of(self, action: str) -> list[dict[str, Any]]:
        return [event for event in self.events if event["action"] == action]
