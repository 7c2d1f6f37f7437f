"""Who may drive the control API: checks every ``/__admin/`` request passes
before its view runs (docs/control-api.md, "Who may call it").

A web page the person running the fake visits can send requests to it: a
"simple" cross-origin request (a form, ``text/plain``) needs no CORS
permission, and a DNS name rebound to 127.0.0.1 reaches it as a same-origin
request. So, in this order:

1. **Host** (403, ``forbidden_host``): while the fake listens on a loopback
   address (or in-process: ``listen_host`` unknown), a request must name a
   loopback host (``localhost``, ``*.localhost``, ``127.0.0.0/8``, ``::1``)
   or the host of ``--public-url``; a rebound name fails. A request without
   ``Host`` (HTTP/1.0, no browser sends it) passes.
2. **Admin token** (401, ``invalid_admin_token``): with ``--admin-token``,
   ``Authorization: Bearer <token>``, compared in constant time.
3. **Content-Type** (415, ``unsupported_media_type``): a request with a body
   must say ``application/json`` (any case, parameters allowed): a browser
   cannot send that cross-origin without a CORS preflight, which the control
   API never grants.
"""
from __future__ import annotations

import hmac
import ipaddress
import re
from urllib.parse import urlsplit

from ...backend.errors import ApiError, Unauthorized

#: ``Host``'s host part: a bracketed IPv6 address or a name/IPv4, then an optional port.
_HOST = re.compile(r"\s*(\[[^\]]*\]|[^:\s]*)(?::\d*)?\s*")
_BEARER = re.compile(r"\s*bearer\s+(\S+)\s*", re.IGNORECASE)
#: The media types a control request body may have (RFC 9110 section 8.3.1: any case).
_JSON = re.compile(r"\s*application/json\s*(;.*)?", re.IGNORECASE | re.DOTALL)


def is_loopback(host: str | None) -> bool:
    """True for a loopback name or address: ``localhost`` and its
    subdomains (RFC 6761), ``127.0.0.0/8``, ``::1`` (brackets allowed);
    True for None (unknown: in-process)."""
    if host is None:
        return True
    name = host.strip().strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def host_name(header: str) -> str:
    """The host of a ``Host`` header value, lower case, without port or brackets."""
    match = _HOST.fullmatch(header)
    name = match.group(1) if match else header
    return name.strip("[]").rstrip(".").lower()


class Guard:
    """The checks of the module docstring, for a fake's ``settings``
    (:class:`~mock_server.config.Settings`)."""

    def __init__(self, settings):
        self.check_host = is_loopback(settings.listen_host)
        allowed = set()
        if settings.public_url:
            public = urlsplit(settings.public_url).hostname
            if public:
                allowed.add(public.lower().rstrip("."))
        self.allowed_hosts = frozenset(allowed)
        token = settings.admin_token
        self.token = token.encode("utf-8") if token else None

    def check(self, environ: dict) -> None:
        """Raise the ApiError (403, 401 or 415) of the first check
        ``environ`` (a control request's WSGI environ) fails."""
        if self.check_host:
            header = environ.get("HTTP_HOST")
            if header is not None:
                name = host_name(header)
                if not is_loopback(name) and name not in self.allowed_hosts:
                    shown = header if len(header) <= 80 else header[:77] + "..."
                    raise ApiError(f"Host {shown!r} is not this fake's: the control API listens on loopback and "
                                   "answers requests naming a loopback host or --public-url's host only",
                                   "a web page cannot reach the control API through a rebound DNS name; "
                                   "call it as http://127.0.0.1:<port>/__admin/ or http://localhost:<port>/__admin/",
                                   status=403, error="Forbidden", error_code="forbidden_host")
        if self.token is not None:
            match = _BEARER.fullmatch(environ.get("HTTP_AUTHORIZATION") or "")
            if match is None or not hmac.compare_digest(match.group(1).encode("utf-8"), self.token):
                raise Unauthorized("The control API needs the admin token",
                                   "send 'Authorization: Bearer <token>', the token the fake was started with "
                                   "(--admin-token, USERPILOT_MOCK_ADMIN_TOKEN)", error_code="invalid_admin_token",
                                   headers={"WWW-Authenticate": 'Bearer realm="userpilot-mock control API"'})
        if _has_body(environ):
            content_type = environ.get("CONTENT_TYPE") or ""
            if not _JSON.fullmatch(content_type):
                shown = content_type.split(";", 1)[0].strip()[:80] or "none"
                raise ApiError("The control API takes JSON bodies only",
                               f"got Content-Type {shown!r}; send 'Content-Type: application/json' "
                               "(curl: -H 'Content-Type: application/json', or --json)", status=415,
                               error="Unsupported Media Type", error_code="unsupported_media_type")


def _has_body(environ: dict) -> bool:
    length = environ.get("CONTENT_LENGTH")
    if length:
        return length.strip() not in ("", "0")
    return "chunked" in (environ.get("HTTP_TRANSFER_ENCODING") or "").lower()


__all__ = ["Guard", "host_name", "is_loopback"]
