"""Step-up MFA: whether a session's last second-factor check is recent enough for a classification."""

from __future__ import annotations

from datetime import datetime, timedelta

from sealroom.config import Settings


def stale_step_up(
    settings: Settings, classification: str, mfa_verified_at: datetime | None, now: datetime
) -> int | None:
    """The required maximum age in minutes when the session's TOTP check is too old for
    ``classification``; ``None`` when no step-up is needed or the check is fresh enough."""
    minutes = settings.step_up_minutes(classification)
    if minutes is None:
        return None
    if mfa_verified_at is not None and now - mfa_verified_at <= timedelta(minutes=minutes):
        return None
    return minutes


def triggered_by(settings: Settings, entity_types: set[str], document_type: str | None) -> list[str]:
    """What in a pre-scan calls for raising the image's classification (sorted; empty when nothing).

    Entity types match exactly; ``doc:<type>`` marks a triggering document type.
    """
    found = sorted(entity_types & set(settings.step_up.trigger_entities))
    if document_type is not None and document_type in settings.step_up.trigger_document_types:
        found.append(f"doc:{document_type}")
    return found
