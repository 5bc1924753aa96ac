"""The audit vocabulary: categories, outcomes, well-known actions and the record of one new event.

An audit record carries ids, reasons and keyed hashes only. ``details`` is a small JSON object of
strings, numbers, booleans, lists and objects; bytes (image data, raw file content) are refused, as are
keys that name secrets and strings long enough to smuggle content. Personal values that must be
matched later go in as ``WorkspaceKeys.keyed_hash(value)``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final


class Category(StrEnum):
    """What part of the workspace an event belongs to."""

    AUTHENTICATION = "authentication"
    SESSION = "session"
    ACCESS = "access"
    IMAGE = "image"
    ANALYSIS = "analysis"
    DELIVERY = "delivery"
    ADMIN = "admin"
    AUDIT = "audit"


class Outcome(StrEnum):
    """How an event ended: ``allow``/``deny`` for access decisions, ``success``/``failure`` otherwise."""

    SUCCESS = "success"
    FAILURE = "failure"
    ALLOW = "allow"
    DENY = "deny"


class Action:
    """Well-known action names (dotted, lower case). Any name matching ``ACTION_PATTERN`` is accepted."""

    LOGIN = "auth.login"
    LOGOUT = "auth.logout"
    MFA_ENROLL = "auth.mfa.enroll"
    MFA_VERIFY = "auth.mfa.verify"
    SESSION_OPEN = "session.open"
    SESSION_END = "session.end"
    SESSION_TIMEOUT = "session.timeout"
    SESSION_PURGE = "session.purge"
    ACCESS_CHECK = "access.check"
    ACCESS_ELEVATION_REQUEST = "access.elevation.request"
    ACCESS_APPROVE = "access.approve"
    ACCESS_REJECT = "access.reject"
    ACCESS_BREAK_GLASS = "access.break_glass"
    IMAGE_INGEST = "image.ingest"
    IMAGE_OPEN = "image.open"
    ANALYSIS_RUN = "analysis.run"
    DELIVERY_RESULT = "result.deliver"
    DELIVERY_EXPORT = "delivery.export"
    ADMIN_USER = "admin.user"
    ADMIN_GRANT = "admin.grant"
    AUDIT_VERIFY = "audit.verify"
    AUDIT_EXPORT = "audit.export"


ACTION_PATTERN: Final = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)*")
MAX_DETAIL_STRING: Final = 4096
"""Longest string allowed inside ``details``; longer ones are refused as possible raw content."""
MAX_DETAIL_DEPTH: Final = 8
FORBIDDEN_DETAIL_KEYS: Final = frozenset(
    {"password", "passphrase", "secret", "token", "totp_code", "otp", "image_bytes", "pixels", "content"}
)
"""Keys that would only ever hold a secret or raw content; such values never belong in the log."""

_FIELD_LIMITS: Final = {"actor": 128, "session_id": 32, "image_id": 32, "case_id": 128}
_REASON_LIMIT: Final = 2048


class AuditRecordError(ValueError):
    """A new audit record is malformed or carries content that must not be logged."""


def check_details(details: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return a plain-dict copy of ``details`` after checking it holds only small JSON values.

    Raises ``AuditRecordError`` for bytes (possible image data), non-JSON types, non-finite floats,
    non-string keys, secret-named keys, over-long strings and over-deep nesting.
    """
    if details is None:
        return {}
    if not isinstance(details, Mapping):
        raise AuditRecordError(f"audit details must be a mapping, not {type(details).__name__}")
    copied = _check_value(details, "details", 0)
    assert isinstance(copied, dict)
    return copied


def _check_value(value: Any, path: str, depth: int) -> Any:
    if depth > MAX_DETAIL_DEPTH:
        raise AuditRecordError(f"audit details nest deeper than {MAX_DETAIL_DEPTH} levels at {path}")
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        if len(value) > MAX_DETAIL_STRING:
            raise AuditRecordError(
                f"audit detail {path} is {len(value)} characters long (limit {MAX_DETAIL_STRING}); "
                "log an id or a hash instead of content"
            )
        if value.startswith("data:"):
            raise AuditRecordError(f"audit detail {path} is a data URL; content never goes in the audit log")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise AuditRecordError(f"audit detail {path} is not a finite number")
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        raise AuditRecordError(
            f"audit detail {path} holds raw bytes; image data and file content never go in the audit log"
        )
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise AuditRecordError(f"audit detail {path} has a non-string key {key!r}")
            if key.lower() in FORBIDDEN_DETAIL_KEYS:
                raise AuditRecordError(f"audit detail {path}.{key} names a secret or raw content")
            out[key] = _check_value(item, f"{path}.{key}", depth + 1)
        return out
    if isinstance(value, list | tuple):
        return [_check_value(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value)]
    raise AuditRecordError(
        f"audit detail {path} has type {type(value).__name__}; use str, int, float, bool, list or dict"
    )


def _check_short(name: str, value: str | None, limit: int, *, required: bool = False) -> None:
    if value is None:
        if required:
            raise AuditRecordError(f"audit {name} is required")
        return
    if not isinstance(value, str):
        raise AuditRecordError(f"audit {name} must be a string, not {type(value).__name__}")
    if required and not value:
        raise AuditRecordError(f"audit {name} must not be empty")
    if len(value) > limit:
        raise AuditRecordError(f"audit {name} is longer than {limit} characters")


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One new event before it is sealed into the chain (no seq, time or MAC yet).

    Construction validates every field, so an invalid record can never reach the log.
    """

    category: Category
    action: str
    outcome: Outcome
    actor: str
    session_id: str | None = None
    image_id: str | None = None
    case_id: str | None = None
    reason: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "category", Category(self.category))
            object.__setattr__(self, "outcome", Outcome(self.outcome))
        except ValueError as exc:
            raise AuditRecordError(str(exc)) from exc
        if (
            not isinstance(self.action, str)
            or len(self.action) > 64
            or not ACTION_PATTERN.fullmatch(self.action)
        ):
            raise AuditRecordError(
                f"audit action {self.action!r} must be dotted lower-case words like 'image.open', ≤ 64 chars"
            )
        for name, limit in _FIELD_LIMITS.items():
            _check_short(name, getattr(self, name), limit, required=name == "actor")
        _check_short("reason", self.reason, _REASON_LIMIT)
        object.__setattr__(self, "details", check_details(self.details))
