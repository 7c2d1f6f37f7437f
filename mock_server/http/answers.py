"""Answers on demand: ``Prefer`` (Prism's convention), ``__code`` /
``__example``, and the answers of injected statuses and body faults, built
from the kit spec.

The decisions (fault rules, counting, rate-limit windows) live in
:mod:`mock_server.backend.faults`; the pipeline's stages
(:mod:`mock_server.http.stages`) ask here what to answer.
"""
from __future__ import annotations

import re

from werkzeug.http import HTTP_STATUS_CODES

from ..backend.errors import UNAUTHORIZED_MESSAGE, ApiError, BadRequest
from ..backend.faults import DEFAULT_RETRY_AFTER
from ..spec import resolve
from .generic import example_for
from .render import JSON_TYPE, Answer, encode, error_answer, json_answer

#: The vendor's messages of documented statuses (docs/domain.md).
_MESSAGES = {401: UNAUTHORIZED_MESSAGE}
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED = r'"(?:[^"\\]|\\.)*"'
#: One preference of RFC 7240: ``token [= word] *(; parameter)``, then a
#: comma or the end.
_PREFERENCE = re.compile(
    rf'[\s,]*({_TOKEN})(?:\s*=\s*({_QUOTED}|[^\s,;"]*))?\s*((?:;(?:[^,"]|{_QUOTED})*)?)\s*(?:,|$)')


# -- Prefer --------------------------------------------------------------------
def parse_prefer(text: str) -> dict[str, str | None]:
    """The preferences of a ``Prefer`` header value: lower-cased name ->
    value (unquoted; None when given without one). The first of repeated
    names wins (RFC 7240 section 2); parameters after ``;`` are ignored.
    Raises BadRequest for text that is not a list of preferences."""
    prefs: dict[str, str | None] = {}
    pos, end = 0, len(text)
    while pos < end:
        if not text[pos:].strip(" \t,"):
            break
        match = _PREFERENCE.match(text, pos)
        if match is None or match.end() == pos:
            raise BadRequest(f"unparseable Prefer header: {text!r}",
                             "expected preferences like 'code=429' or 'example=NAME', separated by commas",
                             error_code="bad_prefer")
        name, value = match.group(1).lower(), match.group(2)
        if value is not None and value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        prefs.setdefault(name, value)
        pos = match.end()
    return prefs


def _responses(op_spec: dict) -> dict:
    """The operation's responses keyed by upper-case strings ("200", "4XX")."""
    return {str(code).upper(): response for code, response in (op_spec.get("responses") or {}).items()}


def _documented_codes(op_spec: dict) -> set[str]:
    return set(_responses(op_spec))


def _response_spec(spec: dict, op_spec: dict, status: int):
    responses = _responses(op_spec)
    for key in (str(status), f"{status // 100}XX"):
        if key in responses:
            return resolve(spec, responses[key])
    return None


def _json_media(response: dict | None) -> dict | None:
    for media_type, media in ((response or {}).get("content") or {}).items():
        if "json" in media_type:
            return media or {}
    return None


def _named_examples(spec: dict, response: dict | None) -> dict:
    media = _json_media(response) or {}
    return {name: resolve(spec, example) for name, example in (media.get("examples") or {}).items()}


def check_status_preference(op_spec: dict, value, where: str) -> int:
    """The status code a ``code`` preference names: three digits, 400-599 or
    one of the operation's documented codes. Raises BadRequest otherwise."""
    if value is None or not re.fullmatch(r"[1-5]\d\d", value.strip()):
        raise BadRequest(f"{where} must be an HTTP status code such as 404 or 429, got {value!r}",
                         error_code="bad_prefer")
    status = int(value)
    documented = _documented_codes(op_spec)
    if not (400 <= status <= 599 or str(status) in documented or f"{status // 100}XX" in documented):
        codes = ", ".join(sorted(documented)) or "none"
        raise BadRequest(f"{where} {status} is neither an error code (400-599) nor documented "
                         f"for this operation", f"documented: {codes}", error_code="bad_prefer")
    return status


class Answers:
    """Builds the answers of injected statuses from the kit spec: the
    operation's documented response where it has one (a named or inline
    example, else the ErrorResponse shape with the documented description
    as message, else a value generated from its schema), else a generic
    answer in the error shape."""

    def __init__(self, spec: dict, operations: dict):
        self.spec = spec
        self.operations = operations
        self._documented: dict = {}

    def _documented_body(self, operation, status: int):
        """(kind, value) for a documented status: ("example", value),
        ("error", (label, message)) or ("schema", value); None when
        undocumented or without a JSON body."""
        key = (operation.operation_id, status)
        if key not in self._documented:
            response = _response_spec(self.spec, operation.spec, status)
            media = _json_media(response)
            found = None
            if media is not None:
                examples = _named_examples(self.spec, response)
                schema = resolve(self.spec, media.get("schema") or {})
                if examples:
                    found = ("example", next(iter(examples.values())).get("value"))
                elif "example" in media:
                    found = ("example", media["example"])
                elif "errors" in (schema.get("properties") or {}):
                    label, _, message = (response.get("description") or "").partition(" - ")
                    found = ("error", (label.strip(), message.strip()))
                else:
                    found = ("schema", example_for(self.spec, schema))
            self._documented[key] = found
        return self._documented[key]

    def error(self, operation, status: int, source: str, retry_after: int | None = None) -> Answer:
        """The answer of an injected ``status`` for ``operation``; ``source``
        says what injected it (in ``details``). A 429 always carries
        ``Retry-After``; a 405 ``Allow``."""
        reason = HTTP_STATUS_CODES.get(status, "Error")
        headers = {}
        if status == 429 and retry_after is None:
            retry_after = DEFAULT_RETRY_AFTER
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        if status == 405:
            headers["Allow"] = ", ".join(sorted({op.method for op in self.operations.values()
                                                 if op.path == operation.path}))
        documented = self._documented_body(operation, status)
        if documented is not None and documented[0] != "error":
            return json_answer(encode(documented[1]), status, headers)
        message = _MESSAGES.get(status, reason)
        if documented is not None:
            message = documented[1][1] or message
        details = f"injected by userpilot-mock ({source})"
        error_code = re.sub(r"[^a-z0-9]+", "_", reason.lower()).strip("_") or "error"
        return error_answer(ApiError(message, details, status=status, error=reason,
                                       error_code=error_code, headers=headers))

    def example(self, operation, name: str, status: int | None) -> Answer:
        """The named example ``name`` of ``operation`` (in the response of
        ``status`` when given, else the first response that has it). Raises
        BadRequest listing the names it has when it has no such example."""
        responses = _responses(operation.spec)
        codes = list(responses)
        if status is not None:
            codes = [c for c in codes if c in (str(status), f"{status // 100}XX")]
        codes.sort(key=lambda c: (not c.startswith("2"), c))
        names: list[str] = []
        for code in codes:
            examples = _named_examples(self.spec, resolve(self.spec, responses[code]))
            if name in examples:
                answer = status if status is not None else (int(code) if code.isdigit() else 200)
                headers = {"Preference-Applied": f"example={name}"}
                if answer == 429:
                    headers["Retry-After"] = str(DEFAULT_RETRY_AFTER)
                return json_answer(encode(examples[name].get("value")), answer, headers)
            names.extend(n for n in examples if n not in names)
        where = f" in its {status} response" if status is not None else ""
        raise BadRequest(f"{operation.operation_id} has no example named {name!r}{where}",
                         f"examples it has: {', '.join(names) if names else 'none'}",
                         error_code="unknown_example")


def preferences(operation, environ: dict, args) -> tuple[int | None, str | None, str]:
    """(status, example name, label) asked by ``Prefer`` or, failing that,
    the ``__code`` / ``__example`` query parameters (``args``: the parsed
    query). Raises BadRequest."""
    status = example = None
    label = ""
    header = environ.get("HTTP_PREFER")
    if header:
        prefs = parse_prefer(header)
        if "code" in prefs:
            status = check_status_preference(operation.spec, prefs["code"], "Prefer code")
            label = f"Prefer: code={status}"
        if "example" in prefs:
            example = prefs["example"]
            if not example:
                raise BadRequest("Prefer example needs a name, e.g. example=empty", error_code="bad_prefer")
    if "__" in environ.get("QUERY_STRING", ""):
        if status is None and "__code" in args:
            status = check_status_preference(operation.spec, args.get("__code"), "__code")
            label = f"__code={status}"
        if example is None and "__example" in args:
            example = args.get("__example")
            if not example:
                raise BadRequest("__example needs a name", error_code="bad_prefer")
    return status, example, label


# -- body faults ---------------------------------------------------------------
def malformed_response_chunk(answer: Answer) -> Answer:
    """MALFORMED_RESPONSE_CHUNK: the operation's ``answer`` (its status, a
    200 for a good request) declaring the ``Content-Length`` of its whole
    body but carrying only the first half; the server then closes the
    connection (the client sees an incomplete read)."""
    body = answer.body if isinstance(answer.body, bytes) else b"".join(answer.body)
    if len(body) < 2:
        body = b"{}"
    return Answer(answer.status, body[: len(body) // 2], [("Content-Type", JSON_TYPE)], length=len(body))


def random_data_then_close(data: bytes) -> Answer:
    """RANDOM_DATA_THEN_CLOSE: a 200 "JSON" answer of ``data`` (bytes that
    are not JSON), streamed without a length so that the server closes the
    connection after it (waitress ends such a body by closing; Granian sends
    it chunked, then closes: :mod:`mock_server.granian_server`)."""
    return Answer(200, iter([data]), [("Content-Type", JSON_TYPE)])


__all__ = ["Answers", "check_status_preference", "malformed_response_chunk", "parse_prefer", "preferences",
           "random_data_then_close"]
