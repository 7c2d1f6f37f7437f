"""``/__admin/ui/``: the dashboard, static files shipped in this package
(``ui/``: HTML, CSS and JavaScript, no build step, nothing fetched from
elsewhere). The page is a client of the control API like any other
(docs/dashboard.md)."""
from __future__ import annotations

from functools import cache
from pathlib import Path

from flask import Response

from ...backend.errors import NotFound
from .base import control

#: Where the files are, and the only names served from there.
UI_DIR = Path(__file__).with_name("ui")
TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}
#: The page runs only its own files: no inline script or style, no other origin, never framed.
POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
          "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


@cache
def _files() -> dict[str, bytes]:
    """Name -> bytes of every file of ``ui/`` with a served suffix (read once)."""
    return {path.name: path.read_bytes() for path in sorted(UI_DIR.iterdir())
            if path.is_file() and path.suffix in TYPES}


def _serve(name: str) -> Response:
    body = _files().get(name)
    if body is None:
        raise NotFound(f"No operation at /__admin/ui/{name}", f"the dashboard's files: {', '.join(_files())}")
    response = Response(body, content_type=TYPES[Path(name).suffix])
    response.headers["Content-Security-Policy"] = POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@control.get("/ui")
@control.get("/ui/")
def dashboard():
    """adminDashboard: the dashboard's page (HTML)."""
    return _serve("index.html")


@control.get("/ui/<name>")
def dashboard_file(name: str):
    """adminDashboardFile: one of the dashboard's files (its script, its style sheet)."""
    return _serve(name)
