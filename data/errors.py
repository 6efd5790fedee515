"""The domain error tree. Each error knows its HTTP status and a short machine code;
`api/errors.py` turns them into problem+json, the CLI into a one-line message."""

from __future__ import annotations


class GazetteerError(Exception):
    """Base of every error the domain raises on purpose."""

    status = 500
    code = "internal-error"
    title = "Internal error"

    def __init__(self, detail: str, *, errors: list[dict[str, str]] | None = None,
                 extra: dict | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.extra = extra or {}  # more members for the problem body, e.g. allowed_actions


class NotFound(GazetteerError):
    """The thing asked for does not exist."""

    status = 404
    code = "not-found"
    title = "Not found"


class InvalidInput(GazetteerError):
    """The input is well-formed HTTP but not acceptable to the domain."""

    status = 422
    code = "invalid-input"
    title = "Invalid input"


class Conflict(GazetteerError):
    """The request conflicts with the current state (duplicate, stale version…)."""

    status = 409
    code = "conflict"
    title = "Conflict"


class NotAuthenticated(GazetteerError):
    """Credentials are missing, wrong or expired."""

    status = 401
    code = "not-authenticated"
    title = "Not authenticated"


class PermissionDenied(GazetteerError):
    """The user is known but their role does not allow this."""

    status = 403
    code = "forbidden"
    title = "Forbidden"


class TooManyRequests(GazetteerError):
    """A caller went over its rate limit or daily quota; it may retry after RETRY_AFTER seconds."""

    status = 429
    code = "too-many-requests"
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: int, extra: dict | None = None) -> None:
        super().__init__(detail, extra=extra)
        self.retry_after = max(1, int(retry_after))
