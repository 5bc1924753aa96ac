"""Analysis service: authorise, open into the session, analyse, mask for the role, deliver, audit.

For one allowed analysis the audit log reads, in order: ``access.decision`` (allow),
``image.open`` (first use in the session), ``analysis.run``, ``access.decision`` for unmasked
viewing, and ``result.deliver`` with a keyed hash of exactly what was delivered.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections import Counter
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from sealroom.access import Gatekeeper
from sealroom.analysis.registry import EngineRegistry
from sealroom.audit.log import AuditLog
from sealroom.db.models import Image
from sealroom.errors import AnalysisError, SealroomError, SessionEndedError
from sealroom.masking import mask_result
from sealroom.sessions import ActiveSession
from sealroom.vault.service import VaultService


class AnalysisService:
    """Runs analyses for sessions and delivers role-masked results."""

    def __init__(
        self,
        db: sessionmaker[Session],
        gate: Gatekeeper,
        vault: VaultService,
        engines: EngineRegistry,
        audit: AuditLog,
        delivery_hash_key: bytes,
    ) -> None:
        self._db = db
        self._gate = gate
        self._vault = vault
        self._engines = engines
        self._audit = audit
        self._delivery_key = delivery_hash_key

    def analyze(self, actor: ActiveSession, image_id: str, engine_name: str = "local") -> dict[str, Any]:
        """Analyse an image in the actor's session and return the result masked for their role.

        Raises ``NotFoundError`` (missing or out of scope), ``InputError`` (unknown engine),
        ``AnalysisError`` (engine failure, audited), ``AuditUnavailableError``.
        """
        engine = self._engines.get(engine_name)
        with self._db() as db:
            image = db.get(Image, image_id)
            if image is None:
                raise self._gate.missing_image(db, actor, "image:analyze", image_id)
            self._gate.require(db, actor, "image:analyze", image=image)
            db.commit()  # the decision is on record before the (slow) decrypt; no write lock held
            opened = self._vault.open_into_session(db, actor, image)
            db.commit()

            result = opened.results.get(engine.name)
            if result is None:
                started = time.perf_counter()
                try:
                    analysis = engine.analyze(opened.pages)
                except SealroomError as exc:
                    self._record_failure(db, actor, image, engine.name, exc.code)
                    raise
                except Exception as exc:
                    ended = self._vault.session_ended(actor)
                    problem = "session_ended" if ended else type(exc).__name__
                    self._record_failure(db, actor, image, engine.name, problem)
                    if ended:  # the purge took the pages away mid-analysis
                        raise SessionEndedError("the session ended during the analysis") from exc
                    raise AnalysisError(f"the {engine.name} engine failed on this image") from exc
                opened.results[engine.name] = result = analysis
                self._record(
                    db,
                    actor,
                    image,
                    "analysis",
                    "analysis.run",
                    "success",
                    details={
                        "engine": engine.name,
                        "egress": engine.egress,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                        "pages": len(opened.pages),
                        "document_type": result.document_type,
                        "entity_counts": dict(Counter(entity.type for entity in result.entities)),
                    },
                )
                db.commit()

            # A logout, timeout or disabled user while the engine ran: nothing is delivered.
            self._vault.check_session_live(actor)
            unmasked = self._gate.decide(db, actor, "pii:view_unmasked", image=image).allowed
            delivered = mask_result(result, unmasked=unmasked)
            delivered["image_id"] = image.id
            payload = json.dumps(delivered, sort_keys=True, separators=(",", ":")).encode()
            self._record(
                db,
                actor,
                image,
                "delivery",
                "result.deliver",
                "success",
                details={
                    "engine": engine.name,
                    "masked": not unmasked,
                    "bytes": len(payload),
                    "content_hmac": hmac.new(self._delivery_key, payload, hashlib.sha256).hexdigest(),
                },
            )
            db.commit()
            return delivered

    def _record_failure(
        self, db: Session, actor: ActiveSession, image: Image, engine: str, problem: str
    ) -> None:
        self._record(
            db,
            actor,
            image,
            "analysis",
            "analysis.run",
            "failure",
            reason=problem,
            details={"engine": engine},
        )
        db.commit()

    def _record(
        self,
        db: Session,
        actor: ActiveSession,
        image: Image,
        category: str,
        action: str,
        outcome: str,
        *,
        details: dict[str, Any],
        reason: str | None = None,
    ) -> None:
        self._audit.record(
            db,
            category=category,
            action=action,
            outcome=outcome,
            actor=actor.username,
            session_id=actor.id,
            image_id=image.id,
            case_id=image.case_id,
            reason=reason,
            details=details,
        )
