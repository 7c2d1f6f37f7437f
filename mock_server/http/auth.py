"""The one reader of ``Authorization: Token <API key>`` (docs/domain.md,
"The surface": the vendor's authentication page).

The scheme word is read case-insensitively (older vendor pages write
``token``); the key is the rest of the value, white space around it dropped.
Werkzeug's ``Authorization.from_header`` is not used: it reads ``Token a=b``
as an auth-param list (RFC 9110 section 11.4), so a key with ``=`` inside
would have no key at all, and it refuses leading white space.
"""
from __future__ import annotations

import re

from ..backend.errors import UNAUTHORIZED_MESSAGE, BadRequest, Unauthorized

_TOKEN = re.compile(r"\s*token\s+(\S(?:.*\S)?)\s*$", re.IGNORECASE | re.DOTALL)
#: A value holding more than one credential: an empty part at either end, a
#: comma and a space, or a comma before a scheme word and a space.
_REPEATED = re.compile(r"^\s*,|,\s*$|, \S|,\s*[!#$%&'*+.^_`|~0-9A-Za-z-]+\s+\S")
#: A ``Token`` credential at the start of a value or of one of its comma parts.
_HAS_TOKEN = re.compile(r"(?:^|,)\s*token\s+\S", re.IGNORECASE)
MISSING = "missing Authorization header: send 'Authorization: Token <API key>'"
NOT_TOKEN = "the Authorization header must be 'Token <API key>'"
REPEATED = ("the Authorization header was sent more than once: send one 'Authorization: Token <API key>' "
            "(the server joins repeated headers into one value, which would name another app)")


def is_repeated(value: str | None) -> bool:
    """True when an ``Authorization`` value is two headers joined, one of
    them a ``Token`` credential: WSGI servers (waitress, Granian, Werkzeug)
    join repeated header fields with ``", "`` (RFC 9110 section 5.3), and one
    credential never holds a comma followed by a space, a second scheme, or
    nothing. A value with no ``Token`` in it (``"O{Y,"``) names no app
    whichever way it is read: it stays the 401 of a value that is not
    ``Token <key>``."""
    return (value is not None and "," in value and _REPEATED.search(value) is not None
            and _HAS_TOKEN.search(value) is not None)


def api_key_of(value: str | None) -> str | None:
    """The API key in an ``Authorization`` header value, None when the
    value is missing, blank or not ``Token <key>``."""
    if not value:
        return None
    match = _TOKEN.match(value)
    return match.group(1) if match else None


def read_api_key(value: str | None) -> str:
    """The API key in ``Authorization: Token <API key>``. Raises BadRequest
    (``repeated_authorization``) for a header sent more than once
    (:func:`is_repeated`), Unauthorized (``missing_api_key`` or
    ``invalid_authorization``) for a missing, empty or other-scheme one."""
    if is_repeated(value):
        raise BadRequest("The Authorization header was sent more than once", REPEATED,
                         error_code="repeated_authorization")
    key = api_key_of(value)
    if key is not None:
        return key
    if not value or not value.strip():
        raise Unauthorized(UNAUTHORIZED_MESSAGE, MISSING, error_code="missing_api_key")
    raise Unauthorized(UNAUTHORIZED_MESSAGE, NOT_TOKEN, error_code="invalid_authorization")


__all__ = ["MISSING", "NOT_TOKEN", "REPEATED", "api_key_of", "is_repeated", "read_api_key"]
