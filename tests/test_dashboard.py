"""The dashboard in a real browser: Debian's Chromium, headless, driven by
Playwright for Python (``pip install playwright``; never ``playwright
install``: the system browser is used). On a running fake it shows an app's
jobs, reacts to the clock's buttons (a job's status changes, its bar grows),
adds and deletes a fault rule from its form, filters the journal, loads a
scenario, survives a reset, sends the admin token from the URL fragment, and
is readable at a laptop's and a phone's width; any JavaScript console error
fails the test.

Where the browser cannot exist (no Playwright, no Chromium) the tests skip,
saying so; ``USERPILOT_REQUIRE_BROWSER=1`` (set by ``.ci/run``) turns that
into a failure. ``USERPILOT_DASHBOARD_SCREENSHOT=PATH`` writes the
screenshot of the docs (docs/dashboard.png) there; without it the screenshot
goes to the test's temporary folder.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

from mock_server import MockServer
from mock_server.handle import UserpilotMock

pytestmark = pytest.mark.slow

CHROMIUM = os.environ.get("USERPILOT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
#: Headless, and nothing that reaches for the network (docs/development.md).
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
LAPTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
NOW = "2026-11-29T12:00:00Z"
KEY = "dashboard-key"
DURATIONS = {"queued": 30, "validating": 20, "processing": 300, "pending_refresh": 30}


def expect(locator):
    """Playwright's assertions (retried until they hold or time out)."""
    from playwright.sync_api import expect as playwright_expect  # deferred: only where the browser exists
    return playwright_expect(locator)


def _browser_missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install playwright, or the dev extra)"
    if not Path(CHROMIUM).is_file():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    return None


def _version_of(executable: str) -> str:
    """The major version ``executable --version`` prints (``Chromium 156.0...`` -> ``156``)."""
    out = subprocess.run([executable, "--version"], capture_output=True, text=True, timeout=60).stdout
    return re.search(r"(\d+)\.\d+", out).group(1)


@pytest.fixture(scope="module")
def browser():
    missing = _browser_missing()
    if missing:
        if os.environ.get("USERPILOT_REQUIRE_BROWSER") == "1":
            pytest.fail(f"USERPILOT_REQUIRE_BROWSER=1 but {missing}")
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright  # deferred: only where the browser exists

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        assert launched.version.split(".")[0] == _version_of(CHROMIUM), "not the system browser"
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def server():
    with MockServer(seed=7, now=NOW, frozen=True) as running:
        yield running


@pytest.fixture
def mock(server):
    handle = UserpilotMock.over_http(server.url, api_key=KEY)
    handle.reset(scenario="empty", frozen=True, now=NOW)
    handle.clear_coverage()
    yield handle
    handle.close()


def call(mock, path: str) -> int:
    """A client's call of the API (what makes an app appear)."""
    request = urllib.request.Request(mock.url + path, headers=mock.headers)
    try:
        with urllib.request.urlopen(request) as answer:
            answer.read()
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


class Page:
    """A browser page on the dashboard that records every console error."""

    def __init__(self, browser, url: str, viewport: dict):
        self.context = browser.new_context(viewport=viewport)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(f"console.{m.type}: {m.text}")
                     if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        self.requests: list = []
        self.page.on("request", lambda r: self.requests.append(r))
        self.page.goto(url)

    def solid_width(self, job_id: str) -> float:
        """Pixels of the job's bar up to now (the phases it has been through)."""
        return self.page.evaluate(
            """id => [...document.querySelector(`#jobs tr[data-job-id="${id}"]`).querySelectorAll('.seg:not(.future)')]
                    .reduce((sum, bar) => sum + bar.getBoundingClientRect().width, 0)""", job_id)

    def row(self, job_id: str):
        return self.page.locator(f'#jobs tr[data-job-id="{job_id}"]')

    def fits_the_width(self) -> bool:
        return self.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def open_page(browser, server):
    pages = []

    def opener(viewport=LAPTOP, fragment: str = "") -> Page:
        page = Page(browser, server.url + "/__admin/ui/" + fragment, viewport)
        pages.append(page)
        return page

    yield opener
    errors = [e for page in pages for e in page.errors]
    for page in pages:
        page.close()
    assert errors == [], "JavaScript console errors: " + "; ".join(errors)


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["laptop", "phone"])
def test_jobs_move_with_the_clock_buttons(mock, open_page, viewport, tmp_path):
    assert call(mock, "/v1/background_jobs") == 200
    job = mock.add_job(total_rows=6000, filename="users.csv", durations=DURATIONS)["job_id"]
    ui = open_page(viewport)
    page = ui.page
    row = ui.row(job)
    row.wait_for()
    assert row.get_attribute("data-status") == "queued"
    assert page.locator(f'#apps tr[data-app="{mock.app_token}"]').is_visible()
    assert page.locator("#clock-now").inner_text() == "2026-11-29 12:00:00 UTC"
    assert page.locator("#clock-state").inner_text() == "frozen"
    before = ui.solid_width(job)
    assert row.locator(".rows").inner_text() == "0 / 6,000"

    page.get_by_role("button", name="advance 1 min").click()
    page.wait_for_selector(f'#jobs tr[data-job-id="{job}"][data-status="processing"]')  # 30 s queued, 20 s validating
    assert page.locator("#clock-now").inner_text() == "2026-11-29 12:01:00 UTC"
    after = ui.solid_width(job)
    assert after > before + 1, (before, after)
    assert row.locator(".status").inner_text() == "processing"

    page.get_by_role("button", name="advance 10 min").click()
    page.wait_for_selector(f'#jobs tr[data-job-id="{job}"][data-status="completed"]')
    assert row.locator(".rows").inner_text() == "6,000 / 6,000"
    assert ui.solid_width(job) > after
    assert ui.fits_the_width(), "the page scrolls sideways"
    for name in ("advance 10 s", "advance 1 min", "advance 10 min", "advance 1 h"):
        assert page.get_by_role("button", name=name).is_visible()
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)


def test_freeze_resume_and_speed(mock, open_page):
    call(mock, "/v1/background_jobs")
    page = open_page().page
    page.locator("#clock-state").filter(has_text="frozen").wait_for()
    page.get_by_role("button", name="Resume").click()
    page.locator("#clock-state").filter(has_text="running").wait_for()
    assert mock.clock.state()["frozen"] is False
    page.fill("#speed-input", "60")
    page.get_by_role("button", name="Set speed").click()
    page.locator("#clock-state").filter(has_text="running \u00d760").wait_for()
    assert mock.clock.state()["speed"] == 60
    page.get_by_role("button", name="Freeze").click()
    page.locator("#clock-state").filter(has_text="frozen").wait_for()
    assert mock.clock.state()["frozen"] is True


def test_a_fault_rule_added_from_the_form_is_listed_then_deleted(mock, open_page):
    call(mock, "/v1/background_jobs")
    ui = open_page()
    page = ui.page
    page.locator(f'#apps tr[data-app="{mock.app_token}"]').wait_for()
    page.select_option("#fault-operation", "getJob")
    page.select_option("#fault-app", mock.app_token)
    page.fill("#fault-status", "429")
    page.fill("#fault-times", "2")
    page.get_by_role("button", name="Add fault rule").click()
    rule = page.locator("#faults tbody tr").first
    rule.wait_for()
    assert rule.locator("td").nth(1).inner_text() == "getJob"
    assert rule.locator("td").nth(2).inner_text() == mock.app_token
    assert "answers 429" in rule.locator("td").nth(3).inner_text()
    assert rule.locator("td").nth(4).inner_text() == "2"
    (listed,) = mock.faults
    assert (listed["operation"], listed["app_token"], listed["status"], listed["times"]) == \
        ("getJob", mock.app_token, 429, 2)
    assert call(mock, "/v1/background_jobs/x") == 429
    page.locator("#faults tbody tr td.num").nth(1).filter(has_text="1").wait_for()  # its hits, polled
    page.select_option("#fault-kind", "MALFORMED_RESPONSE_CHUNK")
    page.get_by_role("button", name="Add fault rule").click()
    page.locator("#faults tbody tr").nth(1).wait_for()
    assert mock.faults[1]["fault"] == "MALFORMED_RESPONSE_CHUNK" and mock.faults[1]["status"] is None
    page.get_by_role("button", name=f"delete {listed['id']}").click()
    expect(page.locator("#faults tbody tr")).to_have_count(1)
    assert [r["id"] for r in mock.faults] != [listed["id"]]
    page.select_option("#fault-kind", "latency")  # and no latency: the control API refuses it
    page.get_by_role("button", name="Add fault rule").click()
    error = page.locator("#fault-error")
    error.wait_for()
    assert "needs status, fault or latency_ms" in error.inner_text()  # its 400, shown where it was made
    # Chromium logs every 4xx answer to fetch() in the console: this one was asked for (the only one)
    refusal = "console.error: Failed to load resource: the server responded with a status of 400 (Bad Request)"
    assert ui.errors == [refusal]
    ui.errors.clear()


def test_the_journal_highlights_violations_and_filters(mock, open_page):
    call(mock, "/v1/background_jobs?page=2")
    call(mock, "/v1/background_jobs/nope")
    page = open_page().page
    page.locator("#journal tbody tr").nth(1).wait_for()
    rows = page.locator("#journal tbody tr")
    assert "GET /v1/background_jobs/nope" in rows.nth(0).inner_text()  # newest first
    violation = page.locator("#journal tbody tr.violation")
    assert violation.count() == 1 and "unknown query parameter 'page'" in violation.inner_text()
    page.select_option("#journal-operation", "getJob")
    expect(rows).to_have_count(1)
    assert "404" in rows.nth(0).inner_text()
    page.select_option("#journal-operation", "")
    other = UserpilotMock.over_http(mock.url, api_key="another-key")
    call(other, "/v1/background_jobs")                   # a second app's request, the newest
    expect(rows).to_have_count(3)
    page.select_option("#journal-app", mock.app_token)
    expect(rows).to_have_count(2)
    page.select_option("#journal-app", other.app_token)
    expect(rows).to_have_count(1)
    assert other.app_token in rows.nth(0).inner_text()
    other.close()


def test_scenario_load_and_reset(mock, open_page):
    call(mock, "/v1/background_jobs")
    page = open_page().page
    page.locator(f'#apps tr[data-app="{mock.app_token}"]').wait_for()
    page.select_option("#scenario-select", "in_flight")
    page.get_by_role("button", name="Load into this app").click()
    expect(page.locator("#jobs tbody tr")).to_have_count(len(mock.jobs()))
    page.locator("#scenario-current").filter(has_text="in_flight").wait_for()
    page.get_by_role("button", name="Reset the fake").click()
    page.locator("#apps-empty").wait_for()  # no app left; the page asks for none it cannot find
    assert page.locator("#jobs tbody tr").count() == 0
    assert call(mock, "/v1/background_jobs") == 200
    page.locator(f'#apps tr[data-app="{mock.app_token}"]').wait_for()  # back when a client calls again


def test_export_and_bulk_jobs_show_with_their_types(mock, open_page):
    call(mock, "/v1/background_jobs")
    page = open_page().page
    page.locator(f'#apps tr[data-app="{mock.app_token}"]').wait_for()
    page.select_option("#scenario-select", "exports_and_bulk")
    page.get_by_role("button", name="Load into this app").click()
    rows = page.locator("#jobs tbody tr")
    expect(rows).to_have_count(5)
    companies = page.locator("#jobs tbody tr", has_text="bulk_identify_companies")
    assert companies.get_attribute("data-status") == "processing"  # 30 s in: 10 s queued, 10 s validating
    assert sorted(t.strip() for t in page.locator("#jobs tbody tr td:nth-child(2)").all_inner_texts()) == [
        "bulk_identify_companies", "bulk_identify_users", "export", "export", "export"]
    page.get_by_role("button", name="advance 10 min").click()
    page.locator("#jobs tbody tr[data-status='completed']", has_text="bulk_identify_companies").wait_for()


def test_the_admin_token_comes_from_the_fragment_and_stays_in_the_tab(mock, open_page):
    call(mock, "/v1/background_jobs")
    ui = open_page(fragment="#token=s3cret")
    page = ui.page
    page.locator(f'#apps tr[data-app="{mock.app_token}"]').wait_for()
    assert page.evaluate("window.location.hash") == ""  # taken off the address bar
    assert page.evaluate("sessionStorage.getItem('userpilot-mock.admin-token')") == "s3cret"
    control = [r for r in ui.requests if "/__admin/" in r.url and not r.url.endswith((".js", ".css", "/ui/"))]
    assert control and all(r.headers.get("authorization") == "Bearer s3cret" for r in control)
    posts = []
    page.on("request", lambda r: posts.append(r) if r.method == "POST" else None)
    page.get_by_role("button", name="advance 10 s").click()
    page.locator("#clock-now").filter(has_text="12:00:10").wait_for()
    assert posts[0].headers["content-type"] == "application/json"
    assert json.loads(posts[0].post_data) == {"advance_seconds": 10}


def test_the_coverage_panel_shows_the_report(mock, open_page):
    call(mock, "/v1/background_jobs")
    page = open_page().page
    page.locator("#coverage-percent").filter(has_text="%").wait_for()
    report = mock.coverage()
    assert page.locator("#coverage-percent").inner_text() == f"{report['summary']['percent']:.1f}%"
    page.locator("#coverage-panel summary").click()
    assert "no test called createImport (POST /v1/imports)" in page.locator("#coverage-missed").inner_text()


def test_the_docs_screenshot(server, open_page, tmp_path):
    """The page as docs/dashboard.md shows it: the mixed scenario, a job in
    flight, a few requests (one breaking the spec) and a fault rule."""
    mock = UserpilotMock.over_http(server.url, api_key="demo-api-key")
    mock.reset(scenario="mixed", frozen=True, now=NOW)
    call(mock, "/v1/background_jobs")
    job = mock.add_job(total_rows=6000, filename="users_2026-11-29.csv", durations=DURATIONS)["job_id"]
    mock.clock.advance(45)
    for path in ("/v1/background_jobs/" + job, "/v1/background_jobs?page=2", "/v1/background_jobs/" + job):
        call(mock, path)
    mock.fail_next("getJob", status=503, times=2)
    call(mock, "/v1/background_jobs/" + job)
    mock.clock.advance(60)
    ui = open_page(LAPTOP)
    ui.row(job).wait_for()
    ui.page.locator("#faults tbody tr").first.wait_for()
    ui.page.wait_for_timeout(300)
    target = Path(os.environ.get("USERPILOT_DASHBOARD_SCREENSHOT") or tmp_path / "dashboard.png")
    ui.page.screenshot(path=str(target), full_page=True)
    assert target.stat().st_size > 10_000
    mock.close()
