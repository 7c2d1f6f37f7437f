"""``userpilot-mock serve`` as a person meets it: --help, errors from options
and environment variables, warnings (in-process, through click's runner)."""
from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from mock_server.cli import main


@pytest.fixture(autouse=True)
def no_serving(monkeypatch):
    """A command that gets as far as serving returns at once (these tests are about what comes before)."""
    monkeypatch.setattr("mock_server.server.run_server", lambda server: server.close())


def serve(*args, env=None):
    return CliRunner().invoke(main, ["serve", *args], env=env)


def test_serve_help_shows_each_options_environment_variable():
    result = CliRunner().invoke(main, ["serve", "--help"], terminal_width=200)
    options = [o for o in re.findall(r"^\s+(--[a-z-]+)", result.output, re.MULTILINE) if o != "--help"]
    assert len(options) >= 20
    text = " ".join(result.output.split())
    for option in options:
        assert re.search(rf"{option}\b.*?env var: USERPILOT_MOCK_[A-Z_]+", text), option


@pytest.mark.parametrize("variable, value, option", [
    ("USERPILOT_MOCK_PORT", "abc", "--port"),          # click's own type check
    ("USERPILOT_MOCK_SPEED", "0", "--speed"),          # the settings' check
    ("USERPILOT_MOCK_LATENCY", "5", "--latency"),      # a callback
    ("USERPILOT_MOCK_SCENARIO", "mixd", "--scenario"),
    ("USERPILOT_MOCK_FROZEN", "perhaps", "--frozen"),
    ("USERPILOT_MOCK_MAX_JOBS", "0", "--max-jobs"),
    ("USERPILOT_MOCK_CORS_ORIGINS", "localhost:3000", "--cors-origin"),
])
def test_an_error_from_an_environment_variable_names_it(variable, value, option):
    result = serve(env={variable: value})
    assert result.exit_code == 2, result.output
    assert f"'{option}' (from the environment variable {variable})" in result.output
    assert "Traceback" not in result.output


def test_the_same_error_from_the_command_line_names_the_option_only():
    result = serve("--speed", "0")
    assert result.exit_code == 2 and "Invalid value for '--speed':" in result.output
    assert "environment variable" not in result.output


def test_an_unknown_scenario_name_says_there_is_no_bundled_scenario_of_that_name():
    result = serve("--scenario", "mixd")
    assert result.exit_code == 2
    assert "no bundled scenario named 'mixd'" in result.output
    assert all(name in result.output for name in ("empty", "mixed", "all_failed", "in_flight", "large"))


@pytest.mark.parametrize("args, env, flag, variable", [
    (["--api-key", "k"], None, "--api-key", "USERPILOT_MOCK_API_KEYS"),
    (["--admin-token", "t0ken"], None, "--admin-token", "USERPILOT_MOCK_ADMIN_TOKEN"),
])
def test_a_secret_on_the_command_line_is_warned_about(args, env, flag, variable):
    result = serve(*args, "--port", "0", env=env)
    assert f"warning: {flag} is visible to other processes on this machine; prefer {variable}" in result.output


def test_a_secret_from_the_environment_is_not_warned_about():
    result = serve("--port", "0", env={"USERPILOT_MOCK_API_KEYS": "k", "USERPILOT_MOCK_ADMIN_TOKEN": "t0ken"})
    assert result.exit_code == 0, result.output
    assert "visible to other processes" not in result.output


def test_the_banner_says_how_to_send_the_admin_token_and_never_shows_it():
    result = serve("--port", "0", "--host", "0.0.0.0", env={"USERPILOT_MOCK_ADMIN_TOKEN": "t0p-s3cret"})
    assert result.exit_code == 0, result.output
    assert '-H "Authorization: Bearer $USERPILOT_MOCK_ADMIN_TOKEN"' in result.output
    assert "it requires the admin token" in result.output and "t0p-s3cret" not in result.output


def test_cors_is_announced_in_the_banner():
    assert "cors:    any origin (the API only)" in serve("--port", "0", "--cors").output
    result = serve("--port", "0", "--cors-origin", "http://localhost:3000", "--cors-origin", "https://app.test")
    assert "cors:    http://localhost:3000, https://app.test (the API only)" in result.output


@pytest.mark.parametrize("args, env, origins", [
    (("--cors",), None, ("*",)),
    ((), {"USERPILOT_MOCK_CORS": "1"}, ("*",)),
    ((), {"USERPILOT_MOCK_CORS_ORIGINS": "http://localhost:3000 https://app.test"},
     ("http://localhost:3000", "https://app.test")),
])
def test_cors_options_and_their_environment_variables_reach_the_app(monkeypatch, args, env, origins):
    import mock_server.server as server_module
    made = []
    real = server_module.make_server

    def spy(*a, **kw):
        made.append(kw.get("cors_origins"))
        return real(*a, **kw)

    monkeypatch.setattr(server_module, "make_server", spy)
    result = serve("--port", "0", *args, env=env)
    assert result.exit_code == 0, result.output
    assert made == [origins]
