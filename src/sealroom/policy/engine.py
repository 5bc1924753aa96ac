"""The policy engine: a pure function of the configuration, the request and the caller's grants.

Default deny. Actions fall in three kinds:

* **image actions** (``metadata:view``, ``image:analyze``, ``pii:view_unmasked``): a role must hold the
  action and cover the image's data set, classification (rank at most the role's ``max_classification``)
  and document type; then the caller must hold an active grant (not expired, not revoked) for the
  image's case. Pass the image's ``case_id`` for any decision that reaches one image: with a ``case_id``
  all three scope attributes are required (``target_incomplete`` otherwise). Without a ``case_id`` the
  question is about role scope only (e.g. "may this user list data set X"), checking whichever scope
  attributes are given; such an allow never opens an image.
* **ingest** (``image:ingest``): role scope on data set, classification and document type, all three
  required; no case grant, because intake staff file material into cases nobody holds a grant for yet.
* **approval** (``request:approve``): role scope on the data set (required) and, when given, the
  classification and document type; no case grant, since approvers decide about cases they do not hold.
* **workspace actions** (``audit:read``, ``workspace:admin``, ``breakglass:review``): a role must hold
  the action; no scope.

Roles come from the user's account and from *elevations*: roles held for a while through an approved
request, either on all the role's data sets or limited to one.

When several roles are held, the first that allows (in the order given) is the basis. When none
does, the reason is the most specific failure any role reached: a role that holds the action but not
the data set is more specific than roles without the action, and so on along
action < data set < classification < document type.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from sealroom.config import RoleSettings, Settings
from sealroom.policy import decision as r
from sealroom.policy.decision import Decision

IMAGE_ACTIONS = frozenset({"metadata:view", "image:analyze", "pii:view_unmasked"})
INGEST_ACTIONS = frozenset({"image:ingest"})
APPROVAL_ACTIONS = frozenset({"request:approve"})
WORKSPACE_ACTIONS = frozenset({"audit:read", "workspace:admin", "breakglass:review"})

# Scope failures from least to most specific.
_SPECIFICITY = (
    r.NO_ROLE_PERMITS_ACTION,
    r.DATASET_OUT_OF_SCOPE,
    r.CLASSIFICATION_ABOVE_CLEARANCE,
    r.DOCUMENT_TYPE_OUT_OF_SCOPE,
)


class GrantLike(Protocol):
    """What the engine reads of a case grant (``sealroom.db.models.Grant`` fits)."""

    @property
    def id(self) -> str: ...
    @property
    def user_id(self) -> str: ...
    @property
    def case_id(self) -> str: ...
    @property
    def expires_at(self) -> datetime: ...
    @property
    def revoked_at(self) -> datetime | None: ...


def grant_is_active(grant: GrantLike, now: datetime) -> bool:
    """A grant is active from creation until ``expires_at`` (exclusive), unless revoked."""
    return grant.revoked_at is None and now < grant.expires_at


class PolicyEngine:
    """Decides requests against the roles of one workspace configuration. Holds no other state."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def decide(
        self,
        user_roles: Sequence[str],
        action: str,
        *,
        dataset: str | None = None,
        classification: str | None = None,
        document_type: str | None = None,
        case_grants: Sequence[GrantLike] = (),
        case_id: str | None = None,
        now: datetime,
        user_id: str | None = None,
        user_disabled: bool = False,
        elevations: Sequence[tuple[str, str | None]] = (),
    ) -> Decision:
        """Decide whether a user holding ``user_roles`` may do ``action`` on the target described.

        ``case_grants`` are the caller's grants (any case; those for other cases are ignored, and so
        are grants of another user when ``user_id`` is given). ``elevations`` are the caller's active
        temporary roles as ``(role, dataset or None)``; one limited to a data set covers only it.
        Never raises; unknown roles are ignored and unknown actions are denied.
        """
        if user_disabled:
            return Decision.deny(r.USER_DISABLED)
        roles: list[tuple[str, str | None]] = [(name, None) for name in user_roles]
        roles.extend(elevations)
        if action in WORKSPACE_ACTIONS:
            return self._by_roles(roles, action, None, None, None)
        if action in INGEST_ACTIONS:
            if dataset is None or classification is None or document_type is None:
                return Decision.deny(r.TARGET_INCOMPLETE)
            return self._by_roles(roles, action, dataset, classification, document_type)
        if action in APPROVAL_ACTIONS:
            if dataset is None:
                return Decision.deny(r.TARGET_INCOMPLETE)
            return self._by_roles(roles, action, dataset, classification, document_type)
        if action not in IMAGE_ACTIONS:
            return Decision.deny(r.UNKNOWN_ACTION)
        if case_id is not None and (dataset is None or classification is None or document_type is None):
            return Decision.deny(r.TARGET_INCOMPLETE)
        scope = self._by_roles(roles, action, dataset, classification, document_type)
        if not scope.allowed or case_id is None:
            return scope
        return self._by_grant(scope.role, case_grants, case_id, now, user_id)

    def _by_roles(
        self,
        roles: Sequence[tuple[str, str | None]],
        action: str,
        dataset: str | None,
        classification: str | None,
        document_type: str | None,
    ) -> Decision:
        if classification is not None and classification not in self._settings.classifications:
            return Decision.deny(r.UNKNOWN_CLASSIFICATION)
        worst = 0
        for name, limited_to in roles:
            role = self._settings.roles.get(name)
            if role is None:
                continue
            failure = self._role_failure(role, action, dataset, classification, document_type)
            if failure is None and limited_to is not None and dataset != limited_to:
                # An elevation limited to one data set covers nothing else, not even role-only questions.
                failure = r.DATASET_OUT_OF_SCOPE
            if failure is None:
                return Decision.allow(name)
            worst = max(worst, _SPECIFICITY.index(failure))
        return Decision.deny(_SPECIFICITY[worst])

    def _role_failure(
        self,
        role: RoleSettings,
        action: str,
        dataset: str | None,
        classification: str | None,
        document_type: str | None,
    ) -> str | None:
        if action not in role.actions:
            return r.NO_ROLE_PERMITS_ACTION
        if dataset is not None and dataset not in role.datasets:
            return r.DATASET_OUT_OF_SCOPE
        if classification is not None and self._settings.classification_rank(
            classification
        ) > self._settings.classification_rank(role.max_classification):
            return r.CLASSIFICATION_ABOVE_CLEARANCE
        if document_type is not None and document_type not in role.document_types:
            return r.DOCUMENT_TYPE_OUT_OF_SCOPE
        return None

    @staticmethod
    def _by_grant(
        role: str | None, grants: Sequence[GrantLike], case_id: str, now: datetime, user_id: str | None
    ) -> Decision:
        relevant = [
            grant
            for grant in grants
            if grant.case_id == case_id and (user_id is None or grant.user_id == user_id)
        ]
        for grant in relevant:
            if grant_is_active(grant, now):
                assert role is not None
                return Decision.allow(role, grant.id)
        if any(grant.revoked_at is None for grant in relevant):
            # At least one grant ran out on its own: the remedy is a renewal.
            return Decision.deny(r.GRANT_EXPIRED, role)
        if relevant:
            return Decision.deny(r.GRANT_REVOKED, role)
        return Decision.deny(r.NO_CASE_GRANT, role)
