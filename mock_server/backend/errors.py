"""Errors the backend raises; the HTTP layer turns them into the API's
documented error shape ``{"errors": [{"details", "error", "error_code",
"message"}]}`` (docs/domain.md, "Errors")."""
from __future__ import annotations


class ApiError(Exception):
    """An answer other than success, carrying an HTTP status and the four
    fields of the vendor's ErrorResponse item.

    ``status`` is the HTTP status code (400..599); ``error`` a short label;
    ``error_code`` a stable machine-readable code; ``message`` a sentence for
    people; ``details`` more context (never an API key).
    """

    status = 400
    error = "Bad Request"
    error_code = "bad_request"

    def __init__(self, message: str, details: str = "", *, status: int | None = None,
                 error: str | None = None, error_code: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or message
        if status is not None:
            self.status = status
        if error is not None:
            self.error = error
        if error_code is not None:
            self.error_code = error_code
        self.headers = dict(headers or {})

    def body(self) -> dict:
        """The ErrorResponse document for this error."""
        return {"errors": [{"details": self.details, "error": self.error,
                            "error_code": self.error_code, "message": self.message}]}


class BadRequest(ApiError):
    """400: the request is malformed or names impossible values."""


#: The vendor's message for 401 (createImport's documented 401; docs/domain.md).
UNAUTHORIZED_MESSAGE = "Invalid API key or insufficient permissions"


class Unauthorized(ApiError):
    """401: missing, empty or unaccepted API key (vendor: "Invalid API key or
    insufficient permissions")."""
    status = 401
    error = "Unauthorized"
    error_code = "unauthorized"


class NotFound(ApiError):
    """404: no such path, job or app."""
    status = 404
    error = "Not Found"
    error_code = "not_found"


#: The code of the 404 for a job the caller's app does not have (getJob).
JOB_NOT_FOUND = "job_not_found"


class Conflict(ApiError):
    """409: e.g. "Import job already in progress" (documented on createImport)."""
    status = 409
    error = "Conflict"
    error_code = "conflict"
