"""Cassettes: recorded exchanges in HAR 1.2 (the HTTP Archive format that
browsers' devtools, Hoverfly, Redocly and many other tools read).

Why HAR rather than VCR.py's cassettes: HAR gives every exchange its start
instant (``startedDateTime``) and duration (``time``), which calibration
needs; it is JSON any tool reads; and it keeps requests and answers whole
(headers as lists, bodies with their MIME type). Writing uses ``harfile``
(a streaming HAR writer, maintained by Schemathesis's author and already in
the contract kit's tree): each exchange is appended as it ends and flushed,
so a long recording costs no more per exchange than its own bytes. Reading
uses the standard library's ``json`` (the HAR readers on PyPI are
unmaintained, and reading entries is a few lines); a cassette whose
recorder was killed before it closed the file (no closing brackets) is read
up to its last whole exchange.

:func:`har_problems` checks a document against the fields HAR 1.2 requires
(http://www.softwareishard.com/blog/har-12-spec/).
"""
from __future__ import annotations

import base64
import binascii
import json
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from ..times import parse_iso8601

#: How a cassette names its writer (HAR ``log.creator.name``).
CREATOR = "userpilot-mock"
#: Bodies above this many bytes are kept only in part in a cassette.
MAX_KEPT_BODY = 16 * 1024 * 1024


class CassetteError(ValueError):
    """A file that is not a cassette: ``path`` and ``problem``;
    ``str()`` is ``"<path>: <problem>"``."""

    def __init__(self, path: str, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


@dataclass(frozen=True)
class Exchange:
    """One request and its answer.

    ``method`` (upper case); ``url`` (absolute); ``path`` (as sent, not
    percent-decoded) and ``query`` (``(name, value)`` pairs, decoded);
    ``request_headers`` / ``response_headers`` (``(name, value)`` pairs,
    names as sent); ``request_body`` (bytes, ``b""`` when none);
    ``status`` and ``reason``; ``body`` (the answer's bytes, decoded of any
    content encoding); ``started`` (UTC epoch seconds, when the request
    went out); ``elapsed_ms`` (until the answer's last byte).
    """

    method: str
    url: str
    path: str
    query: tuple[tuple[str, str], ...]
    request_headers: tuple[tuple[str, str], ...]
    request_body: bytes
    status: int
    reason: str
    response_headers: tuple[tuple[str, str], ...]
    body: bytes
    started: float
    elapsed_ms: float
    comment: str = ""

    def header(self, name: str, *, response: bool = True) -> str | None:
        """A header's value (any case), None when absent."""
        lower = name.lower()
        pairs = self.response_headers if response else self.request_headers
        return next((v for k, v in pairs if k.lower() == lower), None)

    @property
    def mime(self) -> str:
        return self.header("content-type") or ""

    def json(self):
        """The answer's body as JSON; None when it is not JSON."""
        if "json" not in self.mime.lower() and self.body[:1] not in (b"[", b"{"):
            return None
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            return None

    @property
    def decoded_path(self) -> str:
        return unquote(self.path)


# ----------------------------------------------------------------- writing

def _text_or_base64(data: bytes) -> tuple[str, str | None]:
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii"), "base64"


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="milliseconds")


def entry(exchange: Exchange) -> dict:
    """The HAR 1.2 ``entries[]`` item of ``exchange`` (as :class:`CassetteWriter`
    writes it)."""
    text, encoding = _text_or_base64(exchange.body[:MAX_KEPT_BODY])
    content: dict = {"size": len(exchange.body), "mimeType": exchange.mime, "text": text}
    if encoding:
        content["encoding"] = encoding
    request: dict = {
        "method": exchange.method, "url": exchange.url, "httpVersion": "HTTP/1.1", "cookies": [],
        "headers": [{"name": k, "value": v} for k, v in exchange.request_headers],
        "queryString": [{"name": k, "value": v} for k, v in exchange.query],
        "headersSize": -1, "bodySize": len(exchange.request_body),
    }
    if exchange.request_body:
        body_text, body_encoding = _text_or_base64(exchange.request_body[:MAX_KEPT_BODY])
        request["postData"] = {"mimeType": exchange.header("content-type", response=False) or "",
                               "text": body_text if body_encoding is None else ""}
        if body_encoding is not None:
            request["postData"]["comment"] = "binary body, not kept"
    out = {
        "startedDateTime": _iso(exchange.started),
        "time": round(exchange.elapsed_ms, 3),
        "request": request,
        "response": {
            "status": exchange.status, "statusText": exchange.reason, "httpVersion": "HTTP/1.1", "cookies": [],
            "headers": [{"name": k, "value": v} for k, v in exchange.response_headers],
            "content": content, "redirectURL": exchange.header("location") or "",
            "headersSize": -1, "bodySize": len(exchange.body),
        },
        "cache": {},
        "timings": {"send": 0, "wait": round(exchange.elapsed_ms, 3), "receive": 0},
    }
    if exchange.comment:
        out["comment"] = exchange.comment
    return out


class CassetteWriter:
    """Appends exchanges to a HAR file at ``path`` (created, or replaced),
    each flushed as soon as it is added; :meth:`close` writes the closing
    brackets. Thread-safe. ``comment``: the log's comment (what was
    recorded). Raises OSError when the file cannot be written."""

    def __init__(self, path: str | Path, *, comment: str = ""):
        import harfile  # deferred: only writing a cassette needs it (the record and contract extras)

        from .. import __version__

        self.path = Path(path)
        self._lock = threading.Lock()
        self._harfile = harfile
        self._fd = self.path.open("w", encoding="utf-8")
        self._file = harfile.open(self._fd, creator=harfile.Creator(name=CREATOR, version=__version__),
                                  comment=comment or None)
        self.count = 0

    def add(self, exchange: Exchange) -> None:
        """Append one exchange (already redacted: :mod:`.redact`)."""
        item = entry(exchange)
        h = self._harfile
        req, res = item["request"], item["response"]
        post = req.get("postData")
        request = h.Request(method=req["method"], url=req["url"], httpVersion=req["httpVersion"],
                            headers=[h.Record(name=x["name"], value=x["value"]) for x in req["headers"]],
                            queryString=[h.Record(name=x["name"], value=x["value"]) for x in req["queryString"]],
                            postData=h.PostData(mimeType=post["mimeType"], text=post["text"],
                                                comment=post.get("comment")) if post else None,
                            bodySize=req["bodySize"])
        content = res["content"]
        response = h.Response(status=res["status"], statusText=res["statusText"], httpVersion=res["httpVersion"],
                              headers=[h.Record(name=x["name"], value=x["value"]) for x in res["headers"]],
                              content=h.Content(size=content["size"], mimeType=content["mimeType"],
                                                text=content["text"], encoding=content.get("encoding")),
                              redirectURL=res["redirectURL"], bodySize=res["bodySize"])
        timings = h.Timings(send=0, wait=item["timings"]["wait"], receive=0)
        with self._lock:
            if self._file.closed:
                return
            self._file.add_entry(startedDateTime=item["startedDateTime"], time=item["time"], request=request,
                                 response=response, timings=timings, comment=item.get("comment"))
            self._file.flush()
            self.count += 1

    def close(self) -> None:
        """Finish the file (idempotent)."""
        with self._lock:
            if not self._file.closed:
                self._file.close()
                self._fd.close()

    def __enter__(self) -> CassetteWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_cassette(path: str | Path, exchanges: Iterable[Exchange], *, comment: str = "") -> int:
    """Write ``exchanges`` (already redacted) as one HAR file; returns how many."""
    with CassetteWriter(path, comment=comment) as writer:
        for exchange in exchanges:
            writer.add(exchange)
        return writer.count


# ----------------------------------------------------------------- reading

def _repaired(text: str) -> str | None:
    """The text of a cassette whose writer was killed before closing it,
    closed after its last whole entry; None when that does not help."""
    end = text.rfind("\n            }")
    if '"entries": [' not in text:
        return None
    if end < 0:
        return text[: text.index('"entries": [') + len('"entries": [')] + "]}}"
    return text[: end + len("\n            }")] + "\n]}}"


def load_har(path: str | os.PathLike) -> dict:
    """The parsed HAR document in ``path`` (a cassette left unclosed by a
    killed recorder is read up to its last whole exchange). Raises
    :class:`CassetteError` for a file that cannot be read or is not HAR."""
    label = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CassetteError(label, "not UTF-8 text (a HAR file is JSON)") from None
    except OSError as exc:
        raise CassetteError(label, f"cannot be read: {exc.strerror or exc}") from None
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        repaired = _repaired(text)
        try:
            document = json.loads(repaired) if repaired is not None else None
        except (ValueError, RecursionError):
            document = None
        if document is None:
            raise CassetteError(label, "not JSON, so not a HAR file") from None
    problems = har_problems(document)
    if problems:
        raise CassetteError(label, f"not a HAR 1.2 file: {problems[0]}"
                                   + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))
    return document


def _pairs(items) -> tuple[tuple[str, str], ...]:
    return tuple((str(x.get("name", "")), str(x.get("value", ""))) for x in items or () if isinstance(x, dict))


def exchange_of(item: dict) -> Exchange:
    """The :class:`Exchange` of one HAR entry (any writer's: bodies may be
    missing, base64 or text)."""
    req, res = item["request"], item["response"]
    parts = urlsplit(req["url"])
    content = res.get("content") or {}
    text = content.get("text")
    body = b""
    if isinstance(text, str):
        if content.get("encoding") == "base64":
            try:
                body = base64.b64decode(text)
            except (binascii.Error, ValueError):
                body = b""
        else:
            body = text.encode("utf-8")
    post = req.get("postData") or {}
    query = _pairs(req.get("queryString")) or tuple(parse_qsl(parts.query, keep_blank_values=True))
    started = parse_iso8601(item.get("startedDateTime") or "") or 0.0
    return Exchange(method=str(req["method"]).upper(), url=req["url"], path=parts.path or "/", query=query,
                    request_headers=_pairs(req.get("headers")),
                    request_body=str(post.get("text") or "").encode("utf-8"),
                    status=int(res["status"]), reason=str(res.get("statusText") or ""),
                    response_headers=_pairs(res.get("headers")), body=body, started=started,
                    elapsed_ms=float(item.get("time") or 0), comment=str(item.get("comment") or ""))


def read_cassette(path: str | os.PathLike) -> list[Exchange]:
    """Every exchange of the cassette at ``path``, in the order recorded
    (by start instant; ties keep the file's order). Raises CassetteError."""
    document = load_har(path)
    exchanges = [exchange_of(item) for item in document["log"]["entries"]]
    return sorted(exchanges, key=lambda e: e.started)


def read_cassettes(paths: Iterable[str | Path]) -> list[Exchange]:
    """The exchanges of several cassettes, in the order recorded."""
    out: list[Exchange] = []
    for path in paths:
        out.extend(read_cassette(path))
    return sorted(out, key=lambda e: e.started)


# ---------------------------------------------------------------- checking

_REQUIRED = {
    "log": ("version", "creator", "entries"),
    "creator": ("name", "version"),
    "entry": ("startedDateTime", "time", "request", "response", "cache", "timings"),
    "request": ("method", "url", "httpVersion", "cookies", "headers", "queryString", "headersSize", "bodySize"),
    "response": ("status", "statusText", "httpVersion", "cookies", "headers", "content", "redirectURL",
                 "headersSize", "bodySize"),
    "content": ("size", "mimeType"),
    "timings": ("send", "wait", "receive"),
    "record": ("name", "value"),
}


def har_problems(document) -> list[str]:
    """What ``document`` lacks of HAR 1.2's required fields and types
    (``log.version``/``creator``/``entries``; each entry's
    ``startedDateTime`` (ISO 8601), ``time``, ``request``, ``response``,
    ``cache``, ``timings`` with their own required fields; headers, query
    strings and cookies as lists of ``{name, value}``); ``[]`` when none."""
    problems: list[str] = []

    def need(obj, kind: str, where: str) -> bool:
        if not isinstance(obj, dict):
            problems.append(f"{where} is not an object")
            return False
        for name in _REQUIRED[kind]:
            if name not in obj:
                problems.append(f"{where}.{name} is missing")
        return True

    if not isinstance(document, dict) or not need(document.get("log"), "log", "log"):
        return problems or ["log is missing"]
    log = document["log"]
    if "version" in log and not isinstance(log["version"], str):
        problems.append("log.version is not a string")
    if "creator" in log:
        need(log["creator"], "creator", "log.creator")
    entries = log.get("entries")
    if not isinstance(entries, list):
        problems.append("log.entries is not a list")
        return problems
    for i, item in enumerate(entries):
        where = f"log.entries[{i}]"
        if not need(item, "entry", where):
            continue
        if isinstance(item.get("startedDateTime"), str) and parse_iso8601(item["startedDateTime"]) is None:
            problems.append(f"{where}.startedDateTime is not ISO 8601")
        if "time" in item and not isinstance(item["time"], (int, float)):
            problems.append(f"{where}.time is not a number")
        for part in ("request", "response"):
            if part in item and need(item[part], part, f"{where}.{part}"):
                for lst in ("headers", "cookies") + (("queryString",) if part == "request" else ()):
                    value = item[part].get(lst)
                    if lst in item[part] and not isinstance(value, list):
                        problems.append(f"{where}.{part}.{lst} is not a list")
                    elif isinstance(value, list) and lst != "cookies":
                        for j, record in enumerate(value):
                            need(record, "record", f"{where}.{part}.{lst}[{j}]")
        response = item.get("response")
        if isinstance(response, dict) and "content" in response:
            need(response["content"], "content", f"{where}.response.content")
        if isinstance(response, dict) and not isinstance(response.get("status"), int):
            problems.append(f"{where}.response.status is not an integer")
        if "timings" in item:
            need(item["timings"], "timings", f"{where}.timings")
        if "cache" in item and not isinstance(item["cache"], dict):
            problems.append(f"{where}.cache is not an object")
    return problems


@dataclass
class Recorded:
    """Exchanges gathered in memory (the contract run's), written at the end
    (:meth:`write`)."""

    exchanges: list[Exchange] = field(default_factory=list)

    def add(self, exchange: Exchange) -> None:
        self.exchanges.append(exchange)

    def __iter__(self) -> Iterator[Exchange]:
        return iter(self.exchanges)

    def write(self, path: str | Path, comment: str = "") -> int:
        return write_cassette(path, self.exchanges, comment=comment)


__all__ = ["CREATOR", "CassetteError", "CassetteWriter", "Exchange", "Recorded", "entry", "exchange_of",
           "har_problems", "load_har", "read_cassette", "read_cassettes", "write_cassette"]
