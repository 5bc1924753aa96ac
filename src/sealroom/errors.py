"""The one exception tree of Sealroom.

Every error a user can meet is a ``SealroomError`` subclass. Each class carries the HTTP status the
API answers with and the exit code the CLI ends with, so the shells map errors in one place each::

    SealroomError                      500 / 1
    ├── ConfigError                    500 / 3   bad or unsafe workspace configuration
    ├── InputError                     400 / 4   malformed request or argument
    │   └── BadImageError              422 / 4   rejected file at ingest (names the problem)
    │       └── TooLargeError          413 / 4   over a size, pixel or page limit
    ├── AuthenticationError            401 / 5   wrong credentials (never says which part)
    │   ├── MfaRequiredError           401 / 5   a second factor is needed
    │   │   └── StepUpRequiredError    401 / 5   a fresh second factor is needed for this image
    │   └── SessionEndedError          401 / 5   the session is over (logout, timeout, restart)
    ├── ThrottledError                 429 / 6   too many failures; carries ``retry_after``
    ├── AccessDeniedError              403 / 7   policy said no (carries the machine reason)
    ├── NotFoundError                  404 / 8   absent, or outside the caller's scope
    ├── ConflictError                  409 / 9   already exists, or not in a state that allows this
    ├── GoneError                      410 / 13  was available once and is no longer (used, expired)
    ├── AuditUnavailableError          503 / 10  the audit log cannot be written: action refused
    ├── StorageError                   503 / 12  the encrypted image store cannot be read or written
    └── AnalysisError                  502 / 11  an engine failed
        ├── EngineUnavailableError     503 / 11  an engine cannot run (credential or setting missing)
        └── EngineTimeoutError         504 / 11  a model endpoint did not answer in time
"""

from __future__ import annotations


class SealroomError(Exception):
    """Base of every Sealroom error; ``str(err)`` is safe to show to the user."""

    http_status = 500
    exit_code = 1
    code = "internal_error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason or self.code


class ConfigError(SealroomError):
    """The workspace configuration or key material is missing, invalid or unsafe."""

    exit_code = 3
    code = "config_error"


class InputError(SealroomError):
    """A request or argument is malformed."""

    http_status = 400
    exit_code = 4
    code = "bad_request"


class BadImageError(InputError):
    """A file offered for ingest was refused; the message names the problem."""

    http_status = 422
    code = "bad_image"


class TooLargeError(BadImageError):
    """A file is over a configured size, pixel or page limit."""

    http_status = 413
    code = "too_large"


class AuthenticationError(SealroomError):
    """Credentials were wrong or missing; deliberately does not say which part."""

    http_status = 401
    exit_code = 5
    code = "authentication_failed"


class MfaRequiredError(AuthenticationError):
    """A (fresh) second factor is required for this action."""

    code = "mfa_required"


class StepUpRequiredError(MfaRequiredError):
    """The image's classification needs a second-factor check more recent than the session has.

    ``max_age_minutes`` is how recent the check must be; the client re-verifies (``POST
    /api/v1/session/step-up``) and repeats the request.
    """

    code = "step_up_required"

    def __init__(self, message: str, *, max_age_minutes: int, reason: str | None = None) -> None:
        super().__init__(message, reason=reason)
        self.max_age_minutes = max_age_minutes


class SessionEndedError(AuthenticationError):
    """The workspace session has ended or never existed."""

    code = "session_ended"


class ThrottledError(SealroomError):
    """Too many failed attempts; try again after ``retry_after`` seconds."""

    http_status = 429
    exit_code = 6
    code = "throttled"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AccessDeniedError(SealroomError):
    """Policy denied the action; ``reason`` is the machine-readable cause also in the audit log."""

    http_status = 403
    exit_code = 7
    code = "access_denied"


class NotFoundError(SealroomError):
    """The resource does not exist or is outside the caller's scope (never says which)."""

    http_status = 404
    exit_code = 8
    code = "not_found"


class ConflictError(SealroomError):
    """The resource already exists."""

    http_status = 409
    exit_code = 9
    code = "conflict"


class GoneError(SealroomError):
    """The thing asked for was available once and is not any more (delivered already, window passed)."""

    http_status = 410
    exit_code = 13
    code = "gone"


class AuditUnavailableError(SealroomError):
    """The audit record could not be written, so the action was refused."""

    http_status = 503
    exit_code = 10
    code = "audit_unavailable"


class StorageError(SealroomError):
    """The encrypted image store could not be read or written (disk full, permissions, I/O error)."""

    http_status = 503
    exit_code = 12
    code = "storage_unavailable"


class AnalysisError(SealroomError):
    """An analysis engine failed."""

    http_status = 502
    exit_code = 11
    code = "analysis_failed"


class EngineUnavailableError(AnalysisError):
    """An engine cannot run here: a credential or setting is missing or was rejected."""

    http_status = 503
    code = "engine_unavailable"


class EngineTimeoutError(AnalysisError):
    """A model endpoint did not answer within the configured time (after retries)."""

    http_status = 504
    code = "engine_timeout"
