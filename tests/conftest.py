"""Shared helpers for the kit's own tests."""
from __future__ import annotations

import pytest

from mock_server import create_app

#: The HTTP servers the fake runs on: tests of the HTTP surface run on each
#: (the ``server_kind`` fixture), so that the two cannot drift apart.
SERVERS = ("granian", "waitress")
KEY = "test-key-1"
OTHER_KEY = "test-key-2"
NOW = "2026-11-29T12:00:00Z"


def auth(key: str = KEY) -> dict:
    return {"Authorization": f"Token {key}"}


def error_item(response):
    """The one item of an answer in the vendor's error shape (asserted)."""
    body = response.get_json()
    assert set(body) == {"errors"} and len(body["errors"]) == 1, body
    item = body["errors"][0]
    assert set(item) == {"details", "error", "error_code", "message"}
    assert all(isinstance(v, str) and v for v in item.values())
    return item


@pytest.fixture
def app():
    """An in-process fake on a frozen clock at NOW."""
    return create_app(seed=1, now=NOW, frozen=True)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def backend(app):
    return app.extensions["userpilot"].backend


@pytest.fixture(scope="module", params=SERVERS)
def server_kind(request) -> str:
    """Each HTTP server in turn (module scope: one fake per server and module)."""
    return request.param
