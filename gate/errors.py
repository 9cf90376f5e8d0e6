"""The error model: every failure a client can see, rendered as RFC 9457 problem+json.

Each class's `code` is stable and documented; clients branch on it, never on the title.
"""

from __future__ import annotations

from typing import Any, ClassVar

PROBLEM_JSON = "application/problem+json"


def problem_body(
    status: int, code: str, title: str, detail: str, *, instance: str | None, request_id: str, **extra: Any
) -> dict[str, Any]:
    """The one shape of every problem this service answers with, from the app or from the HTTP
    server before a request reaches it (gate.http11)."""
    return {
        "type": f"https://cameogate.dev/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "instance": instance,
        "request_id": request_id,
        **extra,
    }


class Problem(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "Bad request"

    def __init__(self, detail: str | None = None, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        if code:
            self.code = code  # type: ignore[misc]  # a more specific code for the same status
        self.extra = extra
        self.headers: dict[str, str] = {}


class BadRequest(Problem):
    pass


class ValidationFailed(Problem):
    status = 422
    code = "validation_failed"
    title = "The request is not valid"


class Unauthorized(Problem):
    status = 401
    code = "unauthorized"
    title = "A valid API key is required"


class Forbidden(Problem):
    status = 403
    code = "forbidden"
    title = "This key may not do that"


class NotFound(Problem):
    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(Problem):
    status = 409
    code = "conflict"
    title = "Conflicts with the current state"


class Gone(Problem):
    status = 410
    code = "gone"
    title = "No longer available"


class PayloadTooLarge(Problem):
    status = 413
    code = "payload_too_large"
    title = "The upload is too large"


class UnsupportedMedia(Problem):
    status = 415
    code = "unsupported_media"
    title = "The upload is not a supported media type"


class InvalidMedia(Problem):
    status = 422
    code = "invalid_media"
    title = "The media cannot be decoded within the limits"


class ConsentRequired(Problem):
    status = 403
    code = "consent_required"
    title = "Consent is missing, denied or revoked"


class PolicyViolation(Problem):
    status = 403
    code = "policy_violation"
    title = "The policy forbids this"


class RateLimited(Problem):
    status = 429
    code = "rate_limited"
    title = "Too many requests"

    def __init__(self, detail: str | None = None, *, retry_after: int, **extra: Any) -> None:
        super().__init__(detail, retry_after=retry_after, **extra)
        self.headers["Retry-After"] = str(retry_after)


class Unavailable(Problem):
    status = 503
    code = "unavailable"
    title = "Service unavailable"


class ModelUnavailable(Problem):
    status = 503
    code = "model_unavailable"
    title = "A required model is not available"


class ConfigurationError(Exception):
    """Start-up refuses to run; the message names the setting to fix."""
