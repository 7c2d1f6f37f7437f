"""Injected answers as the real ones (docs/faults.md): a status injected by a
fault rule, ``Prefer: code=`` or ``__code`` carries the ``error_code``,
``error`` and headers of the answer the fake gives of that status itself, on
the old operations and the new ones (exports, bulk, real-time). Each case
provokes the real answer, then injects the same status, and compares."""
from __future__ import annotations

import io

import pytest

from mock_server import create_app

from .conftest import NOW, auth, error_item

CSV = b"user_id,event_type,event_name,source,inserted_at\nu1,track,e,backend-http,2024-07-28 08:55:35\n"


def _import(client):
    return client.post("/v1/imports", headers=auth(), data={"file": (io.BytesIO(CSV), "events.csv")})


def _big_import(client):
    return client.post("/v1/imports", headers=auth(), data={"file": (io.BytesIO(b"x"), "events.png")})


def _users(client, n: int = 1):
    return client.post("/v1/users/bulk_identify", headers=auth(),
                       json={"users": [{"user_id": f"u{i}", "metadata": {"name": "n"}} for i in range(n)]})


#: (operationId, status, how to get the real answer once, twice for a 409: the second is the real one, and the
#: request that then gets the injected answer).
CASES = {
    "createImport 409": ("createImport", 409, _import, _import),
    "createImport 415": ("createImport", 415, _big_import, _import),
    "triggerExport 409": ("triggerExport", 409,
                          lambda c: c.post("/api/v1/analytics/exports", headers=auth(), json={}),
                          lambda c: c.post("/api/v1/analytics/exports", headers=auth(), json={})),
    "bulkIdentifyUsers 409": ("bulkIdentifyUsers", 409, _users, _users),
    "bulkIdentifyUsers 415": ("bulkIdentifyUsers", 415,
                              lambda c: c.post("/v1/users/bulk_identify",
                                               headers={**auth(), "Content-Type": "text/plain"}, data=b"x"),
                              _users),
    "bulkIdentifyUsers 413": ("bulkIdentifyUsers", 413, lambda c: _users(c, 10_001), _users),
    "trackEvent 413": ("trackEvent", 413,
                       lambda c: c.post("/v1/track", headers=auth(), json={"user_id": "u", "event_name": "e",
                                                                           "metadata": {"x": "y" * 1_100_000}}),
                       lambda c: c.post("/v1/track", headers=auth(), json={"user_id": "u", "event_name": "e"})),
    "getJob 404": ("getJob", 404, lambda c: c.get("/v1/background_jobs/bulk:jobs:NX-0:none", headers=auth()),
                   lambda c: c.get("/v1/background_jobs/bulk:jobs:NX-0:none", headers=auth())),
    "getExportJob 404": ("getExportJob", 404,
                         lambda c: c.get("/api/v1/analytics/exports/jobs/nope", headers=auth()),
                         lambda c: c.get("/api/v1/analytics/exports/jobs/nope", headers=auth())),
}


def _real(case: str):
    """The real answer of ``case``: the error item of a fresh fake's answer."""
    _operation, status, provoke, _again = CASES[case]
    client = create_app(seed=1, now=NOW, frozen=True).test_client()
    response = provoke(client)
    if status == 409:
        response = provoke(client)
    assert response.status_code == status, response.get_json()
    return error_item(response)


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("how", ["fault rule", "prefer"])
def test_an_injected_status_carries_the_real_error_code(case, how):
    operation, status, _provoke, again = CASES[case]
    real = _real(case)
    client = create_app(seed=1, now=NOW, frozen=True).test_client()
    if how == "fault rule":
        assert client.post("/__admin/faults", json={"operation": operation, "status": status}).status_code == 201
        response = again(client)
    else:
        response = _with_prefer(client, again, status)
    assert response.status_code == status
    injected = error_item(response)
    assert "injected by userpilot-mock" in injected["details"]
    assert (injected["error_code"], injected["error"]) == (real["error_code"], real["error"]), (real, injected)


def _with_prefer(client, request, status: int):
    """``request(client)`` with ``Prefer: code=<status>`` on it."""
    original = client.open

    def open_with_prefer(*args, **kwargs):
        headers = dict(kwargs.pop("headers", None) or {})
        headers["Prefer"] = f"code={status}"
        return original(*args, headers=headers, **kwargs)

    client.open = open_with_prefer
    try:
        return request(client)
    finally:
        client.open = original


@pytest.mark.parametrize("operation,path,method", [("listJobs", "/v1/background_jobs", "DELETE"),
                                                   ("getJob", "/v1/background_jobs/x", "POST"),
                                                   ("createImport", "/v1/imports", "GET"),
                                                   ("listExportJobs", "/api/v1/analytics/exports/jobs/", "POST"),
                                                   ("trackEvent", "/v1/track", "GET")])
def test_an_injected_405_has_the_real_allow_and_code(operation, path, method):
    client = create_app(seed=1, now=NOW, frozen=True).test_client()
    real = client.open(path, method=method, headers=auth())
    assert real.status_code == 405
    assert client.post("/__admin/faults", json={"operation": operation, "status": 405}).status_code == 201
    right_method = "GET" if method != "GET" else "POST"
    injected = client.open(path, method=right_method, headers=auth())
    assert injected.status_code == 405
    assert injected.headers["Allow"] == real.headers["Allow"]
    assert error_item(injected)["error_code"] == error_item(real)["error_code"] == "method_not_allowed"


def test_a_get_path_allows_head_as_it_answers_it():
    client = create_app(seed=1, now=NOW, frozen=True).test_client()
    assert client.delete("/v1/background_jobs", headers=auth()).headers["Allow"] == "GET, HEAD"
    assert client.head("/v1/background_jobs", headers=auth()).status_code == 200


def test_an_injected_429_is_the_rate_limits_own():
    limited = create_app(seed=1, now=NOW, frozen=True, rate_limit="1/min").test_client()
    limited.get("/v1/background_jobs", headers=auth())
    real = limited.get("/v1/background_jobs", headers=auth())
    assert real.status_code == 429
    client = create_app(seed=1, now=NOW, frozen=True).test_client()
    client.post("/__admin/faults", json={"operation": "listJobs", "status": 429})
    injected = client.get("/v1/background_jobs", headers=auth())
    assert error_item(injected)["error_code"] == error_item(real)["error_code"]
    assert "Retry-After" in injected.headers and "Retry-After" in real.headers


def test_the_codes_come_from_one_source():
    """The families' table names the constants their own answers raise."""
    from mock_server.backend.errors import JOB_NOT_FOUND
    from mock_server.families import error_codes
    from mock_server.families.bulk.models import BULK_IN_PROGRESS
    from mock_server.families.exports.models import EXPORT_IN_PROGRESS, EXPORT_JOB_NOT_FOUND
    from mock_server.families.imports.models import IMPORT_IN_PROGRESS
    codes = error_codes()
    assert codes["createImport"][409] is IMPORT_IN_PROGRESS and codes["triggerExport"][409] is EXPORT_IN_PROGRESS
    assert codes["bulkIdentifyCompanies"][409] is BULK_IN_PROGRESS and codes["getJob"][404] is JOB_NOT_FOUND
    assert codes["getExportJob"][404] is EXPORT_JOB_NOT_FOUND
