"""The client against userpilot-mock's fixtures: no conftest, no set-up code.

The project's pytest options (pyproject.toml) give every test seed 42 and a
frozen clock; markers change that per test.
"""
import pytest

from jobs_client import ApiError, JobFailed, JobsClient


@pytest.fixture
def client(userpilot_mock):
    # each poll advances the fake's clock instead of sleeping
    return JobsClient(userpilot_mock.url, userpilot_mock.api_key, sleep=userpilot_mock.clock.advance)


@pytest.mark.userpilot(scenario="empty")
def test_wait_for_an_import_to_complete(client, userpilot_mock):
    job = userpilot_mock.add_job(type="import", filename="users.csv", total_rows=6000)
    assert job["status"] == "queued"

    done = client.wait_for(job["job_id"], poll_every=30)

    assert done["status"] == "completed"
    assert done["completed_rows"] == done["total_rows"] == 6000
    # 6,000 rows at 1,200 rows/minute: at least 5 minutes of processing
    assert done["elapsed_time"] >= 300
    polls = userpilot_mock.requests.assert_called("GET", f"/v1/background_jobs/{job['job_id']}")
    assert len(polls) >= 10
    userpilot_mock.requests.assert_no_violations()


@pytest.mark.userpilot(scenario="empty")
def test_a_failed_job_raises(client, userpilot_mock):
    job = userpilot_mock.add_job(total_rows=3000, outcome="failed", fail_at="processing")
    with pytest.raises(JobFailed) as caught:
        client.wait_for(job["job_id"])
    assert caught.value.job["status"] == "failed"
    assert 0 < caught.value.job["completed_rows"] < 3000   # it failed part-way through


@pytest.mark.userpilot(scenario="empty")
def test_wait_gives_up(client, userpilot_mock):
    job = userpilot_mock.add_job(total_rows=10000)
    with pytest.raises(TimeoutError):
        client.wait_for(job["job_id"], poll_every=10, max_wait=60)
    assert len(userpilot_mock.requests) == 7


@pytest.mark.userpilot(scenario="in_flight")
def test_in_flight_jobs_all_finish(client, userpilot_mock):
    running = client.in_flight()
    assert len(running) == 4
    for job in running:
        assert client.wait_for(job["job_id"], poll_every=60)["status"] == "completed"
    assert client.in_flight() == []


@pytest.mark.userpilot(scenario="mixed")
def test_mixed_history(client):
    jobs = client.list_jobs()
    assert {job["status"] for job in jobs} == {"completed", "failed", "processing", "queued"}


def test_same_seed_same_history(client, userpilot_mock):
    first = client.list_jobs()
    userpilot_mock.reset()          # what the fixture does before every test
    assert client.list_jobs() == first
    userpilot_mock.reset(seed=43)
    assert client.list_jobs() != first


def test_a_wrong_key_is_401(userpilot_mock):
    client = JobsClient(userpilot_mock.url, "")
    with pytest.raises(ApiError) as caught:
        client.list_jobs()
    assert caught.value.status == 401
    assert userpilot_mock.requests[0]["violations"][0]["name"] == "Authorization"


@pytest.mark.userpilot(scenario="mixed")
def test_in_process_without_a_socket(userpilot_flask_client):
    mock = userpilot_flask_client.mock

    def transport(method, url, headers):
        response = userpilot_flask_client.open(url, method=method, headers=headers)
        return response.status_code, response.get_data()

    client = JobsClient("http://localhost", mock.api_key, transport=transport, sleep=mock.clock.advance)
    job = next(job for job in client.list_jobs() if job["status"] == "processing")
    assert client.wait_for(job["job_id"])["status"] == "completed"
    mock.requests.assert_no_violations()
