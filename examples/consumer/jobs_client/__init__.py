"""A small client of Userpilot's background-jobs API (standard library only).

    client = JobsClient("https://analytex.userpilot.io", api_key)
    job = client.wait_for(job_id)          # polls until completed or failed

``transport`` and ``sleep`` can be replaced (tests pass the fake's clock as
``sleep``, or a Flask test client as ``transport``).
"""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from urllib.parse import quote

TERMINAL = ("completed", "failed")


class ApiError(Exception):
    """The API answered with an error status (``status``, ``errors``)."""

    def __init__(self, status: int, body: bytes):
        try:
            self.errors = json.loads(body).get("errors", [])
        except (ValueError, AttributeError):
            self.errors = []
        message = self.errors[0].get("message", "") if self.errors else body[:200].decode(errors="replace")
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class JobFailed(Exception):
    """The job ended in ``failed`` (``job`` holds its last state)."""

    def __init__(self, job: dict):
        super().__init__(f"job {job['job_id']} failed after {job['completed_rows']} of "
                         f"{job['total_rows']} rows")
        self.job = job


def urllib_transport(method: str, url: str, headers: dict) -> tuple[int, bytes]:
    request = urllib.request.Request(url, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class JobsClient:
    """List jobs, read one, wait for one to finish.

    ``base_url``: e.g. ``https://analytex.userpilot.io``; ``api_key``: sent as
    ``Authorization: Token <key>``; ``transport(method, url, headers) ->
    (status, body bytes)``; ``sleep(seconds)`` between polls.
    """

    def __init__(self, base_url: str, api_key: str, *, transport=urllib_transport, sleep=time.sleep):
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.transport = transport
        self.sleep = sleep

    def _get(self, path: str):
        status, body = self.transport("GET", self.base_url + path, {
            "Authorization": f"Token {self.api_key}", "Accept": "application/json"})
        if status != 200:
            raise ApiError(status, body)
        return json.loads(body)

    def list_jobs(self) -> list[dict]:
        """Every job of the app, newest first."""
        return self._get("/v1/background_jobs")

    def get_job(self, job_id: str) -> dict:
        """One job, with ``completed_rows``. The id's colons are sent
        percent-encoded (``bulk%3Ajobs%3A...``)."""
        return self._get("/v1/background_jobs/" + quote(job_id, safe=""))

    def wait_for(self, job_id: str, *, poll_every: float = 5.0, max_wait: float = 3600.0) -> dict:
        """Poll ``job_id`` every ``poll_every`` seconds until it is completed
        (returned) or failed (:class:`JobFailed`); TimeoutError after
        ``max_wait`` seconds of polling."""
        waited = 0.0
        while True:
            job = self.get_job(job_id)
            if job["status"] == "completed":
                return job
            if job["status"] == "failed":
                raise JobFailed(job)
            if waited >= max_wait:
                raise TimeoutError(f"job {job_id} still {job['status']} after {waited:g} s")
            self.sleep(poll_every)
            waited += poll_every

    def in_flight(self) -> list[dict]:
        """Jobs not finished yet."""
        return [job for job in self.list_jobs() if job["status"] not in TERMINAL]
