"""Export requests and their single delivery: the only path by which pixels leave the workspace.

A user who may analyse an image asks for an export of it (``request_export``): a PNG (single-page
images) or a PDF, ``redacted`` (the default) or ``original`` (only where the data set allows it, and
always with two approvals). Approvers decide it through ``RequestService``; the approval opens a
delivery window of ``export.window_minutes``. Within it the requester — nobody else — downloads it
once (``deliver``): a redacted export is rendered in memory with the personal data and faces burned
out and a visible watermark naming the requester, the time and the request; an original export is the
decrypted file exactly as ingested.

Audit: ``access.request.submit`` for a new request (with ``access.decision`` records for the checks
before it); ``delivery.export`` success with the SHA-256 of exactly the bytes handed over, or
failure with a reason code for every refusal.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from sealroom.access import Gatekeeper, printable
from sealroom.analysis.dicom_deid import deidentify, text_boxes
from sealroom.analysis.dicom_phi import is_dicom
from sealroom.analysis.models import AnalysisResult
from sealroom.analysis.orientation import orient_for_redaction
from sealroom.analysis.prescan import full_analysis, needs_prescan, raise_by_findings
from sealroom.analysis.registry import EngineRegistry
from sealroom.audit.log import AuditLog
from sealroom.clock import Clock
from sealroom.config import Settings
from sealroom.db.models import AccessRequest, Image, RequestReview
from sealroom.errors import (
    AccessDeniedError,
    AuditUnavailableError,
    ConflictError,
    GoneError,
    InputError,
    NotFoundError,
    SealroomError,
    SessionEndedError,
)
from sealroom.exports.render import ExportFormat, Watermark, render_export
from sealroom.material import OpenedImage
from sealroom.sessions import ActiveSession, new_id
from sealroom.statements import clean_statement
from sealroom.vault.service import VaultService

FORMATS: tuple[ExportFormat, ...] = ("png", "pdf", "dcm")
ExportVariant = Literal["redacted", "original"]
VARIANTS: tuple[ExportVariant, ...] = ("redacted", "original")
MAX_REASON = 1000
NO_SUCH_REQUEST = "No export request with that id is yours; only its requester can download an export."
EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/tiff": "tif",
    "application/pdf": "pdf",
    "application/dicom": "dcm",
}
MEDIA_TYPES: dict[ExportFormat, str] = {
    "png": "image/png",
    "pdf": "application/pdf",
    "dcm": "application/dicom",
}


@dataclass(frozen=True)
class ExportFile:
    """One delivered export: the bytes, their type, a safe file name, their SHA-256 and page count."""

    data: bytes
    media_type: str
    filename: str
    sha256: str
    pages: int


@dataclass(frozen=True)
class _Rendered:
    data: bytes
    media_type: str
    extension: str
    pages: int
    watermark: bool
    redaction: dict[str, Any] | None


def request_view(request: AccessRequest) -> dict[str, Any]:
    """An export request as shown to its requester (the free-text reason is not echoed)."""
    return {
        "id": request.id,
        "kind": request.kind,
        "status": request.status,
        "image_id": request.image_id,
        "case_id": request.case_id,
        "dataset": request.dataset,
        "format": request.export_format,
        "variant": request.export_variant,
        "approvals_required": request.approvals_required,
        "window_minutes": request.duration_minutes,
        "created_at": request.created_at.isoformat(),
        "expires_at": request.expires_at.isoformat(),
        "access_expires_at": request.access_expires_at.isoformat() if request.access_expires_at else None,
    }


class ExportService:
    """Creates export requests and delivers approved ones exactly once."""

    def __init__(
        self,
        db: sessionmaker[Session],
        settings: Settings,
        clock: Clock,
        audit: AuditLog,
        gate: Gatekeeper,
        vault: VaultService,
        engines: EngineRegistry,
    ) -> None:
        self._db = db
        self._settings = settings
        self._clock = clock
        self._audit = audit
        self._gate = gate
        self._vault = vault
        self._engines = engines

    # --- request ------------------------------------------------------------------------------------

    def request_export(
        self, actor: ActiveSession, image_id: str, *, fmt: str, variant: str, reason: str
    ) -> AccessRequest:
        """Ask for an export of an image the actor may analyse; it waits for approval.

        ``fmt`` is ``png`` (single-page images only) or ``pdf``; ``variant`` is ``redacted`` or
        ``original`` (only where the data set's ``export_original`` is on; needs two approvals).
        Raises ``InputError`` (bad format, variant or reason; png for a multi-page image),
        ``NotFoundError`` (missing or out of scope), ``AccessDeniedError`` (original not allowed,
        reason ``original_export_not_allowed``). Audit: ``access.decision``, ``access.request.submit``.
        """
        checked_format, checked_variant = _checked_choice(fmt, variant)
        reason = clean_statement(reason, what="reason for the export", maximum=MAX_REASON)
        with self._db() as db:
            image = db.get(Image, image_id)
            if image is None:
                raise self._gate.missing_image(db, actor, "image:analyze", image_id)
            self._gate.require(db, actor, "image:analyze", image=image)
            if checked_format == "png" and image.page_count != 1:
                db.commit()
                raise InputError(f"this image has {image.page_count} pages; export it as pdf")
            if checked_format == "dcm" and not is_dicom(image.media_type):
                db.commit()
                raise InputError(
                    "a dcm export is a de-identified DICOM file, made only from DICOM images; export this "
                    "image as png or pdf"
                )
            dataset = self._settings.datasets.get(image.dataset)
            if checked_variant == "original":
                self._require_original_allowed(db, actor, image)
            approvals = 2 if checked_variant == "original" else (dataset.approvals_required if dataset else 2)
            now = self._clock.now()
            request = AccessRequest(
                id=new_id(),
                kind="export",
                requester_id=actor.user_id,
                requester=actor.username,
                dataset=image.dataset,
                case_id=image.case_id,
                image_id=image.id,
                export_format=checked_format,
                export_variant=checked_variant,
                reason=reason,
                duration_minutes=self._settings.export.window_minutes,
                approvals_required=approvals,
                status="pending",
                created_at=now,
                expires_at=now + timedelta(hours=self._settings.access.request_pending_hours),
            )
            db.add(request)
            self._audit.record(
                db,
                category="access",
                action="access.request.submit",
                outcome="success",
                actor=actor.username,
                session_id=actor.id,
                image_id=image.id,
                case_id=image.case_id,
                details={
                    "request_id": request.id,
                    "kind": "export",
                    "format": checked_format,
                    "variant": checked_variant,
                    "approvals_required": approvals,
                    "reason_chars": len(reason),
                },
            )
            db.commit()
            return request

    def _require_original_allowed(self, db: Session, actor: ActiveSession, image: Image) -> None:
        """Refuse (audited, committed) an original export where the data set does not allow one, or
        for a role that may not see personal data unmasked (the original shows it all)."""
        dataset = self._settings.datasets.get(image.dataset)
        if dataset is not None and dataset.export_original:
            if not self._gate.decide(db, actor, "pii:view_unmasked", image=image).allowed:
                db.commit()
                raise AccessDeniedError(
                    "an original shows every personal detail unmasked, and your role may not see them "
                    "(pii:view_unmasked); ask for the redacted variant",
                    reason="original_needs_unmasked_view",
                )
            return
        self._audit.record(
            db,
            category="access",
            action="access.decision",
            outcome="deny",
            actor=actor.username,
            session_id=actor.id,
            image_id=image.id,
            case_id=image.case_id,
            reason="original_export_not_allowed",
            details={"requested": "image:export", "variant": "original", "dataset": printable(image.dataset)},
        )
        db.commit()
        raise AccessDeniedError(
            f"data set {image.dataset!r} does not allow exporting original files (export_original is "
            "off); ask for the redacted variant",
            reason="original_export_not_allowed",
        )

    # --- delivery -----------------------------------------------------------------------------------

    def deliver(self, actor: ActiveSession, request_id: str) -> ExportFile:
        """Render and hand over an approved export, once, to its requester.

        Raises ``NotFoundError`` (no such request of the actor's, or the image is out of their scope
        now), ``ConflictError`` (still awaiting approval), ``AccessDeniedError`` (denied or
        cancelled), ``GoneError`` (delivered already, window passed or expired), the gatekeeper's
        errors (e.g. ``StepUpRequiredError``), ``AnalysisError`` (redaction failed: nothing is
        delivered), ``SessionEndedError``. Every refusal is audited as ``delivery.export`` failure;
        success as ``delivery.export`` with the SHA-256 of the returned bytes.
        """
        with self._db() as db:
            image: Image | None = None
            try:
                request = self._deliverable(db, actor, request_id)
                image = db.get(Image, request.image_id or "")
                if image is None:  # shredded by retention since the approval
                    raise GoneError("the image of this export is no longer stored", reason="image_gone")
                self._gate.require(db, actor, "image:analyze", image=image)
                if request.export_variant == "original":
                    self._require_original_allowed(db, actor, image)
                db.commit()  # the decisions are on record before the (slow) decrypt and render
                opened = self._vault.open_into_session(db, actor, image)
                db.commit()
                redacted = request.export_variant == "redacted"
                local: AnalysisResult | None = None
                # An original is checked for content too: what it turns out to be decides who may take it.
                if redacted or needs_prescan(self._settings, image):
                    local = full_analysis(db, self._audit, self._engines, actor, image, opened, "export")
                    if raise_by_findings(db, self._audit, self._settings, actor, image, local):
                        # Decided again at the new level: clearance and a fresh second factor.
                        self._gate.require(db, actor, "image:analyze", image=image)
                        db.commit()
                rendered = self._render(actor, image, request, opened, local if redacted else None)
                # A logout, timeout or disabled user during the render: nothing is delivered.
                self._vault.check_session_live(actor)
                return self._claim(db, actor, image, request, rendered)
            except AuditUnavailableError:
                raise
            except SealroomError as exc:
                # No rollback: an approved request found past its window is marked expired with this
                # record. Nothing else is pending here (each step above commits its own changes).
                self._record_refusal(db, actor, request_id, image, exc)
                raise

    def _deliverable(self, db: Session, actor: ActiveSession, request_id: str) -> AccessRequest:
        """The actor's approved export request, or the error saying why it cannot be delivered."""
        request = db.get(AccessRequest, request_id)
        if request is None or request.kind != "export":
            raise NotFoundError(NO_SUCH_REQUEST, reason="not_found")
        if request.requester_id != actor.user_id:
            raise NotFoundError(NO_SUCH_REQUEST, reason="not_requester")
        now = self._clock.now()
        status = request.status
        if status == "pending":
            if request.expires_at <= now:
                raise GoneError("the export request expired undecided; ask again", reason="expired")
            approvals = db.scalar(
                select(func.count())
                .select_from(RequestReview)
                .where(RequestReview.request_id == request.id, RequestReview.decision == "approve")
            )
            raise ConflictError(
                f"awaiting approval: {approvals or 0} of {request.approvals_required}; "
                "download it once it is approved",
                reason="awaiting_approval",
            )
        if status in ("denied", "cancelled"):
            raise AccessDeniedError(f"this export request was {status}; it cannot be delivered",
                                    reason=f"request_{status}")  # fmt: skip
        if status == "delivered":
            when = request.used_at.isoformat() if request.used_at else "an earlier time"
            raise GoneError(
                f"already delivered at {when}; exports are delivered once. Ask for a new export if you "
                "need it again",
                reason="already_delivered",
            )
        if status == "approved" and request.access_expires_at is not None and request.access_expires_at > now:
            return request
        if status == "approved":
            self._expire(db, request)
        elif request.decided_at is None:
            raise GoneError("the export request expired undecided; ask again", reason="expired")
        raise GoneError(
            "the delivery window of this export has passed; ask for a new export", reason="window_passed"
        )

    def _expire(self, db: Session, request: AccessRequest) -> None:
        """Mark an approved export whose window passed as expired, recorded as the request service's
        maintenance pass records it (whichever of the two gets there first writes the record)."""
        won = cast(
            CursorResult[Any],
            db.execute(
                update(AccessRequest)
                .where(AccessRequest.id == request.id, AccessRequest.status == "approved")
                .values(status="expired")
                .execution_options(synchronize_session=False)
            ),
        ).rowcount
        if won:
            self._audit.record(
                db, category="access", action="access.request.expire", outcome="success", actor="system",
                case_id=request.case_id, image_id=request.image_id,
                details={"request_id": request.id, "kind": request.kind, "phase": "delivery_window_passed",
                         "requester": request.requester},
            )  # fmt: skip

    def _render(
        self,
        actor: ActiveSession,
        image: Image,
        request: AccessRequest,
        opened: OpenedImage,
        local: AnalysisResult | None,
    ) -> _Rendered:
        """The export's bytes: the original file, or the pages redacted from ``local`` (the offline
        analysis of ``opened``) and watermarked."""
        if local is None:
            return _Rendered(
                data=bytes(opened.plaintext),
                media_type=image.media_type,
                extension=EXTENSIONS.get(image.media_type, "bin"),
                pages=image.page_count,
                watermark=False,
                redaction=None,
            )
        fmt = cast(ExportFormat, request.export_format)
        if fmt == "dcm":
            return self._render_dicom(actor, image, request, opened, local)
        try:
            from sealroom.redaction import redact  # OpenCV loads only when needed

            oriented = orient_for_redaction(opened.pages, local, self._engines.get("local"))
            redaction = redact(oriented.pages, oriented.analysis)
            mark = Watermark(actor.username, self._clock.now(), request.id)
            pdf = image.media_type == "application/pdf"
            resolution = float(self._settings.limits.pdf_render_dpi) if pdf else 150.0
            data = render_export(redaction.pages, redaction.regions, mark, fmt, resolution=resolution)
        except SealroomError:
            raise
        except Exception as exc:
            if self._vault.session_ended(actor):  # the purge took the pages away mid-render
                raise SessionEndedError("the session ended while the export was being prepared") from exc
            raise SealroomError("the export could not be rendered; nothing was delivered",
                                reason="render_failed") from exc  # fmt: skip
        summary = redaction.summary()
        if oriented.rotations:
            summary["rotated_pages"] = {str(index + 1): angle for index, angle in oriented.rotations.items()}
        return _Rendered(data, MEDIA_TYPES[fmt], fmt, len(redaction.pages), True, summary)

    def _render_dicom(
        self,
        actor: ActiveSession,
        image: Image,
        request: AccessRequest,
        opened: OpenedImage,
        local: AnalysisResult,
    ) -> _Rendered:
        """A redacted DICOM export: the de-identified derivative (PS3.15 basic profile, every text box
        the offline OCR found filled in the pixels) with the watermark burned into a band below each
        frame (docs/dicom.md)."""
        mark = Watermark(actor.username, self._clock.now(), request.id)
        try:
            derivative = deidentify(
                bytes(opened.plaintext), text_boxes(local), self._settings.limits, watermark=mark.label()
            )
        except SealroomError:
            raise
        except Exception as exc:
            if self._vault.session_ended(actor):
                raise SessionEndedError("the session ended while the export was being prepared") from exc
            raise SealroomError("the export could not be rendered; nothing was delivered",
                                reason="render_failed") from exc  # fmt: skip
        return _Rendered(
            derivative.data, MEDIA_TYPES["dcm"], "dcm", derivative.frames, True, derivative.summary()
        )

    def _claim(
        self, db: Session, actor: ActiveSession, image: Image, request: AccessRequest, rendered: _Rendered
    ) -> ExportFile:
        """Mark the request delivered and audit the delivery in one transaction; only one caller wins
        (two downloads racing both render, but the row moves out of ``approved`` once)."""
        now = self._clock.now()
        digest = hashlib.sha256(rendered.data).hexdigest()
        claimed = cast(
            CursorResult[Any],
            db.execute(
                update(AccessRequest)
                .where(
                    AccessRequest.id == request.id,
                    AccessRequest.status == "approved",
                    AccessRequest.used_at.is_(None),
                    AccessRequest.access_expires_at > now,
                )
                .values(status="delivered", used_at=now, delivery_sha256=digest)
                .execution_options(synchronize_session=False)
            ),
        )
        if claimed.rowcount != 1:
            db.rollback()
            raise GoneError(
                "this export was delivered or expired while it was being prepared; exports are "
                "delivered once",
                reason="already_delivered",
            )
        details: dict[str, Any] = {
            "request_id": request.id,
            "format": request.export_format,
            "variant": request.export_variant,
            "media_type": rendered.media_type,
            "bytes": len(rendered.data),
            "sha256": digest,
            "pages": rendered.pages,
            "watermark": rendered.watermark,
        }
        if rendered.redaction is not None:
            details["redaction"] = rendered.redaction
        self._audit.record(
            db,
            category="delivery",
            action="delivery.export",
            outcome="success",
            actor=actor.username,
            session_id=actor.id,
            image_id=image.id,
            case_id=image.case_id,
            details=details,
        )
        db.commit()
        return ExportFile(
            data=rendered.data,
            media_type=rendered.media_type,
            filename=f"sealroom-export-{request.id}.{rendered.extension}",
            sha256=digest,
            pages=rendered.pages,
        )

    def _record_refusal(
        self, db: Session, actor: ActiveSession, request_id: str, image: Image | None, error: SealroomError
    ) -> None:
        self._audit.record(
            db,
            category="delivery",
            action="delivery.export",
            outcome="failure",
            actor=actor.username,
            session_id=actor.id,
            image_id=image.id if image is not None else None,
            case_id=image.case_id if image is not None else None,
            reason=error.reason,
            details={"request_id": printable(request_id, 64)},
        )
        db.commit()


def _checked_choice(fmt: str, variant: str) -> tuple[ExportFormat, ExportVariant]:
    if fmt not in FORMATS:
        raise InputError(f"unknown export format {printable(fmt, 32)!r}; choose one of: {', '.join(FORMATS)}")
    if variant not in VARIANTS:
        raise InputError(
            f"unknown export variant {printable(variant, 32)!r}; choose one of: {', '.join(VARIANTS)}"
        )
    return fmt, variant
