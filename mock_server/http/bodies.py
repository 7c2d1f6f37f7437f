"""Reading a JSON request body, bounded, for the operations that take one
(the export trigger, bulk identify, the real-time calls).

The body is read up to a limit (from ``Content-Length`` up front when it
shows the body cannot fit, else while reading), decoded as UTF-8 and parsed
strictly (RFC 8259: no ``NaN``); every refusal is an
:class:`~mock_server.backend.errors.ApiError` in the vendor's error shape.
"""
from __future__ import annotations

import json

from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge
from werkzeug.wsgi import get_content_length, get_input_stream

from ..backend import jsonutil
from ..backend.errors import ApiError, BadRequest

#: Marks "no body at all" (an empty body, not a JSON ``null``).
NO_BODY = object()


class PayloadTooLarge(ApiError):
    """413: a body over the operation's limit."""
    status = 413
    error = "Payload Too Large"
    error_code = "payload_too_large"


def too_large(limit: int, seen: int | None = None) -> PayloadTooLarge:
    """The 413 of a body over ``limit`` bytes (``seen``: its Content-Length)."""
    got = f"; this request body has {seen:,} bytes" if seen is not None else ""
    return PayloadTooLarge(f"The request body is over the {limit:,}-byte limit", f"at most {limit:,} bytes{got}")


def read_body(environ: dict, limit: int, *, too_big=None) -> bytes:
    """The request body, at most ``limit`` bytes. Raises ``too_big(length)``
    (default :func:`too_large`) past it, BadRequest when it ends before its
    ``Content-Length``."""
    too_big = too_big or (lambda seen: too_large(limit, seen))
    length = get_content_length(environ)
    if length is not None and length > limit:
        raise too_big(length)
    stream = get_input_stream(environ, max_content_length=limit)
    try:
        data = stream.read(limit + 1)
    except RequestEntityTooLarge:
        raise too_big(None) from None
    except ClientDisconnected:
        raise BadRequest("The body ended before its Content-Length", "the client sent fewer bytes than announced") \
            from None
    if len(data) > limit:
        raise too_big(None)
    return data


def parse_json(data: bytes, what: str = "The body"):
    """The JSON value of ``data`` (UTF-8), :data:`NO_BODY` for an empty or
    blank body. Raises BadRequest (``invalid_json``) naming the problem."""
    if not data.strip():
        return NO_BODY
    try:
        return jsonutil.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise BadRequest(f"{what} is not UTF-8 text", f"{exc.reason} at byte {exc.start}",
                         error_code="invalid_json") from None
    except json.JSONDecodeError as exc:
        raise BadRequest(f"{what} is not valid JSON", f"{exc.msg} at line {exc.lineno} column {exc.colno}",
                         error_code="invalid_json") from None
    except RecursionError:
        raise BadRequest(f"{what} is not valid JSON", "nested too deeply", error_code="invalid_json") from None
    except ValueError as exc:  # NaN/Infinity, a number too long to read
        raise BadRequest(f"{what} is not valid JSON", str(exc)[:200], error_code="invalid_json") from None


def json_body(environ: dict, limit: int, *, too_big=None):
    """Read and parse a JSON body (:func:`read_body`, :func:`parse_json`)."""
    return parse_json(read_body(environ, limit, too_big=too_big))


__all__ = ["NO_BODY", "PayloadTooLarge", "json_body", "parse_json", "read_body", "too_large"]
