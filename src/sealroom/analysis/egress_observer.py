"""The audit side of egress: a ``CallObserver`` that records every external request.

Before a request leaves, ``egress.release`` is committed with the exact manifest (per image: page,
size in pixels and bytes, SHA-256) and what was redacted; if that record cannot be written, the
request is not sent. After it ends, ``analysis.external_call`` records the same manifest with the
request body's size and SHA-256, token usage, latency, attempts and outcome.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy.orm import Session

from sealroom.analysis.models import CallRecord, OutboundRequest
from sealroom.audit.log import AuditLog
from sealroom.db.models import Image
from sealroom.egress import EgressDecision
from sealroom.sessions import ActiveSession


class AuditingObserver:
    """Records each external request of one analysis in the audit log."""

    def __init__(
        self,
        audit: AuditLog,
        db: Session,
        actor: ActiveSession,
        image: Image,
        egress: EgressDecision,
        redaction: dict[str, Any] | None,
    ) -> None:
        self._audit = audit
        self._db = db
        self._actor = actor
        self._image = image
        self._egress = egress
        self._redaction = redaction
        self.calls: list[CallRecord] = []

    def before_send(self, request: OutboundRequest) -> None:
        """Commit the release record; raises ``AuditUnavailableError`` (nothing sent) if it fails."""
        self._record("access", "egress.release", "allow", None, self._manifest(request))

    def after_call(self, record: CallRecord) -> None:
        """Record how the request ended."""
        self.calls.append(record)
        details = self._manifest(record.request)
        details.update(
            attempts=record.attempts,
            latency_ms=record.latency_ms,
            http_status=record.status,
            sent_bytes=record.sent_bytes,
            sent_sha256=record.sent_sha256,
            usage={"input_tokens": record.input_tokens, "output_tokens": record.output_tokens},
        )
        self._record("analysis", "analysis.external_call", record.outcome, record.reason, details)

    def _manifest(self, request: OutboundRequest) -> dict[str, Any]:
        return {
            "engine": request.engine,
            "provider": request.provider,
            "endpoint_host": request.host,
            "model": request.model,
            "purpose": request.purpose,
            "egress": self._egress.mode,
            "images": [asdict(image) for image in request.images],
            "total_image_bytes": sum(image.bytes for image in request.images),
            "prompt_chars": request.prompt_chars,
            "redaction": self._redaction if request.images else None,
        }

    def _record(
        self, category: str, action: str, outcome: str, reason: str | None, details: dict[str, Any]
    ) -> None:
        self._audit.record(
            self._db,
            category=category,
            action=action,
            outcome=outcome,
            actor=self._actor.username,
            session_id=self._actor.id,
            image_id=self._image.id,
            case_id=self._image.case_id,
            reason=reason,
            details=details,
        )
        self._db.commit()
