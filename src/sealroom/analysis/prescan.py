"""The offline engine's full analysis of an opened image, shared by every use inside a session, and
the step-up pre-scan that raises an image's classification by what that analysis finds.

Analysis, redaction before egress and export rendering all need the same full analysis; it is run once
per session and image, kept with the image's other results, and each run is audited.
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy.orm import Session

from sealroom.analysis.models import AnalysisResult, AnalysisTask
from sealroom.analysis.registry import EngineRegistry
from sealroom.audit.log import AuditLog
from sealroom.config import Settings
from sealroom.db.models import Image
from sealroom.errors import AnalysisError
from sealroom.material import OpenedImage
from sealroom.policy.stepup import triggered_by
from sealroom.sessions import ActiveSession


def cache_key(engine: str, egress_mode: str | None, task: AnalysisTask) -> str:
    """Where a result is kept in the session: per engine, egress mode and task."""
    return f"{engine}/{egress_mode or 'in-process'}/{task.cache_key()}"


FULL_ANALYSIS_KEY = cache_key("local", None, AnalysisTask())
"""The cache entry of the offline engine's full analysis (a local ``describe``)."""


def cached_full_analysis(opened: OpenedImage) -> AnalysisResult | None:
    """The offline engine's full analysis of ``opened`` if the session has it already."""
    return opened.results.get(FULL_ANALYSIS_KEY)


def full_analysis(
    db: Session,
    audit: AuditLog,
    engines: EngineRegistry,
    actor: ActiveSession,
    image: Image,
    opened: OpenedImage,
    purpose: str,
) -> AnalysisResult:
    """The offline engine's full analysis of the opened image: from the session, or run now and
    audited (``analysis.run`` with ``purpose``). A failure is an ``AnalysisError`` naming the purpose."""
    cached = cached_full_analysis(opened)
    if cached is not None:
        return cached
    try:
        result = engines.get("local").analyze(opened.pages)
    except Exception as exc:
        audit.record(
            db, category="analysis", action="analysis.run", outcome="failure", actor=actor.username,
            session_id=actor.id, image_id=image.id, case_id=image.case_id, reason=type(exc).__name__,
            details={"engine": "local", "egress": "none", "task": "describe", "purpose": purpose},
        )  # fmt: skip
        db.commit()
        raise AnalysisError(
            f"the offline engine's {purpose} of the image failed, so nothing was analysed, sent or delivered",
            reason=f"{purpose.replace('-', '_')}_failed",
        ) from exc
    opened.results[FULL_ANALYSIS_KEY] = result
    audit.record(
        db, category="analysis", action="analysis.run", outcome="success", actor=actor.username,
        session_id=actor.id, image_id=image.id, case_id=image.case_id,
        details={"engine": "local", "egress": "none", "task": "describe", "purpose": purpose,
                 "pages": len(opened.pages), "document_type": result.document_type,
                 "entity_counts": dict(Counter(entity.type for entity in result.entities))},
    )  # fmt: skip
    db.commit()
    return result


def needs_prescan(settings: Settings, image: Image) -> bool:
    """Whether the image is below ``step_up.raise_to`` and so may be raised by what it contains."""
    target = settings.step_up.raise_to
    rank = settings.classification_rank
    return target is not None and rank(image.classification) < rank(target)


def raise_by_findings(
    db: Session,
    audit: AuditLog,
    settings: Settings,
    actor: ActiveSession,
    image: Image,
    findings: AnalysisResult,
) -> bool:
    """Raise the image to ``step_up.raise_to`` when ``findings`` hold what ``[step_up]`` names (an
    identity document, card numbers...); whether it was raised. Audit: ``image.reclassify``.

    The caller decides access again afterwards: clearance, a fresh second factor and egress ceilings
    are those of the new level.
    """
    target = settings.step_up.raise_to
    if target is None or not needs_prescan(settings, image):
        return False
    triggers = triggered_by(settings, {entity.type for entity in findings.entities}, findings.document_type)
    if not triggers:
        return False
    previous, image.classification = image.classification, target
    audit.record(
        db, category="image", action="image.reclassify", outcome="success", actor=actor.username,
        session_id=actor.id, image_id=image.id, case_id=image.case_id,
        details={"from": previous, "to": target, "triggers": triggers, "by": "pre-scan"},
    )  # fmt: skip
    db.commit()
    return True
