"""Checks on a new access request: what it names must exist and fit together, and must not be pending
already; and how many approvals a request needs. Refusals are ``InputError`` / ``ConflictError`` with a
machine-readable reason."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from sealroom.access import printable
from sealroom.config import Settings
from sealroom.db.models import AccessRequest, Image
from sealroom.errors import ConflictError, InputError
from sealroom.policy.grants import CASE_ID_PATTERN
from sealroom.sessions import ActiveSession
from sealroom.statements import clean_statement

ACCESS_KINDS = ("case", "dataset", "role")
MAX_REASON = 1000
# The most approvals any request needs (a data set asks for 1 or 2): what an original export and a
# data set that is no longer configured need.
MOST_APPROVALS = 2
# What each kind must name; it names nothing else.
_FIELDS = {"case": ("dataset", "case_id"), "dataset": ("dataset", "role"), "role": ("role",)}


@dataclass(frozen=True)
class Submission:
    """A checked submission: what will be stored."""

    kind: str
    reason: str
    duration_minutes: int
    case_id: str | None
    dataset: str | None
    role: str | None
    approvals_required: int


def case_datasets(db: Session, case_id: str) -> list[str]:
    """The data sets the images of case ``case_id`` are in (a case grant reaches all of them)."""
    return sorted(db.scalars(select(Image.dataset).where(Image.case_id == case_id).distinct()))


def approvals_for(settings: Settings, datasets: Iterable[str], *, original_export: bool = False) -> int:
    """The approvals a request concerning ``datasets`` needs under the current configuration: the
    strictest data set's; a data set no longer configured, or an original export, needs the most."""
    counts = [
        settings.datasets[name].approvals_required if name in settings.datasets else MOST_APPROVALS
        for name in datasets
    ]
    if original_export:
        counts.append(MOST_APPROVALS)
    return max(counts, default=MOST_APPROVALS)


def check_submission(
    db: Session,
    settings: Settings,
    actor: ActiveSession,
    kind: str,
    reason: str,
    duration_minutes: int,
    case_id: str | None,
    dataset: str | None,
    role: str | None,
) -> Submission:
    """Validate a submission and work out how many approvals it needs; raise ``InputError`` naming
    what is wrong.

    A case request concerns the data set it names and every data set the case's images are in: the
    grant it leads to reaches the whole case.
    """
    if kind not in ACCESS_KINDS:
        raise InputError(
            "the kind of request must be case, dataset or role (exports are requested through the "
            "export commands)",
            reason="unknown_kind",
        )
    reason = _check_reason(reason)
    _check_duration(settings, kind, duration_minutes)
    expected = _FIELDS[kind]
    given = {"case_id": case_id, "dataset": dataset, "role": role}
    for name, value in given.items():
        if name in expected and not (value and value.strip()):
            raise InputError(f"a {kind} request needs a {name.replace('_', ' ')}", reason="missing_field")
        if name not in expected and value is not None:
            raise InputError(
                f"a {kind} request names {' and '.join(expected)} only, not a {name.replace('_', ' ')}",
                reason="unexpected_field",
            )
    datasets: list[str] = []
    if dataset is not None:
        dataset = dataset.strip()
        if dataset not in settings.datasets:
            raise InputError(
                f"unknown data set {printable(dataset)!r}; "
                f"configured: {', '.join(sorted(settings.datasets))}",
                reason="unknown_dataset",
            )
        datasets = [dataset]
    if case_id is not None:
        case_id = _check_case_id(case_id)
        datasets.extend(name for name in case_datasets(db, case_id) if name not in datasets)
    if role is not None:
        role = role.strip()
        covered = _check_role(settings, actor, kind, role, dataset)
        if kind == "role":
            datasets = covered
    required = approvals_for(settings, datasets)
    return Submission(kind, reason, duration_minutes, case_id, dataset, role, required)


def refuse_duplicate(db: Session, actor: ActiveSession, checked: Submission) -> None:
    """Raise ``ConflictError`` if the actor already has the same request pending."""

    def same(column: InstrumentedAttribute[str | None], value: str | None) -> ColumnElement[bool]:
        return column.is_(None) if value is None else column == value

    existing = db.scalar(
        select(AccessRequest.id).where(
            AccessRequest.requester_id == actor.user_id,
            AccessRequest.status == "pending",
            AccessRequest.kind == checked.kind,
            same(AccessRequest.dataset, checked.dataset),
            same(AccessRequest.case_id, checked.case_id),
            same(AccessRequest.role, checked.role),
        )
    )
    if existing is not None:
        raise ConflictError(
            f"you already have a pending request for this ({existing}); wait for its decision or cancel it",
            reason="duplicate_pending",
        )


def _check_reason(reason: str) -> str:
    try:
        # NFC lengthens text at most threefold: this bound never bites, so the check below names the reason.
        cleaned = clean_statement(reason, what="reason", maximum=3 * len(reason) + 1)
    except InputError as exc:
        raise InputError(f"{exc.message}: say why you need this access", reason="reason_missing") from None
    if len(cleaned) > MAX_REASON:
        raise InputError(f"the reason is too long: at most {MAX_REASON} characters", reason="reason_too_long")
    return cleaned


def _check_duration(settings: Settings, kind: str, duration_minutes: int) -> None:
    max_minutes = settings.access.request_max_hours * 60
    if kind == "case":
        # The grant an approval creates may not run past the grant limit either.
        max_minutes = min(max_minutes, settings.access.grant_max_days * 24 * 60)
    if isinstance(duration_minutes, bool) or not 1 <= duration_minutes <= max_minutes:
        raise InputError(
            f"the duration must be 1 to {max_minutes} minutes ({max_minutes // 60} hours; "
            "access.request_max_hours)",
            reason="duration_out_of_range",
        )


def _check_case_id(case_id: str) -> str:
    case_id = case_id.strip()
    if "*" in case_id:
        raise InputError("wildcards are not supported: request each case by its id", reason="bad_case_id")
    if not CASE_ID_PATTERN.match(case_id):
        raise InputError(
            "a case id is 1-128 characters: letters, digits and . _ : / # - "
            "(starting with a letter or digit)",
            reason="bad_case_id",
        )
    return case_id


def _check_role(
    settings: Settings, actor: ActiveSession, kind: str, role: str, dataset: str | None
) -> list[str]:
    """Check the role a ``dataset`` or ``role`` request names; return the data sets it covers."""
    role_settings = settings.roles.get(role)
    if role_settings is None:
        raise InputError(
            f"unknown role {printable(role, 64)!r}; known roles: {', '.join(sorted(settings.roles))}",
            reason="unknown_role",
        )
    if kind == "dataset" and dataset not in role_settings.datasets:
        raise InputError(
            f"role {role!r} does not cover data set {dataset!r}; it covers: "
            f"{', '.join(role_settings.datasets) or 'no data sets'}",
            reason="role_lacks_dataset",
        )
    if kind == "role" and not role_settings.datasets:
        raise InputError(
            f"role {role!r} covers no data sets, so no approver could decide it; "
            "workspace-wide roles are assigned by an administrator",
            reason="role_not_requestable",
        )
    if role in actor.roles and (kind == "role" or dataset in role_settings.datasets):
        raise InputError(f"you already hold role {role!r}", reason="role_already_held")
    return list(role_settings.datasets)
