"""Analysis service: authorise, open into the session, analyse, mask for the role, deliver, audit.

For one allowed analysis the audit log reads, in order: ``access.decision`` (allow),
``image.open`` (first use in the session), ``analysis.run``, ``access.decision`` for unmasked
viewing, and ``result.deliver`` with a keyed hash of exactly what was delivered. An external engine
adds, before ``image.open``, ``access.decision`` for ``image:egress``, and around each request it
sends ``egress.release`` (before) and ``analysis.external_call`` (after).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy.orm import Session, sessionmaker

from sealroom.access import Gatekeeper
from sealroom.analysis.dicom_deid import derivative_pages
from sealroom.analysis.dicom_phi import is_dicom, with_header_phi
from sealroom.analysis.egress_observer import AuditingObserver
from sealroom.analysis.models import AnalysisEngine, AnalysisResult, AnalysisTask, Entity, PageImage
from sealroom.analysis.orientation import orient_for_redaction
from sealroom.analysis.output_pii import TextDetector, mark_output_pii
from sealroom.analysis.prescan import (
    cache_key,
    cached_full_analysis,
    full_analysis,
    needs_prescan,
    raise_by_findings,
)
from sealroom.analysis.registry import EngineRegistry
from sealroom.audit.log import AuditLog
from sealroom.db.models import Image
from sealroom.egress import EgressDecision
from sealroom.errors import (
    AnalysisError,
    ConfigError,
    EngineUnavailableError,
    InputError,
    SealroomError,
    SessionEndedError,
)
from sealroom.masking import mask_result
from sealroom.material import OpenedImage
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

    def analyze(
        self,
        actor: ActiveSession,
        image_id: str,
        engine_name: str = "local",
        task: AnalysisTask | None = None,
    ) -> dict[str, Any]:
        """Run ``task`` on an image in the actor's session; return the result masked for their role.

        An external engine first needs the image's egress policy to allow it (decided and audited
        before anything is decrypted); under ``redacted`` the offline engine's findings and faces are
        burned out of the pixels before they are sent.

        Raises ``NotFoundError`` (missing or out of scope), ``InputError`` (unknown engine),
        ``AccessDeniedError`` (egress refused), ``AnalysisError`` (engine failure, audited),
        ``AuditUnavailableError``.
        """
        task = task or AnalysisTask()
        engine = self._engines.get(engine_name)
        external = engine.egress != "none"
        with self._db() as db:
            image = db.get(Image, image_id)
            if image is None:
                raise self._gate.missing_image(db, actor, "image:analyze", image_id)
            self._gate.require(db, actor, "image:analyze", image=image)
            db.commit()  # the decision is on record before the (slow) decrypt; no write lock held
            egress = self._gate.require_egress(db, actor, image, engine.info()) if external else None
            if egress is not None:
                self._preflight(db, actor, image, engine, task, egress)
            opened = self._vault.open_into_session(db, actor, image)
            db.commit()
            if self._raise_by_prescan(db, actor, image, opened):
                # Decided again at the new level: clearance, a fresh second factor, egress ceilings.
                self._gate.require(db, actor, "image:analyze", image=image)
                egress = self._gate.require_egress(db, actor, image, engine.info()) if external else None
                db.commit()

            key = cache_key(engine.name, egress.mode if egress else None, task)
            result = opened.results.get(key)
            if result is None:
                result = self._run(db, actor, image, opened, engine, task, egress)
                opened.results[key] = result

            # A logout, timeout or disabled user while the engine ran: nothing is delivered.
            self._vault.check_session_live(actor)
            unmasked = self._gate.may_see_unmasked(db, actor, image)
            # DICOM: the header's PHI is reported too (and masked like the rest).
            reported = with_header_phi(result, image.media_type, opened.plaintext, self._gate.settings.limits)
            delivered = mask_result(reported, unmasked=unmasked)
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
                    "task": task.kind,
                    "masked": not unmasked,
                    "bytes": len(payload),
                    "content_hmac": hmac.new(self._delivery_key, payload, hashlib.sha256).hexdigest(),
                },
            )
            db.commit()
            return delivered

    def _run(
        self,
        db: Session,
        actor: ActiveSession,
        image: Image,
        opened: OpenedImage,
        engine: AnalysisEngine,
        task: AnalysisTask,
        egress: EgressDecision | None,
    ) -> AnalysisResult:
        """Run the engine (after redaction when egress requires it) and audit ``analysis.run``."""
        started = time.perf_counter()
        pages: Sequence[PageImage] = opened.pages
        observer: AuditingObserver | None = None
        known: list[Entity] = []
        details: dict[str, Any] = {"engine": engine.name, "egress": engine.egress, "task": task.kind}
        try:
            if egress is not None:
                pages, known = self._outbound_pages(db, actor, image, opened, engine, task, egress, details)
                observer = AuditingObserver(self._audit, db, actor, image, egress, details.get("redaction"))
                details["egress_mode"] = egress.mode
            result = engine.analyze(pages, task, observer=observer)
            if egress is not None:
                mark_output_pii(result, self._text_detector(), known)
        except SealroomError as exc:
            self._record_failure(db, actor, image, details, exc.reason)
            raise
        except Exception as exc:
            ended = self._vault.session_ended(actor)
            self._record_failure(db, actor, image, details, "session_ended" if ended else type(exc).__name__)
            if ended:  # the purge took the pages away mid-analysis
                raise SessionEndedError("the session ended during the analysis") from exc
            raise AnalysisError(f"the {engine.name} engine failed on this image") from exc
        details.update(
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
            pages=len(opened.pages),
            document_type=result.document_type,
            entity_counts=dict(Counter(entity.type for entity in result.entities)),
        )
        if task.schema_name:
            details["schema"] = task.schema_name
        if observer is not None:
            details["external_calls"] = len(observer.calls)
        self._record(db, actor, image, "analysis", "analysis.run", "success", details=details)
        db.commit()
        return result

    def _outbound_pages(
        self,
        db: Session,
        actor: ActiveSession,
        image: Image,
        opened: OpenedImage,
        engine: AnalysisEngine,
        task: AnalysisTask,
        egress: EgressDecision,
        details: dict[str, Any],
    ) -> tuple[Sequence[PageImage], list[Entity]]:
        """The pages an external engine may receive (redacted when egress says so) and the personal
        data known to be on them (for masking the reply). Adds the redaction summary to ``details``."""
        redacted = egress.mode == "redacted"
        if redacted:
            self._check_question(task)  # again: the pre-scan may have made the mode stricter
        local = self._local_findings(db, actor, image, opened, required=redacted)
        if not redacted:
            return opened.pages, list(local.entities) if local is not None else []
        from sealroom.redaction import redact  # OpenCV loads only when needed

        assert local is not None
        source = opened.pages
        if is_dicom(image.media_type):  # DICOM sends the de-identified derivative's pixels (docs/dicom.md)
            source = derivative_pages(bytes(opened.plaintext), local, self._gate.settings.limits)
        oriented = orient_for_redaction(source, local, self._engines.get("local"))
        redaction = redact(oriented.pages, oriented.analysis)
        details["redaction"] = redaction.summary()
        if oriented.rotations:
            details["redaction"]["rotated_pages"] = {
                str(index + 1): angle for index, angle in oriented.rotations.items()
            }
        return redaction.pages, list(oriented.analysis.entities)

    def _preflight(
        self,
        db: Session,
        actor: ActiveSession,
        image: Image,
        engine: AnalysisEngine,
        task: AnalysisTask,
        egress: EgressDecision,
    ) -> None:
        """What can refuse an external analysis before anything is decrypted or scanned: a missing or
        unsafe credential, and under ``redacted`` a question naming personal data. Audited as a failed
        ``analysis.run``."""
        try:
            check_ready = getattr(engine, "check_ready", None)
            if check_ready is not None:
                try:
                    check_ready()
                except ConfigError as exc:  # e.g. a key file others can read: the caller gets 503
                    raise EngineUnavailableError(exc.message, reason="engine_misconfigured") from exc
            if egress.mode == "redacted":
                self._check_question(task)
        except SealroomError as exc:
            details = {
                "engine": engine.name,
                "egress": engine.egress,
                "task": task.kind,
                "egress_mode": egress.mode,
            }
            self._record_failure(db, actor, image, details, exc.reason)
            raise

    def _raise_by_prescan(self, db: Session, actor: ActiveSession, image: Image, opened: OpenedImage) -> bool:
        """Raise the image's classification when the offline engine's pre-scan finds what
        ``[step_up]`` names; whether it was raised. Only images below ``raise_to`` are scanned; the
        scan is the full analysis kept in the session, so a local analysis costs nothing more."""
        settings = self._gate.settings
        if not needs_prescan(settings, image):
            return False
        findings = self._local_findings(db, actor, image, opened, required=True, purpose="pre-scan")
        assert findings is not None
        return raise_by_findings(db, self._audit, settings, actor, image, findings)

    def _local_findings(
        self,
        db: Session,
        actor: ActiveSession,
        image: Image,
        opened: OpenedImage,
        *,
        required: bool,
        purpose: str = "redaction",
    ) -> AnalysisResult | None:
        """The offline engine's full analysis of the image: from the session, or run now (audited)
        when ``required`` (redaction and the pre-scan need it)."""
        if not required:
            return cached_full_analysis(opened)
        return full_analysis(db, self._audit, self._engines, actor, image, opened, purpose)

    def _check_question(self, task: AnalysisTask) -> None:
        """Under ``redacted`` the question leaves too: it may not carry what redaction removes."""
        if task.question is None:
            return
        found = sorted({entity.type for entity in self._text_detector()(task.question)})
        if found:
            raise InputError(
                f"the question contains personal data ({', '.join(found)}); this image's pages are sent "
                "redacted, so the question may not name what was burned out. Ask without it.",
                reason="question_has_pii",
            )

    def _text_detector(self) -> TextDetector:
        local = self._engines.get("local")
        detect = getattr(local, "analyze_text", None)
        if detect is None:
            raise AnalysisError("the offline engine cannot check the model's reply for personal data")
        return cast(TextDetector, detect)

    def _record_failure(
        self, db: Session, actor: ActiveSession, image: Image, details: dict[str, Any], problem: str
    ) -> None:
        self._record(db, actor, image, "analysis", "analysis.run", "failure", reason=problem, details=details)
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
