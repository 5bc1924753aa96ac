"""SQLAlchemy 2 table models for the metadata store (SQLite or PostgreSQL).

Nothing here holds image pixels or raw personal data: images are ciphertext in the blob store, and
the audit log carries ids and keyed hashes only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the offset otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        from datetime import UTC

        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use the workspace clock")
        # SQLite keeps the wall-clock text and drops the offset: store and compare instants in UTC.
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        from datetime import UTC

        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    """Declarative base of all Sealroom tables."""


class User(Base):
    """A person who signs in. ``totp_secret_enc`` is the TOTP seed sealed with the workspace key."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    username: Mapped[str] = mapped_column(String(128), unique=True)
    display_name: Mapped[str] = mapped_column(String(256), default="")
    password_hash: Mapped[str] = mapped_column(String(256))
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    totp_secret_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    mfa_enrolled: Mapped[bool] = mapped_column(Boolean, default=False)
    totp_last_step: Mapped[int] = mapped_column(BigInteger, default=0)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sso_provider: Mapped[str | None] = mapped_column(String(32), nullable=True)
    """The identity provider this account signs in with (then it has no usable password), or None."""
    sso_subject: Mapped[str | None] = mapped_column(String(255), nullable=True)
    """The provider's ``sub`` for this person, set at their first sign-in."""


class LoginThrottle(Base):
    """Failed sign-in counter per username (known or not), for throttling credential stuffing."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[datetime] = mapped_column(UtcDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class Grant(Base):
    """A user's right to reach one case, for a purpose, until ``expires_at`` (or revocation).

    ``source`` says how it came to be: ``admin`` (an operator or administrator), ``integration`` (an
    integration token, e.g. an EHR feed), ``request`` (an approved access request, ``request_id``) or
    ``break_glass`` (emergency access, ``request_id`` is the break-glass record's id).
    """

    __tablename__ = "grants"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    case_id: Mapped[str] = mapped_column(String(128), index=True)
    purpose: Mapped[str] = mapped_column(String(512), default="")
    granted_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    source: Mapped[str] = mapped_column(String(16), default="admin", server_default="admin")
    request_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    ended_noted_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    """When the end of this grant (expiry) was recorded in the audit log by the maintenance pass."""


class RoleElevation(Base):
    """A role held for a while through an approved request: ``role`` limited to ``dataset`` (a
    data-set request) or on all the role's data sets (``dataset`` is None: a role request)."""

    __tablename__ = "role_elevations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    role: Mapped[str] = mapped_column(String(64))
    dataset: Mapped[str | None] = mapped_column(String(128), nullable=True)
    request_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class AccessRequest(Base):
    """A request for access (``kind`` ``case``, ``dataset`` or ``role``) or for an export (``export``).

    Life: ``pending`` → ``approved`` (after ``approvals_required`` distinct approvals by approvers who
    are not the requester) or ``denied`` (one denial ends it), or ``cancelled`` by the requester, or
    ``expired`` when undecided by ``expires_at``. An approved access request creates a grant or a role
    elevation (``grant_id`` / ``elevation_id``) running until ``access_expires_at``; an approved export
    may be delivered once until ``access_expires_at`` and is then ``delivered`` (``used_at``,
    ``delivery_sha256``). Rows are never deleted: the history stays queryable.
    """

    __tablename__ = "access_requests"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    requester_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    requester: Mapped[str] = mapped_column(String(128))
    dataset: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    case_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    role: Mapped[str | None] = mapped_column(String(64), nullable=True)
    image_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    export_format: Mapped[str | None] = mapped_column(String(16), nullable=True)
    export_variant: Mapped[str | None] = mapped_column(String(16), nullable=True)
    reason: Mapped[str] = mapped_column(Text)
    duration_minutes: Mapped[int] = mapped_column(Integer)
    approvals_required: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    access_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    grant_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    elevation_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    delivery_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)


class RequestReview(Base):
    """One approver's decision on a request (``approve`` or ``deny``), with their note."""

    __tablename__ = "request_reviews"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("access_requests.id"), index=True)
    reviewer_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    reviewer: Mapped[str] = mapped_column(String(128))
    decision: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[datetime] = mapped_column(UtcDateTime)


class BreakGlass(Base):
    """An emergency access to a case, taken with a justification; open in the review queue until a
    reviewer closes it (``reviewed_at``, ``review_outcome`` ``justified``/``unjustified``)."""

    __tablename__ = "break_glass"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    username: Mapped[str] = mapped_column(String(128))
    session_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    dataset: Mapped[str] = mapped_column(String(128))
    case_id: Mapped[str] = mapped_column(String(128))
    justification: Mapped[str] = mapped_column(Text)
    grant_id: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    alert_status: Mapped[str] = mapped_column(String(16), default="pending")
    reviewed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    reviewed_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    review_outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    review_note: Mapped[str | None] = mapped_column(Text, nullable=True)


class LegalHold(Base):
    """A legal hold on a case or on one image: retention never deletes what a live hold covers."""

    __tablename__ = "legal_holds"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    case_id: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    image_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    reason: Mapped[str] = mapped_column(Text)
    placed_by: Mapped[str] = mapped_column(String(128))
    placed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    released_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    released_by: Mapped[str | None] = mapped_column(String(128), nullable=True)


class IntegrationToken(Base):
    """A credential for a system (not a person) that may manage case grants through the API, e.g. a
    hospital's admission feed. Only a SHA-256 of the token is stored."""

    __tablename__ = "integration_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class Image(Base):
    """One stored image: metadata, which key wrapped its data key and where its ciphertext lives.

    The wrapped data key itself lives in the key store (``sealroom.vault.keystore``), not here, so a
    database backup cannot open an image whose key was destroyed (crypto-shredding). ``wrapped_key``
    is empty for such images; older rows may still carry one until it is moved at start-up.
    """

    __tablename__ = "images"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    dataset: Mapped[str] = mapped_column(String(128), index=True)
    classification: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[str] = mapped_column(String(128), index=True)
    document_type: Mapped[str] = mapped_column(String(64))
    media_type: Mapped[str] = mapped_column(String(64))
    page_count: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    byte_size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    key_id: Mapped[str] = mapped_column(String(64))
    blob_ref: Mapped[str] = mapped_column(String(256))
    ingested_by: Mapped[str] = mapped_column(String(128))
    ingested_at: Mapped[datetime] = mapped_column(UtcDateTime)


class WorkspaceSession(Base):
    """A user's workspace session. Only a hash of the bearer token is stored."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    absolute_expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    mfa_verified_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    end_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)


class SsoSessionLink(Base):
    """What a session opened by single sign-on knows of its provider session.

    ``idp_sid`` (the provider's session id) lets a back-channel logout find it; the ID token (for the
    provider's logout), access and refresh tokens (for re-checking roles) are sealed with the
    workspace key. ``mfa_source`` says what satisfied MFA (``idp:<amr/acr>`` or ``totp``).
    """

    __tablename__ = "sso_session_links"

    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id"), primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(255))
    idp_sid: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    via: Mapped[str] = mapped_column(String(16))
    """``browser`` (code flow) or ``bearer`` (an API client's access token)."""
    id_token_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    access_token_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    refresh_token_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    mfa_source: Mapped[str | None] = mapped_column(String(128), nullable=True)
    rechecked_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SsoPending(Base):
    """A sign-in (or step-up, or second-factor check) begun and not yet finished; used once.

    Keyed by a SHA-256 of the random value kept in the browser's cookie (the OAuth ``state`` for the
    provider round trip). ``secret_enc`` holds the PKCE verifier and nonce sealed with the workspace key.
    """

    __tablename__ = "sso_pending"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    purpose: Mapped[str] = mapped_column(String(16))
    secret_enc: Mapped[bytes] = mapped_column(LargeBinary)
    next_path: Mapped[str] = mapped_column(String(512))
    session_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    user_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class SsoSeen(Base):
    """Single-use values already accepted (ID-token nonces, logout-token ids), until they expire."""

    __tablename__ = "sso_seen"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class SessionImage(Base):
    """Which images a session opened, so a purge (even after a crash) can say what it destroyed."""

    __tablename__ = "session_images"

    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id"), primary_key=True)
    image_id: Mapped[str] = mapped_column(ForeignKey("images.id"), primary_key=True)
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime)
    purged_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class AuditEvent(Base):
    """One record of the hash-chained audit log. ``seq`` orders the chain; ``mac`` seals it."""

    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    event_id: Mapped[str] = mapped_column(String(32), unique=True)
    ts: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    category: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64), index=True)
    outcome: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(128), index=True)
    session_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    image_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    case_id: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_mac: Mapped[str] = mapped_column(String(64))
    mac: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The chain head (one row): appends lock it, so records get gap-free sequence numbers."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    mac: Mapped[str] = mapped_column(String(64))


class AuditAnchor(Base):
    """A signed anchor: the chain head (``seq``, ``mac``) signed with the workspace's Ed25519 anchor
    key at ``signed_at``. Copies go outside the database (a file, the SIEM), so a rewritten chain
    cannot match them."""

    __tablename__ = "audit_anchors"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, index=True)
    mac: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    key_id: Mapped[str] = mapped_column(String(64))
    """SHA-256 of the raw public key, hex: which anchor key signed."""
    signature: Mapped[str] = mapped_column(String(128))
    """Ed25519 signature, hex, over the anchor's canonical statement (see ``sealroom.audit.anchor``)."""


class ForwardCursor(Base):
    """How far one forwarding sink has got through the audit log, and how delivery is going.

    ``last_seq`` only moves forward, after the receiver acknowledged every record up to it (records
    the sink's category filter skips count as passed). ``last_error``/``consecutive_failures`` describe
    the current run of failures (``NULL``/0 once a batch is acknowledged again). A forwarder holds
    ``lease_owner`` until ``lease_until`` so two processes never feed one sink. See
    ``sealroom.forwarding.cursors``.
    """

    __tablename__ = "forward_cursors"

    sink: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    delivered: Mapped[int] = mapped_column(BigInteger, default=0)
    last_success_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(64), nullable=True)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    backlog_alerted_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class SystemState(Base):
    """Small named markers of background work: a cursor (``seq``), when it last ran (``at``) and a
    little JSON (``data``), e.g. the alert rules' position in the log or the last chain verify."""

    __tablename__ = "system_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class AlertFiring(Base):
    """One alert raised by a rule for a subject (a user, a sink), so a rule does not raise the same
    alert again until ``quiet_until``."""

    __tablename__ = "alert_firings"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    rule: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(128))
    fired_at: Mapped[datetime] = mapped_column(UtcDateTime)
    quiet_until: Mapped[datetime] = mapped_column(UtcDateTime)
    alert_id: Mapped[str] = mapped_column(String(32))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ComplianceSignoff(Base):
    """A compliance reviewer's sign-off of the deployment, bound to the SHA-256 of the configuration
    it reviewed: any later change of the configuration leaves it stale."""

    __tablename__ = "compliance_signoffs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    reviewer: Mapped[str] = mapped_column(String(128))
    signed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    notes: Mapped[str] = mapped_column(Text)
    config_sha256: Mapped[str] = mapped_column(String(64))
    recorded_by: Mapped[str] = mapped_column(String(128))


class EnrolmentInvitation(Base):
    """A one-time link with which a user sets up their second factor (and, for a new account, their
    password) in the browser. Only a SHA-256 of the link's token is stored.

    ``kind`` is ``new_user`` (the account has no usable password yet) or ``reset_mfa`` (a lost
    authenticator: the old factor was withdrawn when the link was issued). ``pending_secret_enc`` is
    the TOTP seed shown on the enrolment page, sealed like a user's seed; it becomes the user's only
    when a code from it is confirmed.
    """

    __tablename__ = "enrolment_invitations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    pending_secret_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)


Index("ix_grants_user_case", Grant.user_id, Grant.case_id)
Index("ux_users_sso_identity", User.sso_provider, User.sso_subject, unique=True)
Index("ix_alert_firings_rule_subject", AlertFiring.rule, AlertFiring.subject)
# One review per approver and request, even when two of their approvals race.
Index("ux_request_reviews_reviewer", RequestReview.request_id, RequestReview.reviewer_id, unique=True)
# Audit searches filter on one column and page by seq: each needs (column, seq) to seek, not sort.
Index("ix_audit_events_image_seq", AuditEvent.image_id, AuditEvent.seq)
Index("ix_audit_events_case_seq", AuditEvent.case_id, AuditEvent.seq)
Index("ix_audit_events_actor_seq", AuditEvent.actor, AuditEvent.seq)
Index("ix_audit_events_outcome_seq", AuditEvent.outcome, AuditEvent.seq)
Index("ix_audit_events_action_seq", AuditEvent.action, AuditEvent.seq)
