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
    # ------------------------------------------------ exports (the appex host)
    "export_job_shape": Rule(
        DOCUMENTED, "the exports API answers JSON: Show Jobs a bare array of export jobs, Show Job by Job ID "
        "one; each field of the type the exports document gives it (strings, all_chunks and completed_chunks "
        "arrays of strings, presigned_urls an array of {filename, url})",
        "vendor exports document (vendor-exports-operations.yaml: every job field typed string)"),
    "export_fields_present": Rule(
        ASSUMED, "every field of the exports document's job schemas is present on every export job, in the "
        "list and the detail alike",
        "docs/exports.md: the fields are documented, which of them are always there is not"),
    "export_status_known": Rule(
        ASSUMED, "an export's status is one of List Jobs' values (queued, validating, processing, "
        "pending_refresh, completed, failed)",
        "the exports document gives no status enum; the export is a job of List Jobs (docs/exports.md)"),
    "export_chunks_consistent": Rule(
        ASSUMED, "completed_chunks are chunks of all_chunks (on a fake, its first ones in order), current_chunk "
        "is one of them, a completed export has every chunk completed",
        "docs/exports.md: chunk semantics undocumented"),
    "export_progress_consistent": Rule(
        ASSUMED, "progress is a whole percentage 0-100 as a string, 0 while queued or validating, 100 once "
        "completed",
        "docs/exports.md: progress is typed string, its content undocumented"),
    "export_urls_when_completed": Rule(
        ASSUMED, "presigned_urls is empty until the export is completed, then holds an absolute URL per file, "
        "each file named once",
        "docs/exports.md: URLs of a finished export (the status page's example), when they appear is assumed"),
    "export_times_ordered": Rule(
        ASSUMED, "start_time and end_time are ISO 8601, end_time null exactly while the export runs and never "
        "before start_time, start_time not in the future",
        "docs/exports.md: the only examples are ISO 8601 UTC; the rest as on List Jobs"),
    "export_elapsed_time_agrees": Rule(
        ASSUMED, "elapsed_time (HH:MM:SS) and elapsed_time_seconds say the same whole seconds: end_time - "
        "start_time once ended, now - start_time while running",
        "docs/exports.md: both typed string by the vendor, their content undocumented"),
    "export_job_ids_unique": Rule(
        ASSUMED, "no job_id appears twice in one Show Jobs answer", "the kit's reading: job_id identifies a job"),
    "export_one_at_a_time": Rule(
        DOCUMENTED, "one export job at a time per app: a second trigger while one runs gets 409 in the error "
        "shape and creates nothing, and Show Jobs never shows two running",
        "export overview: 409 \"Export job already in progress\" (docs/domain.md, \"Exports\")"),
    "fake_export_details": Rule(
        ASSUMED, "(fakes only) job_id is bulk:jobs:<app token>:<uuid4> naming app_token, type export, whole-second "
        "UTC times with Z, one presigned URL per chunk named after it, the list newest first, nothing shown "
        "3 days or more after its creation",
        "the fake's own promises (mock_server/export_invariants.py, docs/exports.md)"),
    "export_detail_is_the_requested_job": Rule(
        DOCUMENTED, "Show Job by Job ID answers the export whose job_id the path names",
        "vendor exports document (GET /api/v1/analytics/exports/jobs/{job_id})"),
    "export_progress_never_backwards": Rule(
        ASSUMED, "across reads an export's status never moves backwards, progress and completed_chunks never "
        "decrease, all_chunks never changes, a terminal export never changes",
        "docs/exports.md: lifecycle assumed, as on List Jobs"),
    "export_views_agree": Rule(
        ASSUMED, "an export shows the same job_id, type, status, start_time, end_time and elapsed seconds on "
        "the exports API as on List Jobs at the same instant",
        "List Jobs lists \"imports and exports\"; one job in two views is the kit's reading (docs/exports.md)"),
    "export_trigger_answer": Rule(
        ASSUMED, "Trigger an Export Job answers 201 with environment_app_token, environment_name, job_id, links "
        "(an absolute URL) and start_time (ISO 8601), and the job_id is readable on Show Job by Job ID",
        "vendor exports document (the 201 fields); every field present and the id readable assumed"),
    "export_trigger_refuses_bad_filter": Rule(
        ASSUMED, "a trigger with a malformed filter (from after to, an unknown event type, an unknown field) "
        "gets a 4xx in the error shape naming the filter and creates no export",
        "docs/exports.md: filter validation is undocumented (kit spec 400)"),
    "export_job_runs_to_the_end": Rule(
        ASSUMED, "a triggered export is listed by Show Jobs, readable by its job_id and ends completed",
        "the kit's reading of the export pages"),
    "export_files_download": Rule(
        DOCUMENTED, "every presigned URL of a completed export answers 200 with a file of the requested format, "
        "without the API key",
        "export overview: download links of a finished export; the URL is the credential (presigned)"),
    "export_events_schema": Rule(
        DOCUMENTED, "every event of the files has the export event schema's fields: a documented event_type "
        "and source, inserted_at UTC with microseconds, screen sizes integers, event_name as its type says "
        "(none for identify, page_view and session_start; {entity}:{id}:{STATUS} for interactions)",
        "event schema page (docs/domain.md, \"Exports\"); the file layout is assumed"),
    "export_events_match_filters": Rule(
        ASSUMED, "every event of the files matches the trigger's filters: from <= inserted_at < to, its "
        "event_type and user_id among those asked for",
        "docs/exports.md: filters combine with AND, from inclusive and to exclusive (assumed)"),
    "export_holds_sent_data": Rule(
        ASSUMED, "(fakes only) an export holds what the app was sent before the trigger: the users of the "
        "suite's completed bulk identify and its real-time identify, with their metadata",
        "docs/exports.md, \"The data you put in comes back out\" (the fake's promise)"),
    "export_urls_expire": Rule(
        DOCUMENTED, "(fakes only: needs the clock) 2 days after the export's creation its download URLs no "
        "longer give the file (a 4xx)",
        "export overview: download URLs expire after 2 days"),
    "export_job_retention": Rule(
        DOCUMENTED, "(fakes only: needs the clock) an export stays readable on Show Job by Job ID for 3 days "
        "after its creation (on a fake, 404 \"Export job not found\" from then on)",
        "export overview: job status stays available 3 days after creation; the 404 after is the fake's"),
    "auth_requirement_declared": Rule(
        DOCUMENTED, "an operation whose spec declares no API key (no security requirement, no Authorization "
        "header) answers a request without one as it would with one: not 401",
        "the spec is the contract: what it does not require, a client does not send"),
    # ----------------------------------------------------- bulk identify
    "bulk_answer_matches_request": Rule(
        ASSUMED, "bulk identify answers 202 with a queued job of type bulk_identify_users / "
        "bulk_identify_companies whose total_rows is the number of rows sent",
        "docs/bulk.md: the OpenAPI's job object (evidence: the 379-byte capture); type values assumed"),
    "bulk_one_at_a_time": Rule(
        DOCUMENTED, "one bulk identify job at a time per app, users and companies together: a second request "
        "while one runs gets 409 in the error shape and creates no job",
        "bulk-updates pages: one job at a time, 409 Conflict (docs/domain.md, \"Bulk identify\")"),
    "bulk_job_runs_to_the_end": Rule(
        ASSUMED, "an accepted bulk identify job is listed by List Jobs, readable by its job_id and ends "
        "completed with completed_rows = total_rows",
        "bulk-updates pages: poll the job by its id (docs/domain.md)"),
    "bulk_rate_documented": Rule(
        DOCUMENTED, "a bulk identify job processes no faster than documented: at most 1,200 user rows or 1,800 "
        "company rows a minute after its start_time (completed_rows, and end_time - start_time once ended)",
        "real-time/bulk-identify-update: up to 1,200 rows a minute; bulk-updates/companies: 1,800 companies "
        "a minute (docs/bulk.md chooses the companies page for companies)"),
    "bulk_refuses_bad_rows": Rule(
        ASSUMED, "a JSON bulk identify body with a row without its id gets 400 in the error shape naming the "
        "row, and creates no job",
        "docs/bulk.md: the fate of invalid rows is undocumented; JSON bodies refused whole"),
    # --------------------------------------------------- real-time calls
    "realtime_accepts_valid_call": Rule(
        DOCUMENTED, "identify, identify company and track answer a valid call with 202 (identify company: 200 "
        "or 202, the documents disagree)",
        "real-time pages: identify and track 202; identify company 200 in prose, 202 in the OpenAPI"),
    "realtime_names_missing_field": Rule(
        DOCUMENTED, "a real-time call without user_id, company_id or event_name gets 400 in the error shape "
        "naming the missing field",
        "real-time pages: 400 for a missing user_id, company id or event_name"),
    "realtime_requires_key": Rule(
        DOCUMENTED, "a real-time call without an API key gets 401",
        "real-time pages: 401 for an invalid API key"),
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
ASSUMED_SCHEMA_KEYWORDS = frozenset({"required", "minimum", "format", "nullable", "pattern"})
#: Keywords assumed on some operations only: the export job answers' status
#: ``enum`` (the exports document gives none, the overlay adds List Jobs'
#: values) and the trigger answer's.
ASSUMED_SCHEMA_KEYWORDS_OF = {"getExportJob": frozenset({"enum"}), "listExportJobs": frozenset({"enum"})}
#: Built-in checks that hold the kit's assumptions on some operations only:
#: the export job GETs declare no API key in the vendor's document (the kit
#: spec adds it, as the prose asks of every call), so a server answering them
#: without one contradicts an assumption, not the document.
ASSUMED_CHECKS_OF = {"getExportJob": frozenset({"ignored_auth", "missing_required_header"}),
                     "listExportJobs": frozenset({"ignored_auth", "missing_required_header"})}


def rule_for(check: str) -> Rule:
    """The rule of a check by name; an unknown check is assumed."""
    return OWN_CHECKS.get(check) or BUILTIN_CHECKS.get(check) or Rule(ASSUMED, check, "unknown check")


def tag_for(check: str, *, spec: str = "kit", schema_keyword: str | None = None,
            operation: str | None = None) -> str:
    """documented or assumed, for one failure of ``check`` on ``operation``
    (an operation id, None when unknown).

    Against ``--spec vendor`` every built-in check holds the vendor's own
    document, so it is documented. A schema failure on a keyword only the
    overlay adds (``required``, ``minimum``, ``format``, ``nullable``,
    ``pattern``; ``enum`` on the export job answers) is assumed, and so is a
    built-in check of an addition of the overlay on one operation
    (:data:`ASSUMED_CHECKS_OF`).
    """
    if check in BUILTIN_CHECKS and spec == "vendor":
        return DOCUMENTED
    if check == "response_schema_conformance" and (
            schema_keyword in ASSUMED_SCHEMA_KEYWORDS
            or schema_keyword in ASSUMED_SCHEMA_KEYWORDS_OF.get(operation or "", ())):
        return ASSUMED
    if check in ASSUMED_CHECKS_OF.get(operation or "", ()):
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
FAKE_ONLY = frozenset({"fake_job_details", "fake_export_details"})

#: Which check each problem code of ``mock_server.export_invariants`` belongs
#: to (``mock_server.export_invariants.CODES`` lists them; a test keeps the two in step).
CHECK_OF_EXPORT_CODE: dict[str, str] = {
    "export_not_object": "export_job_shape",
    "export_list_not_array": "export_job_shape",
    "export_field_type": "export_job_shape",
    "export_field_missing": "export_fields_present",
    "export_status_unknown": "export_status_known",
    "export_chunks": "export_chunks_consistent",
    "export_progress": "export_progress_consistent",
    "export_urls": "export_urls_when_completed",
    "export_times": "export_times_ordered",
    "export_elapsed": "export_elapsed_time_agrees",
    "fake_export_files": "fake_export_details",
    "fake_export_ids": "fake_export_details",
    "fake_export_time_format": "fake_export_details",
    "fake_export_retention": "fake_export_details",
    "fake_export_list_order": "fake_export_details",
    "export_id_duplicate": "export_job_ids_unique",
    "export_running_twice": "export_one_at_a_time",
    "export_backwards": "export_progress_never_backwards",
    "export_views_disagree": "export_views_agree",
}


def classify_export(problem) -> str:
    """The check an export problem (a ``mock_server.export_invariants.Problem``,
    or anything with a ``code``) belongs to; ``export_job_shape`` for a code
    this table does not know (so no problem is lost)."""
    return CHECK_OF_EXPORT_CODE.get(getattr(problem, "code", ""), "export_job_shape")


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
