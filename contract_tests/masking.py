"""Masking a run's API key where it stands, never by replacing its text everywhere.

The kit's own words (the report's frame, operation labels, rules, section
titles, the progress line) never hold the key and are never masked: with the
key ``k`` a report still reads ``userpilot-mock`` and ``background_jobs``.
What a run did not write itself is masked before it reaches any output: what
a server answered (bodies, header values, values quoted in a "seen" line),
what Schemathesis wrote (its failure messages, its curl lines), exception
messages, and the target's URL. There the key is masked where it stands as a
*whole token*: alone, or between spaces, quotes, ``=``, ``&``, ``/``, ``:``,
brackets or the end of a sentence, never inside a longer word such as
``userpilot-mock`` or ``analytex.userpilot.io``. A percent escape or a
backslash escape right before it (``%20KEY``, ``\\nKEY``) is a boundary too,
and the key's percent-encoded and JSON-escaped forms are masked as well.

Curl lines are masked by their parts: the command, its options and the
method stay as they are, a header's value and a URL from its path on are
masked as above (the scheme and host are the target's, given by the user).

Standard library only.
"""
from __future__ import annotations

import json
import re
import string
from collections.abc import Iterable
from urllib.parse import quote

#: What the key is replaced with in any output.
MASK = "[API key]"

#: Characters that make a neighbouring occurrence of the key part of a longer word.
_WORD = frozenset(string.ascii_letters + string.digits + "_-")
#: An escape ending right before an occurrence: a boundary, not part of a word.
_ESCAPE_BEFORE = re.compile(r"(%[0-9A-Fa-f]{2}|\\[nrtbfv0'\"]|\\x[0-9A-Fa-f]{2}|\\u[0-9A-Fa-f]{4})$")
#: ``scheme://host[:port]`` at the start of a URL (not masked in a curl line).
_ORIGIN = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#\s'\"]*")
#: One shell word of a curl line, its quoting kept (quoted runs and bare characters).
_SHELL_WORD = re.compile(r"""(?:'[^']*'|"(?:\\.|[^"\\])*"|\\.|[^\s'"\\])+""")


class KeyMask:
    """Masks the ``secrets`` of one run (the API key and keys derived from it,
    e.g. ``<key>-other-app``) in text the kit did not write.

    ``text(s)``: free text (a server's answer, an exception, a failure
    message); ``curl(s)``: a reproduction command line. Both return the text
    unchanged when it holds none of the secrets as a token; None stays None.
    Empty secrets are ignored; a mask without secrets changes nothing.
    """

    def __init__(self, secrets: Iterable[str | None] = ()):
        forms: set[str] = set()
        for secret in secrets:
            if secret:
                forms.update({secret, json.dumps(secret)[1:-1], quote(secret, safe="")})
        self._forms = sorted(forms, key=len, reverse=True)   # longest first: <key>-other-app before <key>
        self._pattern = re.compile("|".join(re.escape(f) for f in self._forms)) if self._forms else None

    def __bool__(self) -> bool:
        return bool(self._forms)

    def text(self, text):
        """``text`` with every secret masked where it stands as a whole token."""
        if not text or self._pattern is None or not isinstance(text, str):
            return text
        out, last, pos = [], 0, 0
        while True:
            match = self._token(text, pos)
            if match is None:
                break
            start, end = match
            out += [text[last:start], MASK]
            last = pos = end
        if not out:
            return text
        out.append(text[last:])
        return "".join(out)

    def curl(self, line):
        """A curl command line with the secrets masked in its values (header
        values, the URL's path and query, data), its syntax left alone."""
        if not line or self._pattern is None or not isinstance(line, str):
            return line
        out, last, previous = [], 0, ""
        for word in _SHELL_WORD.finditer(line):
            value = word.group(0)
            if value == "curl" or (value.startswith("-") and not value.startswith(("-'", '-"'))) \
                    or previous in ("-X", "--request"):
                masked = value
            elif previous in ("-H", "--header"):
                name, sep, rest = value.partition(":")
                masked = name + sep + self.text(rest) if sep else self.text(value)
            else:
                masked = self._url_or_text(value)
            out += [line[last:word.start()], masked]
            last, previous = word.end(), value
        out.append(line[last:])
        return "".join(out)

    # ----------------------------------------------------------------- helpers
    def _url_or_text(self, word: str) -> str:
        quote_char = word[0] if word[:1] in ("'", '"') else ""
        inner = word[1:] if quote_char else word
        origin = _ORIGIN.match(inner)
        if origin is None:
            return self.text(word)
        return quote_char + origin.group(0) + self.text(inner[origin.end():])

    def _token(self, text: str, pos: int) -> tuple[int, int] | None:
        """``(start, end)`` of the next occurrence of a secret at or after
        ``pos`` that stands as a whole token, None when there is none."""
        assert self._pattern is not None
        while pos <= len(text):
            match = self._pattern.search(text, pos)
            if match is None:
                return None
            start = match.start()
            for form in self._forms:  # the longest form that stands here as a token
                end = start + len(form)
                if text.startswith(form, start) and not _glued_before(text, start) \
                        and not _glued_after(text, end):
                    return start, end
            pos = start + 1
        return None


def _glued_before(text: str, i: int) -> bool:
    if i == 0:
        return False
    c = text[i - 1]
    if c in _WORD:
        return _ESCAPE_BEFORE.search(text, max(0, i - 6), i) is None
    return c == "." and i >= 2 and text[i - 2].isalnum()


def _glued_after(text: str, j: int) -> bool:
    if j >= len(text):
        return False
    c = text[j]
    return c in _WORD or (c == "." and j + 1 < len(text) and text[j + 1].isalnum())


__all__ = ["MASK", "KeyMask"]
