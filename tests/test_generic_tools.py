"""A generic OpenAPI tool agrees with the fake about the upload rules the kit
spec states (docs/spec.md, "The rules a generic tool can read"): a plain
``schemathesis run`` on the served kit spec, from a directory without the
kit's schemathesis.toml (no hooks, no media-type strategies), names the file
part after the spec's Content-Disposition example, so no upload is refused
for its file name (the issue: ``file.png`` got a 415)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mock_server import MockServer
from mock_server.resources import data_path

UPLOADS = ("/v1/imports", "/v1/users/bulk_identify", "/v1/companies/bulk_identify")


def _schemathesis() -> str:
    found = Path(sys.executable).with_name("schemathesis")
    if not found.exists():
        pytest.skip("the schemathesis command is not installed beside this Python")
    return str(found)


def test_the_kit_spec_states_the_file_name_rule_as_the_parts_content_disposition():
    spec = yaml.safe_load(data_path("openapi", "kit.yaml").read_text(encoding="utf-8"))
    for path, good, bad in (("/v1/imports", ["events.csv", "E.NDJSON", "x.jsonl"], ["file.png", "events", "a.txt"]),
                            ("/v1/users/bulk_identify", ["rows.ndjson", "r.JSONL"], ["rows.csv", "file.png"])):
        encoding = spec["paths"][path]["post"]["requestBody"]["content"]["multipart/form-data"]["encoding"]["file"]
        disposition = encoding["headers"]["Content-Disposition"]
        pattern = re.compile(disposition["schema"]["pattern"])
        assert pattern.search(disposition["schema"]["example"]), path
        for name in good:
            assert pattern.search(f'form-data; name="file"; filename="{name}"'), (path, name)
        for name in bad:
            assert not pattern.search(f'form-data; name="file"; filename="{name}"'), (path, name)


def test_the_fake_takes_the_extensions_the_pattern_takes_in_any_case():
    import io

    from mock_server import create_app
    client = create_app(seed=1).test_client()
    csv = b"event_type,user_id,source,inserted_at\nidentify_user,u1,backend-http,2026-11-29T11:00:00Z\n"
    response = client.post("/v1/imports", headers={"Authorization": "Token k"},
                           data={"file": (io.BytesIO(csv), "EVENTS.CSV")})
    assert response.status_code == 200, response.get_json()
    response = client.post("/v1/users/bulk_identify", headers={"Authorization": "Token k"},
                           data={"file": (io.BytesIO(b'{"user_id": "u"}\n'), "ROWS.JSONL")})
    assert response.status_code == 202, response.get_json()


@pytest.mark.slow
def test_a_plain_schemathesis_run_never_refuses_an_upload_for_its_file_name(tmp_path):
    """Every check, positive and negative data, the upload operations only,
    started in an empty directory: no 415 (and no ``file.png`` part)."""
    command = _schemathesis()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCHEMATHESIS_", "USERPILOT_"))}
    with MockServer(seed=1) as server:
        args = [command, "run", f"{server.url}/__admin/spec/kit.yaml", "-H", "Authorization: Token plain-run",
                "--max-examples", "25", "--seed", "1", "--generation-database", "none"]
        for path in UPLOADS:
            args += ["--include-path", path]
        result = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        journal = server.app.test_client().get("/__admin/requests", query_string={"method": "POST"}).get_json()
    out = result.stdout + result.stderr
    assert "Operations:" in out and "3 selected" in out, out[-3000:]
    assert "[415]" not in out and "file.png" not in out and "Unsupported file type" not in out, out[-6000:]
    uploads = [e for e in journal if e["path"] in UPLOADS]
    assert uploads and not [e for e in uploads if e["status"] == 415 and e["violations"] == []], uploads[:5]
