"""Identity: users, argon2id passwords, TOTP second factor and login throttling."""

from sealroom.identity.interfaces import AuditSink
from sealroom.identity.service import IdentityService, MfaEnrollment

__all__ = ["AuditSink", "IdentityService", "MfaEnrollment"]
