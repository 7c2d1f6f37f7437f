"""What a cassette never holds: the API key and anything else secret.

One rule for what is secret, the journal's (:data:`~mock_server.backend.journal.SECRET_NAME`:
a name with key, token, secret, password, passwd, auth or signature in it):

- the ``Authorization`` header is kept as a placeholder (``Token [Filtered]``),
  so a cassette still shows that the request carried a key;
- cookies are dropped (``Cookie``, ``Set-Cookie``);
- other headers, query parameters and JSON fields (at any depth, request
  and answer) with a secret-like name read ``[Filtered]``; so do the
  secret-like query parameters of a URL a JSON string holds (an export's
  presigned URLs: ``X-Amz-Signature``, ``X-Amz-Security-Token``), the rest
  of the URL kept;
- app tokens are kept: a field named ``app_token`` (or ``..._app_token``),
  or whose value has the app token shape, is not a secret (it names the
  app, and the shapes need it);
- and every occurrence of a secret found so (the key of the Authorization
  header above all) anywhere else in the exchange, in the URL, a header or
  a body echoing it, reads ``[API key]`` or ``[Filtered]``.
"""
from __future__ import annotations

import json
import re
from dataclasses import replace
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..backend.journal import FILTERED, SECRET_NAME
from ..http.auth import api_key_of
from ..ids import is_app_token
from .har import Exchange

#: What the API key is replaced with wherever it appears.
KEY_MASK = "[API key]"
#: The Authorization header as a cassette keeps it.
AUTHORIZATION_PLACEHOLDER = "Token [Filtered]"
#: Headers dropped whole.
DROPPED_HEADERS = frozenset({"cookie", "set-cookie", "cookie2", "set-cookie2"})
#: Headers named like secrets that are not (their values are kept).
PUBLIC_HEADERS = frozenset({"x-request-id"})
_APP_TOKEN_NAME = re.compile(r"(^|_)app_token$", re.IGNORECASE)
#: Secrets shorter than this are not searched for elsewhere (they would mask ordinary text).
MIN_SECRET_LENGTH = 4


def secret_name(name: str) -> bool:
    """Whether a header, parameter or field named ``name`` holds a secret."""
    return bool(SECRET_NAME.search(name)) and not _APP_TOKEN_NAME.search(name)


def _filter_url(text: str, found: set[str]) -> str:
    """A URL with its secret-like query parameters filtered (their values
    added to ``found``); any other text as it is."""
    if "?" not in text or not text.startswith(("http://", "https://")):
        return text
    parts = urlsplit(text)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if not any(secret_name(name) for name, _value in pairs):
        return text
    kept = []
    for name, value in pairs:
        if secret_name(name):
            if value:
                found.add(value)
            kept.append((name, FILTERED))
        else:
            kept.append((name, value))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(kept), parts.fragment))


def _filter_json(value, found: set[str]):
    if isinstance(value, dict):
        out = {}
        for name, item in value.items():
            if isinstance(name, str) and secret_name(name) and not (isinstance(item, str) and is_app_token(item)):
                if isinstance(item, str) and item:
                    found.add(item)
                out[name] = FILTERED
            else:
                out[name] = _filter_json(item, found)
        return out
    if isinstance(value, list):
        return [_filter_json(item, found) for item in value]
    if isinstance(value, str):
        return _filter_url(value, found)
    return value


def _filtered_body(body: bytes, found: set[str]) -> bytes:
    """A JSON body with its secret-like fields filtered; other bodies as they are."""
    stripped = body.lstrip()[:1]
    if stripped not in (b"{", b"["):
        return body
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return body
    before = len(found)
    filtered = _filter_json(document, found)
    if len(found) == before and filtered == document:
        return body  # unchanged: keep the bytes as sent
    return json.dumps(filtered, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def redact(exchange: Exchange, extra_secrets: tuple[str, ...] = ()) -> Exchange:
    """``exchange`` as a cassette may hold it (see the module docstring).
    ``extra_secrets``: values to mask wherever they appear (a contract
    run's key)."""
    found: set[str] = {s for s in extra_secrets if s}
    key = KEY_MASK
    masks: dict[str, str] = {s: key for s in found}

    request_headers = []
    for name, value in exchange.request_headers:
        lower = name.lower()
        if lower in DROPPED_HEADERS:
            continue
        if lower == "authorization":
            secret = api_key_of(value) or value.strip()
            if secret:
                masks[secret] = key
            request_headers.append((name, AUTHORIZATION_PLACEHOLDER if api_key_of(value) else FILTERED))
        elif secret_name(lower) and lower not in PUBLIC_HEADERS:
            if value:
                masks.setdefault(value, FILTERED)
            request_headers.append((name, FILTERED))
        else:
            request_headers.append((name, value))
    response_headers = []
    for name, value in exchange.response_headers:
        lower = name.lower()
        if lower in DROPPED_HEADERS:
            continue
        if secret_name(lower) and lower not in PUBLIC_HEADERS:
            if value:
                masks.setdefault(value, FILTERED)
            response_headers.append((name, FILTERED))
        else:
            response_headers.append((name, value))
    query = []
    for name, value in exchange.query:
        if secret_name(name):
            if value:
                masks.setdefault(value, FILTERED)
            query.append((name, FILTERED))
        else:
            query.append((name, value))
    fields: set[str] = set()
    request_body = _filtered_body(exchange.request_body, fields)
    body = _filtered_body(exchange.body, fields)
    for value in fields:
        masks.setdefault(value, FILTERED)
    masks = {s: m for s, m in masks.items() if len(s) >= MIN_SECRET_LENGTH and s not in (FILTERED, KEY_MASK)}

    parts = urlsplit(exchange.url)
    url = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))

    def mask(text: str) -> str:
        for secret in sorted(masks, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, masks[secret])
        return text

    def mask_bytes(data: bytes) -> bytes:
        for secret in sorted(masks, key=len, reverse=True):
            raw = secret.encode("utf-8", "surrogatepass")
            if raw in data:
                data = data.replace(raw, masks[secret].encode("utf-8"))
        return data

    return replace(
        exchange, url=mask(url), path=mask(exchange.path),
        query=tuple((mask(k), mask(v)) for k, v in query),
        request_headers=tuple((k, mask(v)) for k, v in request_headers),
        response_headers=tuple((k, mask(v)) for k, v in response_headers),
        request_body=mask_bytes(request_body), body=mask_bytes(body), comment=mask(exchange.comment))


def masked_path(path: str, query: str) -> str:
    """A request line's target for a log: ``path?query`` with secret-like
    parameter values filtered."""
    if not query:
        return path
    pairs = [(k, FILTERED if secret_name(k) else v) for k, v in parse_qsl(query, keep_blank_values=True)]
    return f"{path}?{urlencode(pairs)}"


__all__ = ["AUTHORIZATION_PLACEHOLDER", "KEY_MASK", "masked_path", "redact", "secret_name"]
