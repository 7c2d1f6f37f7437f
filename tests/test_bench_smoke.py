"""The benchmark harness (bench/) stays runnable: its pieces import, parse
and report, and a one-second mini-run works where wrk is installed. The
benchmarks themselves never run in the test suite (python -m bench)."""
from __future__ import annotations

import pytest

from bench import report, run, throughput, wrk

WRK_OUTPUT = """Running 1s test @ http://127.0.0.1:5000/v1/background_jobs
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.10ms    1.20ms  20.00ms   90.00%
    Req/Sec     2.50k   100.00     2.70k    70.00%
  Latency Distribution
     50%    2.90ms
     75%    3.40ms
     90%    4.10ms
     99%  850.00us
  2500 requests in 1.00s, 24.50MB read
  Non-2xx or 3xx responses: 3
Requests/sec:   2499.50
Transfer/sec:     24.48MB
"""


def test_wrk_output_is_parsed():
    result = wrk.parse(WRK_OUTPUT)
    assert result["rps"] == 2499.5
    assert result["requests"] == 2500
    assert result["p50_ms"] == pytest.approx(2.9)
    assert result["p99_ms"] == pytest.approx(0.85)
    assert result["non_2xx"] == 3
    assert result["bytes_per_request"] == round(24.5 * 2 ** 20 / 2500)


def test_wrk_output_without_figures_is_an_error():
    with pytest.raises(ValueError):
        wrk.parse("unable to connect to 127.0.0.1:1 Connection refused")


def test_rows_judge_targets_and_say_what_did_not_run():
    results = {
        "meta": {"date": "2026-11-29T12:00:00Z", "command": "python -m bench", "commit": "abc", "seconds": 1.0,
                 "machine": {"cores": 2, "usable_cores": 2, "cpu": "x", "system": "Linux",
                             "load_average": [1.0, 1.0, 1.0]},
                 "load_average_end": [1.0, 1.0, 1.0], "versions": {"python": "3.11"}, "wrk": "4.1.0"},
        "throughput": {
            "targets": {key: {"label": key, "rps": rps, "p50_ms": 1.0, "p99_ms": 2.0, "cpu_us_per_request": 300,
                              "bytes_per_request": 100, "rounds": [rps], "notes": []}
                        for key, rps in (("fake_list25_frozen", 2100.0), ("flask_list25_w4", 1000.0))},
            "ratios": {"list25_frozen_vs_flask_w4": {"median": 2.1, "rounds": [2.1], "cpu_cost_ratio": 2.0}},
            "settings": {"duration_s": 1, "rounds": 1, "connections": 8, "wrk_threads": 1}, "notes": []},
        "memory": {"jobs": 100_000, "peak_rss_mb": 350.0, "idle_rss_mb": 30.0, "final_rss_mb": 300.0,
                   "create_and_list_s": 9.0, "second_list_s": 0.1, "body_bytes": 40_000_000},
        "pertest": {"available": False, "reason": "not available yet: no plugin"},
    }
    rows = {row["key"]: row for row in report.build_rows(results)}
    assert rows["list25_frozen"]["verdict"] == "pass"
    assert rows["single_frozen"]["verdict"] == "not run"
    assert rows["memory"]["verdict"] == "MISS"
    assert rows["pertest"]["verdict"] == "not available yet"
    assert rows["contract"]["verdict"] == "not run"
    text = report.markdown(results, list(rows.values()))
    assert rows["idle_granian"]["verdict"] == "not run"
    assert "| List Jobs 25, frozen clock: fake / Flask on waitress 4 threads |" in text
    assert "peak RSS" in text.split("## Gaps and causes")[1]
    assert "MISS" in report.table(list(rows.values()))


def test_quick_options():
    args = run.parse_args(["--quick", "--only", "throughput,memory"])
    assert (args.duration, args.rounds, args.memory_jobs) == (1.0, 1, 10_000)
    assert args.only == ["throughput", "memory"]
    with pytest.raises(SystemExit):
        run.parse_args(["--only", "nonsense"])


@pytest.mark.skipif(not wrk.available(), reason="wrk is not installed (apt-get install wrk)")
def test_one_second_mini_run():
    result = throughput.mini_run(duration=1)
    assert result["fake"]["requests"] > 0 and result["wsgi"]["requests"] > 0
    assert result["fake"]["non_2xx"] == 0 and result["fake"]["errors"] == 0
    assert result["ratio"] > 0


def test_the_recording_row_judges_the_overhead_and_merges_into_the_results(tmp_path):
    results = {"meta": {"date": "d", "commit": "c"},
               "record": {"overhead_ms": 2.0, "recorded_ms": 3.0, "direct_ms": 1.0, "target_ms": 5.0}}
    row = next(r for r in report.build_rows(results) if r["key"] == "record")
    assert row["verdict"] == "pass" and row["target"] == "<= 5 ms"
    results["record"]["overhead_ms"] = 6.0
    assert next(r for r in report.build_rows(results) if r["key"] == "record")["verdict"] == "MISS"
    old = tmp_path / "latest.json"
    old.write_text('{"meta": {"date": "old"}, "memory": {"peak_rss_mb": 1}, "rows": []}')
    merged = report.merged(old, results, ["record"])
    assert merged["memory"] == {"peak_rss_mb": 1} and merged["record"] == results["record"]
    assert merged["meta"]["merged"][0]["sections"] == ["record"]
    assert "record" in run.SECTIONS
