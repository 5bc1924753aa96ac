"""Item (e), compliance review signed off: a recorded sign-off bound to the configuration running now."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from sqlalchemy.orm import Session

from sealroom.readiness.report import Check, Item, passed
from sealroom.readiness.signoff import latest_signoff

TITLE = "Compliance review signed off"
REVIEW_EVERY: Final = timedelta(days=365)
"""A sign-off older than this still binds the configuration, but asks for the yearly review."""
REMEDY = (
    'have the compliance reviewer sign off: sealroom signoff --user NAME --notes "what was reviewed" '
    "(the reviewer signs in; or POST /api/v1/readiness/signoff, or the readiness page, as a holder of "
    "audit:read who does not administer the workspace)"
)


def check_signoff(db: Session, current_sha256: str, now: datetime) -> Item:
    """Item ``e``: the latest sign-off exists, matches the configuration hash, and is under a year old.

    The report says when it was signed and for which hash; not who signed (``sealroom signoff --show``).
    """
    title = "Sign-off recorded for the current configuration"
    latest = latest_signoff(db)
    if latest is None:
        check = Check("e.signoff", title, "fail", "no compliance sign-off is recorded", REMEDY)
    elif latest.config_sha256 != current_sha256:
        check = Check(
            "e.signoff", title, "fail",
            f"the sign-off of {latest.signed_at.date().isoformat()} was for configuration "
            f"{latest.config_sha256[:12]}…; the configuration has changed since (now {current_sha256[:12]}…)",
            "review the changes and sign off again: " + REMEDY,
        )  # fmt: skip
    elif now - latest.signed_at > REVIEW_EVERY:
        check = Check(
            "e.signoff", title, "warn",
            f"the configuration was signed off on {latest.signed_at.date().isoformat()}, over a year ago",
            "repeat the yearly review: " + REMEDY,
        )  # fmt: skip
    else:
        check = passed(
            "e.signoff", title,
            f"signed off on {latest.signed_at.date().isoformat()} for the current configuration "
            f"({current_sha256[:12]}…)",
        )  # fmt: skip
    return Item("e", TITLE, (check,))
