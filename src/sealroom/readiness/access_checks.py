"""Item (b), access control enforceable: roles scoped, no wildcard grants, MFA where it matters, step-up.

Default deny makes an unscoped role harmless but useless, which in a review means nobody thought about
who it is for; so it fails, as does anything that looks like a wildcard. Users are counted, never named
(the remedy points at ``sealroom user list``, which shows each account's MFA state to the operator).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from sealroom.config import RoleSettings, Settings
from sealroom.db.models import Grant, User
from sealroom.policy.engine import APPROVAL_ACTIONS, IMAGE_ACTIONS, INGEST_ACTIONS
from sealroom.policy.grants import CASE_ID_PATTERN
from sealroom.readiness.report import Check, Item, passed

TITLE = "Access control enforceable"
SCOPED_ACTIONS: Final = IMAGE_ACTIONS | INGEST_ACTIONS | APPROVAL_ACTIONS
CONTENT_ACTIONS: Final = frozenset({"image:analyze", "pii:view_unmasked"})
WILDCARD_CHARS: Final = frozenset("*?%[]")
MAX_STEP_UP_MINUTES: Final = 60
"""A second-factor check older than this is hardly a step-up for the most sensitive level."""


def check_access(db: Session, settings: Settings, now: datetime, *extra: Check) -> Item:
    """Item ``b``: roles, grants, MFA enrolment and step-up (and ``extra`` checks made elsewhere)."""
    return Item(
        "b",
        TITLE,
        (
            _roles(settings),
            _grants(db, settings, now),
            _mfa(db, settings),
            _duties(db, settings),
            _step_up(settings),
            *extra,
        ),
    )


def sensitive_levels(settings: Settings) -> list[str]:
    """Classifications that count as sensitive: those that need step-up, or the highest one when step-up
    is configured nowhere."""
    levels = [level for level in settings.classifications if settings.step_up_minutes(level) is not None]
    return levels or settings.classifications[-1:]


def reaches_sensitive(role: RoleSettings, settings: Settings) -> bool:
    """Whether a role can act on images (or approve access to them) at a sensitive classification."""
    levels = sensitive_levels(settings)
    if not levels or not role.datasets or not SCOPED_ACTIONS & set(role.actions):
        return False
    lowest = min(settings.classification_rank(level) for level in levels)
    return settings.classification_rank(role.max_classification) >= lowest


def _wildcard(names: list[str]) -> bool:
    return any(WILDCARD_CHARS & set(name) for name in names)


def _roles(settings: Settings) -> Check:
    title = "Every role is scoped to named data sets and document types"
    if not settings.roles:
        return Check(
            "b.roles", title, "fail", "no roles are configured: nobody can be given access",
            "define [roles.NAME] with actions, datasets, max_classification and document_types",
        )  # fmt: skip
    wildcard = sorted(
        name for name, role in settings.roles.items() if _wildcard(role.datasets + role.document_types)
    )
    unscoped = sorted(
        name
        for name, role in settings.roles.items()
        if SCOPED_ACTIONS & set(role.actions) and not (role.datasets and role.document_types)
    )
    if wildcard or unscoped:
        parts = []
        if wildcard:
            parts.append(f"wildcard-like data set or document type names in roles {', '.join(wildcard)}")
        if unscoped:
            parts.append(
                f"roles holding image actions without data sets or document types: {', '.join(unscoped)}"
            )
        return Check(
            "b.roles", title, "fail", "; ".join(parts),
            "list the exact data sets and document_types under "
            + ", ".join(f"[roles.{name}]" for name in sorted({*wildcard, *unscoped}))
            + " (or remove the image actions from a workspace-wide role)",
        )  # fmt: skip
    broad = sorted(name for name, role in settings.roles.items() if _covers_everything(role, settings))
    mixed = sorted(
        name
        for name, role in settings.roles.items()
        if "workspace:admin" in role.actions and CONTENT_ACTIONS & set(role.actions)
    )
    if broad or mixed:
        parts = []
        if broad:
            parts.append(
                f"roles that see unmasked personal data in every data set, document type and classification: "
                f"{', '.join(broad)}"
            )
        if mixed:
            parts.append(f"roles that both administer and read images: {', '.join(mixed)}")
        return Check(
            "b.roles", title, "warn", "; ".join(parts),
            "narrow " + ", ".join(f"[roles.{name}]" for name in sorted({*broad, *mixed}))
            + " to the data sets its holders need, and keep workspace:admin in a role of its own",
        )  # fmt: skip
    return passed("b.roles", title, f"{len(settings.roles)} roles, each scoped to named data sets")


def _covers_everything(role: RoleSettings, settings: Settings) -> bool:
    # One data set is not a wildcard: a workspace with a single use case has nothing to narrow.
    return (
        "pii:view_unmasked" in role.actions
        and len(settings.datasets) > 1
        and set(role.datasets) >= set(settings.datasets)
        and set(role.document_types) >= set(settings.document_types)
        and role.max_classification == settings.classifications[-1]
    )


def _grants(db: Session, settings: Settings, now: datetime) -> Check:
    title = "No wildcard or unbounded case grants"
    active = list(db.scalars(select(Grant).where(Grant.revoked_at.is_(None), Grant.expires_at > now)))
    wildcard = [
        grant for grant in active
        if not CASE_ID_PATTERN.match(grant.case_id) or WILDCARD_CHARS & set(grant.case_id)
    ]  # fmt: skip
    if wildcard:
        return Check(
            "b.grants", title, "fail",
            f"{len(wildcard)} active grants name a case with wildcard characters or an invalid case id",
            "revoke them (sealroom grant list --all shows each grant; sealroom grant revoke GRANT_ID) and "
            "grant each case by its exact id",
        )  # fmt: skip
    limit = timedelta(days=settings.access.grant_max_days, minutes=1)
    long_lived = [grant for grant in active if grant.expires_at - grant.created_at > limit]
    if long_lived:
        return Check(
            "b.grants", title, "warn",
            f"{len(long_lived)} active grants run longer than access.grant_max_days "
            f"({settings.access.grant_max_days} days)",
            "revoke and re-grant them within the limit (sealroom grant list; sealroom grant revoke GRANT_ID)",
        )  # fmt: skip
    return passed("b.grants", title, f"{len(active)} active grants, each for one exact case, all bounded")


def _mfa(db: Session, settings: Settings) -> Check:
    title = "Second factor for everyone who can reach sensitive material or administer"
    users = list(db.scalars(select(User).where(User.disabled.is_(False))))
    if not users:
        return Check(
            "b.mfa", title, "warn", "no active users yet, so no enrolment can be checked",
            "add users with sealroom user add NAME --role ROLE, then sealroom user enroll-mfa NAME",
        )  # fmt: skip
    sensitive = {
        name
        for name, role in settings.roles.items()
        if reaches_sensitive(role, settings) or "workspace:admin" in role.actions
    }
    exposed = [user for user in users if sensitive & set(user.roles)]
    # A single-sign-on account is let in only with MFA its provider asserts or its own TOTP (when
    # require_mfa is on), so it needs no enrolment ahead of time.
    missing = [
        user
        for user in exposed
        if not user.mfa_enrolled
        and not (user.sso_provider in settings.sso.providers and settings.login.require_mfa)
    ]
    if missing:
        return Check(
            "b.mfa", title, "fail",
            f"{len(missing)} of {len(exposed)} active users who can reach "
            f"{', '.join(sensitive_levels(settings))} material or administer have no second factor",
            "sealroom user list shows who (mfa: none); enrol each with sealroom user enroll-mfa NAME, or "
            "disable the account (sealroom user disable NAME)",
        )  # fmt: skip
    if not settings.login.require_mfa:
        return Check(
            "b.mfa", title, "warn",
            "login.require_mfa is false: accounts without a second factor may sign in with a password alone",
            "set [login] require_mfa = true",
        )  # fmt: skip
    return passed(
        "b.mfa", title,
        f"all {len(exposed)} active users who can reach sensitive material or administer have a second "
        "factor (single sign-on accounts: asserted by their provider or a Sealroom code); "
        "login.require_mfa is on",
    )  # fmt: skip


def _duties(db: Session, settings: Settings) -> Check:
    title = "Administrators are not also the compliance reviewers"

    def actions_of(user: User) -> set[str]:
        return {
            action for role in user.roles if role in settings.roles for action in settings.roles[role].actions
        }

    users = list(db.scalars(select(User).where(User.disabled.is_(False))))
    both = [user for user in users if {"workspace:admin", "audit:read"} <= actions_of(user)]
    if both:
        return Check(
            "b.duties", title, "warn",
            f"{len(both)} active users both administer the workspace and read the audit log: they review "
            "their own changes (and cannot sign off)",
            "give workspace:admin and audit:read to different people (sealroom user list shows the roles)",
        )  # fmt: skip
    return passed("b.duties", title, "no active user holds both workspace:admin and audit:read")


def _step_up(settings: Settings) -> Check:
    title = "Step-up MFA for the most sensitive classification"
    top = settings.classifications[-1]
    minutes = settings.step_up_minutes(top)
    if minutes is None:
        return Check(
            "b.step_up", title, "fail",
            f"opening {top!r} images needs no recent second factor",
            f'set [step_up] classifications = {{ {top} = 10 }} (minutes a check stays fresh)',
        )  # fmt: skip
    if minutes > MAX_STEP_UP_MINUTES:
        return Check(
            "b.step_up", title, "warn",
            f"a second-factor check stays fresh for {minutes} minutes at {top!r}",
            f"lower [step_up] classifications.{top} to {MAX_STEP_UP_MINUTES} minutes or less",
        )  # fmt: skip
    if settings.step_up.raise_to is None:
        return Check(
            "b.step_up", title, "warn",
            "step-up by content is off: a sensitive document filed at a lower level opens without step-up",
            f'set [step_up] raise_to = "{top}" (with trigger_entities / trigger_document_types)',
        )  # fmt: skip
    return passed(
        "b.step_up", title,
        f"{top!r} needs a second factor within {minutes} minutes; content found by the pre-scan raises "
        f"images to {settings.step_up.raise_to!r}",
    )  # fmt: skip
