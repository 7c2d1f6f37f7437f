"""The OpenAPI documents: kit.yaml is vendor.yaml + overlay.yaml, all valid,
the overlay reviewable and portable, and the overlay applier correct."""
from __future__ import annotations

import hashlib
from pathlib import Path

import jsonpath
import pytest
from openapi_spec_validator import validate

from tools import spec_build
from tools.spec_build import apply_overlay, build_kit_spec, load_yaml, render_kit_spec

ROOT = Path(__file__).resolve().parents[1]
OPENAPI = ROOT / "openapi"
SHARED_VENDOR = ROOT.parent / "shared" / "vendor"
FENCE_OPEN = "````yaml GET /v1/background_jobs\n"
FENCE_CLOSE = "````"

OPERATIONS = {  # operationId -> (path, method)
    "listJobs": ("/v1/background_jobs", "get"),
    "getJob": ("/v1/background_jobs/{job_id}", "get"),
    "createImport": ("/v1/imports", "post"),
    "triggerExport": ("/api/v1/analytics/exports", "post"),
    "listExportJobs": ("/api/v1/analytics/exports/jobs/", "get"),
    "getExportJob": ("/api/v1/analytics/exports/jobs/{job_id}", "get"),
    "bulkIdentifyUsers": ("/v1/users/bulk_identify", "post"),
    "bulkIdentifyCompanies": ("/v1/companies/bulk_identify", "post"),
    "identifyUser": ("/v1/identify", "post"),
    "identifyCompany": ("/v1/companies/identify", "post"),
    "trackEvent": ("/v1/track", "post"),
}
LOOKUPS = {"user_properties": "lookupUserProperties", "company_properties": "lookupCompanyProperties",
           "segments": "lookupSegments", "features_events": "lookupFeaturesEvents",
           "events_properties": "lookupEventsProperties", "flows": "lookupFlows", "banners": "lookupBanners",
           "embeds": "lookupEmbeds", "spotlights": "lookupSpotlights", "surveys": "lookupSurveys",
           "resource_center_modules": "lookupResourceCenterModules", "checklists": "lookupChecklists"}
OPERATIONS.update({op: (f"/api/v1/analytics/exports/lookups/{name}", "get") for name, op in LOOKUPS.items()})
#: The vendor's documents bundled byte for byte: file -> (its SHA-256, the ../shared/vendor file it copies).
BUNDLED = {
    "vendor-jobs-operations.yaml": (None, "analytex-jobs-operations.yaml"),
    "vendor-exports-operations.yaml": ("9f8d3b5fc61440485a405bb12636670891b24200cb9a33e9fe7ff9da060774e3",
                                       "appex-exports-operations.yaml"),
    "vendor-bulk-operations.yaml": ("9cbfe1eaa0825ea82beda6e279f2fe88715551180a52c3353b68643c37486d71",
                                    "analytex-bulk-operations.yaml"),
}


@pytest.fixture(scope="module")
def kit() -> dict:
    return load_yaml(OPENAPI / "kit.yaml")


@pytest.fixture(scope="module")
def overlay() -> dict:
    return load_yaml(OPENAPI / "overlay.yaml")


@pytest.fixture(scope="module")
def vendor() -> dict:
    return load_yaml(OPENAPI / "vendor.yaml")


def operation(spec: dict, operation_id: str) -> dict:
    path, method = OPERATIONS[operation_id]
    return spec["paths"][path][method]


# --- kit.yaml is generated and current ---------------------------------------

def test_kit_yaml_is_up_to_date(kit):
    built = build_kit_spec()
    assert built == kit, "kit.yaml is stale: run `python tools/spec_build.py`"
    assert render_kit_spec(built) == (OPENAPI / "kit.yaml").read_text(encoding="utf-8")


def test_check_flag(monkeypatch, capsys):
    assert spec_build.main(["--check"]) == 0
    monkeypatch.setattr(spec_build, "render_kit_spec", lambda spec: "stale\n")
    assert spec_build.main(["--check"]) == 1
    assert "stale" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["kit.yaml", "admin.yaml"])
def test_documents_are_valid_openapi(name):
    validate(load_yaml(OPENAPI / name))


# --- vendor.yaml is the published document, unchanged --------------------------

def test_vendor_yaml_is_the_published_block():
    page = SHARED_VENDOR / "list-jobs.page.md"
    if not page.exists():
        pytest.skip(f"{page} absent: the vendor page is only in the development checkout (../shared)")
    text = page.read_text(encoding="utf-8")
    start = text.index(FENCE_OPEN) + len(FENCE_OPEN)
    block = text[start:text.index("\n" + FENCE_CLOSE, start) + 1]
    first, rest = (OPENAPI / "vendor.yaml").read_text(encoding="utf-8").split("\n", 1)
    assert first.startswith("# Source: https://docs.userpilot.com/")
    assert rest == block


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_vendor_operations_copy_is_unchanged(name):
    source = SHARED_VENDOR / BUNDLED[name][1]
    if not source.exists():
        pytest.skip(f"{source} absent: the vendor transcription is only in the development checkout (../shared)")
    assert (OPENAPI / name).read_bytes() == source.read_bytes()


@pytest.mark.parametrize("name", sorted(n for n, (digest, _) in BUNDLED.items() if digest))
def test_bundled_vendor_documents_keep_their_published_digest(name):
    """The copy is the published file byte for byte: its SHA-256 is the one
    the overlay states (checked without ../shared, which CI may not have)."""
    digest = BUNDLED[name][0]
    assert hashlib.sha256((OPENAPI / name).read_bytes()).hexdigest() == digest
    descriptions = " ".join(a["description"] for a in load_yaml(OPENAPI / "overlay.yaml")["actions"])
    assert f"openapi/{name}" in descriptions and digest in descriptions


@pytest.mark.parametrize("name", ["vendor-exports-operations.yaml", "vendor-bulk-operations.yaml"])
def test_the_overlay_adds_the_bundled_operations_as_published(overlay, name):
    """The action that adds a bundled document's operations adds exactly its
    ``paths``, so every change to them is a later, described action."""
    published = load_yaml(OPENAPI / name)["paths"]
    adding = [a for a in overlay["actions"] if a["target"] == "$.paths" and f"openapi/{name}" in a["description"]]
    assert len(adding) == 1
    assert adding[0]["update"] == published


# --- the overlay is reviewable and portable ------------------------------------

def test_overlay_header(overlay):
    assert str(overlay["overlay"]) == "1.0.0"
    assert overlay["extends"] == "vendor.yaml"
    assert overlay["info"]["title"] and overlay["info"]["version"]


def test_every_action_has_a_description(overlay):
    for number, action in enumerate(overlay["actions"], 1):
        assert str(action.get("description") or "").strip(), f"action {number} has no description"


def test_no_action_targets_a_primitive_and_updates_only_add(vendor, overlay):
    """Replay the actions one by one: each target selects objects or arrays
    of the document as it stands then, and an update never overwrites an
    existing key (so tools that merge shallowly give the same result)."""
    document = vendor
    for number, action in enumerate(overlay["actions"], 1):
        matches = list(jsonpath.finditer(action["target"], document, strict=True))
        assert matches, f"action {number} ({action['target']}) selects nothing"
        for match in matches:
            assert isinstance(match.obj, (dict, list)), f"action {number} selects a primitive"
            if "update" in action and isinstance(match.obj, dict):
                clash = set(action["update"]) & set(match.obj)
                assert not clash, f"action {number} overwrites {clash} at {match.path}"
        document = apply_overlay(document, {"actions": [action]})


# --- the applier --------------------------------------------------------------

def test_remove_from_object():
    doc = {"a": {"b": 1, "c": {"d": 2}}}
    assert apply_overlay(doc, {"actions": [{"target": "$.a.c", "remove": True}]}) == {"a": {"b": 1}}
    assert doc == {"a": {"b": 1, "c": {"d": 2}}}, "the input must not be modified"


def test_remove_from_array():
    doc = {"xs": [{"n": "a"}, {"n": "b"}, {"n": "a"}, {"n": "c"}]}
    out = apply_overlay(doc, {"actions": [{"target": "$.xs[?@.n == 'a']", "remove": True}]})
    assert out == {"xs": [{"n": "b"}, {"n": "c"}]}


def test_update_merges_deeply_and_appends_to_arrays():
    doc = {"a": {"keep": 1, "inner": {"x": 1}, "list": [1]}, "tags": [{"name": "t1"}]}
    out = apply_overlay(doc, {"actions": [
        {"target": "$.a", "update": {"inner": {"y": 2}, "list": [2], "new": True, "keep": 3}},
        {"target": "$.tags", "update": {"name": "t2"}},
    ]})
    assert out == {"a": {"keep": 3, "inner": {"x": 1, "y": 2}, "list": [1, 2], "new": True},
                   "tags": [{"name": "t1"}, {"name": "t2"}]}


def test_actions_apply_in_order():
    out = apply_overlay({"a": {"b": {}}}, {"actions": [
        {"target": "$.a.b", "remove": True},
        {"target": "$.a", "update": {"b": {"new": 1}}},
    ]})
    assert out == {"a": {"b": {"new": 1}}}


@pytest.mark.parametrize("action, message", [
    ({"target": "$.missing", "remove": True}, "selects nothing"),
    ({"target": "$.a.b", "update": {"x": 1}}, "primitive"),
    ({"target": "$.a.b", "remove": True}, "primitive"),
    ({"target": "$.a"}, "neither update nor remove"),
    ({"target": "$[", "remove": True}, "invalid JSONPath"),
])
def test_bad_actions_raise_naming_the_action(action, message):
    with pytest.raises(ValueError, match=message) as info:
        apply_overlay({"a": {"b": 1}}, {"actions": [{"target": "$.a", "update": {}}, action]})
    assert "action 2" in str(info.value)


# --- what the kit spec says -----------------------------------------------------

def test_operation_ids(kit):
    found = {op["operationId"]: (path, method)
             for path, item in kit["paths"].items()
             for method, op in item.items() if isinstance(op, dict) and "responses" in op}
    assert found == OPERATIONS


def test_no_request_body_on_get(kit):
    for path, item in kit["paths"].items():
        assert "requestBody" not in item.get("get", {}), path


def test_security_scheme_replaces_the_authorization_parameter(kit):
    assert kit["components"]["securitySchemes"]["ApiKeyAuth"] == {
        "type": "apiKey", "in": "header", "name": "Authorization", "description": "Token <API key>"}
    assert "security" not in kit or kit["security"] != []
    assert "parameters" not in kit["components"]
    for operation_id in OPERATIONS:
        op = operation(kit, operation_id)
        assert op["security"] == [{"ApiKeyAuth": []}]
        names = [p.get("name", p.get("$ref")) for p in op.get("parameters", [])]
        assert not any("authorization" in str(n).lower() for n in names), (operation_id, names)


def test_error_responses(kit):
    error_ref = {"$ref": "#/components/schemas/ErrorResponse"}
    for operation_id in OPERATIONS:
        assert operation(kit, operation_id)["responses"]["401"]["content"]["application/json"]["schema"] == error_ref
    assert operation(kit, "getJob")["responses"]["404"]["content"]["application/json"]["schema"] == error_ref
    imports = operation(kit, "createImport")["responses"]
    assert sorted(imports) == ["200", "400", "401", "409", "413", "415", "429"]
    assert imports["429"]["headers"]["Retry-After"]["schema"]["type"] == "integer"


def test_job_schemas(kit):
    schemas = kit["components"]["schemas"]
    job = schemas["Job"]
    assert set(job["required"]) == set(job["properties"])
    assert job["properties"]["end_time"] == {"type": "string", "format": "date-time", "nullable": True}
    assert job["properties"]["start_time"]["format"] == "date-time"
    assert job["properties"]["links"]["format"] == "uri"
    assert job["properties"]["job_id"]["format"] == "uri"
    assert "style" not in str(kit) and "color" not in str(kit)

    def ok(operation_id):
        return operation(kit, operation_id)["responses"]["200"]["content"]["application/json"]["schema"]

    assert ok("listJobs") == {"type": "array", "items": {"$ref": "#/components/schemas/Job"}}
    assert ok("getJob") == ok("createImport") == {"$ref": "#/components/schemas/JobDetail"}
    upload = operation(kit, "createImport")["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert upload["required"] == ["file"]
    assert upload["properties"]["file"]["format"] == "binary"


def test_admin_job_has_every_job_detail_field(kit):
    admin = load_yaml(OPENAPI / "admin.yaml")["components"]["schemas"]["AdminJob"]
    detail = dict(kit["components"]["schemas"]["Job"]["properties"])
    detail["completed_rows"] = {"type": "integer", "minimum": 0}
    for name, schema in detail.items():
        if schema.get("nullable"):  # OpenAPI 3.0's nullable is 3.1's (JSON Schema's) "null" type
            schema = {**{k: v for k, v in schema.items() if k != "nullable"}, "type": [schema["type"], "null"]}
        assert admin["properties"][name] == schema, name
    assert {"app_token", "timeline"} <= set(admin["required"])


# --- the export, bulk identify and real-time operations -----------------------

APPEX = "https://appex.userpilot.io"


def test_export_operations_host_is_listed_after_analytex(kit):
    assert [s["url"] for s in kit["servers"]] == ["https://{environment}.userpilot.io", APPEX]
    assert not any("servers" in item for item in kit["paths"].values())  # a tool would leave the fake


def test_export_job_schemas(kit):
    ref = {"$ref": "#/components/schemas/ExportJob"}
    job = kit["components"]["schemas"]["ExportJob"]
    assert set(job["required"]) == set(job["properties"])
    assert job["properties"]["end_time"]["nullable"] is True
    assert job["properties"]["elapsed_time"]["type"] == "string"  # as published (string on appex)
    detail = operation(kit, "getExportJob")["responses"]
    assert detail["200"]["content"]["application/json"]["schema"] == ref
    assert detail["404"]["description"] == "Not Found - Export job not found"
    listed = operation(kit, "listExportJobs")["responses"]["200"]["content"]["application/json"]["schema"]
    assert listed == {"type": "array", "items": ref}
    trigger = operation(kit, "triggerExport")
    assert sorted(trigger["responses"]) == ["201", "400", "401", "409", "413", "429"]
    body = trigger["requestBody"]["content"]["application/json"]["schema"]
    assert body["additionalProperties"] is False
    assert body["properties"]["format"] == {"type": "string", "enum": ["avro", "csv", "ndjson", "parquet"],
                                            "default": "csv",
                                            "description": body["properties"]["format"]["description"]}
    assert "requestBody" not in trigger or not trigger["requestBody"].get("required")


def test_bulk_and_real_time_schemas(kit):
    bulk_ref = {"$ref": "#/components/schemas/BulkJob"}
    for op_id in ("bulkIdentifyUsers", "bulkIdentifyCompanies"):
        op = operation(kit, op_id)
        assert sorted(op["responses"]) == ["202", "400", "401", "409", "413", "415", "429"]
        assert op["responses"]["202"]["content"]["application/json"]["schema"] == bulk_ref
        assert set(op["requestBody"]["content"]) == {"application/json", "multipart/form-data"}
        rows = next(iter(op["requestBody"]["content"]["application/json"]["schema"]["properties"].values()))
        assert rows["maxItems"] == 10_000 and rows["minItems"] == 1
    for op_id, bucket in (("identifyUser", "identify"), ("identifyCompany", "identify"), ("trackEvent", "track")):
        op = operation(kit, op_id)
        assert sorted(op["responses"]) == ["202", "400", "401", "429"]
        assert op["x-userpilot-rate-limit"] == {"requests": 600, "per_seconds": 60, "bucket": bucket}
        assert "content" not in op["responses"]["202"]
    versions = [p for p in operation(kit, "trackEvent")["parameters"] if p["name"] == "X-API-Version"]
    assert versions == [{"name": "X-API-Version", "in": "header", "required": False,
                         "schema": {"type": "string", "enum": ["2020-09-22"]}}]
