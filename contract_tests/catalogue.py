"""Every check of the contract suite, tagged **documented** (the vendor says
so) or **assumed** (the kit's reading, docs/domain.md), with the rule it holds.

Standard library only, so reports and tests can read it without Schemathesis.
A failed *assumed* check is reported as "assumption contradicted": against
the real API it means the fake (and the kit spec) must change.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

DOCUMENTED = "documented"
ASSUMED = "assumed"


@dataclass(frozen=True)
class Rule:
    """One check: ``tag`` (documented/assumed), ``rule`` (what a conforming
    server does, one sentence: the "expected" of a report) and ``source``
    (where the rule comes from)."""

    tag: str
    rule: str
    source: str


#: The kit's own checks (contract_tests.checks, contract_tests.lifecycle).
OWN_CHECKS: dict[str, Rule] = {
    "job_answer_shape": Rule(
        DOCUMENTED, "List Jobs answers a JSON array of job objects; Check job status and Request "
        "Data Import answer one job object",
        "vendor List Jobs / Check job status pages (docs/domain.md, \"The surface\")"),
    "job_status_known": Rule(
        DOCUMENTED, "status is one of queued, validating, processing, pending_refresh, completed, failed",
        "the status enum of the vendor's job schemas"),
    "job_counters_are_integers": Rule(
        DOCUMENTED, "elapsed_time, file_size, total_rows (and completed_rows on the single-job answer) "
        "are JSON integers",
        "vendor job schemas (type: integer)"),
    "job_times_are_iso8601": Rule(
        ASSUMED, "start_time and end_time are ISO 8601 instants (end_time may be null)",
        "docs/domain.md: format undocumented; the only job-time example is ISO 8601 UTC"),
    "job_end_time_matches_status": Rule(
        ASSUMED, "end_time is null exactly while the job is not terminal (completed, failed), "
        "and never before start_time",
        "docs/domain.md: bulk identify marks end_time nullable; terminal statuses assumed"),
    "job_elapsed_time_agrees": Rule(
        ASSUMED, "elapsed_time (seconds) is end_time - start_time once ended, now - start_time "
        "while running; start_time is not in the future",
        "docs/domain.md: elapsed_time's unit undocumented, seconds assumed"),
    "job_counters_in_range": Rule(
        ASSUMED, "counters are never negative; completed_rows <= total_rows, = total_rows once "
        "completed, 0 while queued or validating",
        "docs/domain.md: row counts; lifecycle assumed"),
    "job_ids_unique": Rule(
        ASSUMED, "no job_id appears twice in one List Jobs answer",
        "the kit's reading: job_id identifies a job"),
    "fake_job_details": Rule(
        ASSUMED, "(fakes only) job_id is bulk:jobs:<app token>:<uuid4>, times are whole-second UTC "
        "with Z, filename ends in .csv/.ndjson, links is an absolute URL, the list is newest first",
        "the fake's own promises (mock_server/invariants.py), from docs/domain.md evidence"),
    "job_detail_is_the_requested_job": Rule(
        DOCUMENTED, "Check job status answers the job whose job_id the path names",
        "vendor Check job status page (GET /v1/background_jobs/{job_id})"),
    "job_detail_matches_list": Rule(
        ASSUMED, "the single-job answer agrees with the job's List Jobs entry (same fields; at a "
        "later instant only progressed)",
        "the kit's reading: both answers show the same job"),
    "job_status_never_backwards": Rule(
        ASSUMED, "across polls no job's status moves backwards (queued, validating, processing, "
        "pending_refresh, completed|failed), completed_rows never decreases, a terminal job never "
        "changes",
        "docs/domain.md: lifecycle order assumed"),
    "running_job_stays_listed": Rule(
        ASSUMED, "a job seen running in List Jobs is still listed later",
        "the kit's reading: no pagination is documented (docs/domain.md)"),
    "import_answer_matches_upload": Rule(
        ASSUMED, "createImport answers a queued job named after the uploaded file, with its size "
        "in bytes and its row count",
        "docs/domain.md: file_size in bytes and total_rows assumed; issue 4"),
    "import_job_runs_to_the_end": Rule(
        ASSUMED, "an accepted valid import is listed, readable by job_id and ends completed with "
        "completed_rows = total_rows",
        "the kit's reading of the import pages"),
    "import_one_at_a_time": Rule(
        DOCUMENTED, "a second upload while an import is not finished gets 409 in the error shape and "
        "creates no job",
        "import page: 409 \"Import job already in progress\" (docs/domain.md, \"Limits and timing\")"),
    "apps_are_isolated": Rule(
        ASSUMED, "(fakes only) another API key sees other jobs, and gets 404 for this key's jobs",
        "docs/domain.md: jobs belong to an application token"),
    "target_keeps_answering": Rule(
        DOCUMENTED, "every request gets an answer: the target neither drops the connection nor stops "
        "listening in the middle of a run",
        "every operation documents its answers; none documents a dropped connection (HTTP: a "
        "request gets a response)"),
    "import_refuses_bad_upload": Rule(
        ASSUMED, "an upload without a usable file (empty, unknown extension) gets a 4xx in the error "
        "shape and creates no job",
        "kit spec 400/415 answers (overlay, assumptions)"),
}

#: Schemathesis's built-in checks, as this kit reads them (docs/contract.md, "What is checked").
BUILTIN_CHECKS: dict[str, Rule] = {
    "not_a_server_error": Rule(
        DOCUMENTED, "no answer is a 5xx", "no operation documents a 5xx answer"),
    "status_code_conformance": Rule(
        ASSUMED, "every status code is one the spec documents",
        "the kit spec adds assumed codes (400, 404, 413, 415, 429) to the documented 200/401/409"),
    "content_type_conformance": Rule(
        DOCUMENTED, "the Content-Type is one the spec documents (application/json)",
        "captured answers: application/json; charset=utf-8"),
    "response_headers_conformance": Rule(
        DOCUMENTED, "documented response headers are present and well-formed",
        "headers of the captured answers"),
    "response_schema_conformance": Rule(
        DOCUMENTED, "the body validates against the operation's response schema",
        "vendor schemas; the kit's additions (required, minimum, format, nullable) are assumed"),
    "negative_data_rejection": Rule(
        ASSUMED, "a request that breaks the spec gets a 4xx",
        "the kit's reading (bad input: a clear 4xx)"),
    "positive_data_acceptance": Rule(
        ASSUMED, "a request that follows the spec is accepted (2xx, or 401/404/409/429)",
        "the kit's reading"),
    "missing_required_header": Rule(
        DOCUMENTED, "a request without a required header gets a 4xx",
        "Authorization: Token <API key> is required (authentication page)"),
    "ignored_auth": Rule(
        DOCUMENTED, "a request without a valid API key gets 401",
        "authentication page and the documented 401 answers"),
    "unsupported_method": Rule(
        ASSUMED, "a method the path does not support gets 405", "HTTP semantics; the kit's reading"),
    "allow_header_conformance": Rule(
        ASSUMED, "a 405 lists the allowed methods in Allow", "HTTP semantics; the kit's reading"),
    "use_after_free": Rule(
        ASSUMED, "a deleted resource is gone", "the kit's reading"),
    "ensure_resource_availability": Rule(
        ASSUMED, "a job createImport answers is readable by its job_id at once",
        "the kit's reading of the import pages"),
    "object_level_authorization": Rule(
        ASSUMED, "one app cannot read another app's job", "the kit's reading"),
    "max_response_time": Rule(ASSUMED, "answers come in time", "not used"),
}

#: JSON Schema keywords that only the kit's assumptions add (openapi/overlay.yaml).
ASSUMED_SCHEMA_KEYWORDS = frozenset({"required", "minimum", "format", "nullable"})


def rule_for(check: str) -> Rule:
    """The rule of a check by name; an unknown check is assumed."""
    return OWN_CHECKS.get(check) or BUILTIN_CHECKS.get(check) or Rule(ASSUMED, check, "unknown check")


def tag_for(check: str, *, spec: str = "kit", schema_keyword: str | None = None) -> str:
    """documented or assumed, for one failure of ``check``.

    Against ``--spec vendor`` every built-in check holds the vendor's own
    document, so it is documented. A schema failure on a keyword only the
    overlay adds (``required``, ``minimum``, ``format``, ``nullable``) is
    assumed.
    """
    if check in BUILTIN_CHECKS and spec == "vendor":
        return DOCUMENTED
    if check == "response_schema_conformance" and schema_keyword in ASSUMED_SCHEMA_KEYWORDS:
        return ASSUMED
    return rule_for(check).tag


# ---------------------------------------------------------- invariant violations

#: Which check each violation code of ``mock_server.invariants`` belongs to
#: (``mock_server.invariants.CODES`` lists them; a test keeps the two in step).
CHECK_OF_CODE: dict[str, str] = {
    "job_not_object": "job_answer_shape",
    "list_not_array": "job_answer_shape",
    "status_unknown": "job_status_known",
    "counter_not_integer": "job_counters_are_integers",
    "time_not_iso8601": "job_times_are_iso8601",
    "end_time_missing": "job_end_time_matches_status",
    "end_time_on_running": "job_end_time_matches_status",
    "end_before_start": "job_end_time_matches_status",
    "elapsed_disagrees": "job_elapsed_time_agrees",
    "start_in_future": "job_elapsed_time_agrees",
    "counter_negative": "job_counters_in_range",
    "completed_rows_over_total": "job_counters_in_range",
    "completed_rows_short": "job_counters_in_range",
    "completed_rows_early": "job_counters_in_range",
    "job_id_duplicate": "job_ids_unique",
    "fake_job_id": "fake_job_details",
    "fake_time_format": "fake_job_details",
    "fake_filename": "fake_job_details",
    "fake_links": "fake_job_details",
    "fake_list_order": "fake_job_details",
    "status_backwards": "job_status_never_backwards",
    "terminal_changed": "job_status_never_backwards",
    "completed_rows_decreased": "job_status_never_backwards",
}

#: Checks that only hold the fake to its own stricter promises.
FAKE_ONLY = frozenset({"fake_job_details"})


def classify(violation) -> str:
    """The check a violation (a ``mock_server.invariants.Violation``, or
    anything with a ``code``) belongs to, by its code; ``job_answer_shape``
    for a code this table does not know (so no violation is lost)."""
    return CHECK_OF_CODE.get(violation.code, "job_answer_shape")


def normalize(message: str) -> str:
    """A problem with its values blanked (digits, quoted text, ISO instants),
    so that the same drift on two jobs is reported once."""
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", message)
    text = re.sub(r"\d{4}-\d{2}-\d{2}[T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?", "<time>", text)
    text = re.sub(r"bulk:jobs:\S+", "<job_id>", text)
    return re.sub(r"\d+", "#", text)
