"""The benchmark harness never rots: its quick mode runs here and must print a full table.

Timings are not tested (a loaded machine would make any bar flaky); what is
tested is that every benchmark runs, that the table has every row and column,
that the generated chart and page include are well formed, and that the
hand-written baseline collector does the same work as the library's example.
The bars themselves are judged by `uv run python -m benchmarks`.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from benchmarks.chart import render_svg
from benchmarks.measure import (
    BenchmarkError,
    interleave,
    paired_difference,
    paired_ratio,
    run_process,
)
from benchmarks.report import docs_include, text_table
from benchmarks.results import Row, error_row, format_seconds, judged
from benchmarks.state_io import state_of_size
from stateful_collectors.demo import DemoFeed
from stateful_collectors.sinks.outbox import read_outbox
from tests.support import ROOT, clean_env
from tests.support.broker import broker_missing_reason
from tests.support.postgresql import postgresql_missing_reason

EXPECTED_ROWS = [
    "save_state, 1 KiB state",
    "save_state, 1 KiB, vs unsafe overwrite",
    "save_state, 1 KiB, vs unsafe rename",
    "save_state, 10 MiB state (throughput)",
    "load_state, 1 KiB state, checks included",
    "load_state, 10 MiB state (throughput)",
    "PostgreSQL store: save_state, 1 KiB state",
    "PostgreSQL store: load_state, 1 KiB state",
    "PostgreSQL store vs file store: save_state",  # context rows, when the server is there
    "PostgreSQL store vs file store: load_state",
    "cold start: what a run imports",
    "cold start: import stateful_collectors",
    "publishing ",  # speed; with a broker, two more context rows follow
    "publishing: peak memory",
    "run with nothing new: quiet_collector.py",
    "run with nothing new: my_statefull_collector.py",
    "growth: run finding 10 new items",
    "growth: state file size",
    "time-ordered rows, 20,000 CSV rows",  # run time
    "time-ordered rows, 20,000 CSV rows",  # peak memory
    "mkdocs build --strict",
    "test suite: uv run pytest",
]


@pytest.mark.slow
def test_quick_run_prints_a_full_table(request, tmp_path):
    command = [sys.executable, "-m", "benchmarks", "--quick"]
    expected_rows = list(EXPECTED_ROWS)
    if postgresql_missing_reason() is not None:  # the two bars say 'skipped: no PostgreSQL'
        expected_rows = [row for row in expected_rows if "vs file store" not in row]
    if broker_missing_reason() is None:  # reuse the session's broker rather than start one
        command += ["--amqp-url", request.getfixturevalue("broker").url]
        after_memory = expected_rows.index("publishing: peak memory") + 1
        expected_rows[after_memory:after_memory] = ["publishing: raw pika", "publishing "]
    # The harness decides for itself whether it can start a broker: it must see the
    # same server binary as this test (.ci/run's second pass hides it).
    hidden = os.environ.get("STATEFUL_COLLECTORS_RABBITMQ_SERVER")
    env = clean_env(
        PYTHONPATH=None, TMPDIR=str(tmp_path), STATEFUL_COLLECTORS_RABBITMQ_SERVER=hidden
    )
    completed = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
    lines = completed.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("what "))
    assert re.split(r"\s{2,}", lines[header]) == [
        "what",
        "this project",
        "baseline",
        "ratio",
        "bar",
        "result",
    ]
    table = lines[header + 2 : lines.index("", header)]
    for expected, line in zip(expected_rows, table, strict=True):
        assert line.startswith(expected), (expected, line)
    results = [re.split(r"\s{2,}", line)[-1] for line in table]
    assert not [result for result in results if result.startswith("error")], completed.stdout
    judged_rows = [r for r in results if r == "not judged (--quick)"]
    assert len(judged_rows) >= 7  # every bar but publishing's two is there in any case
    assert "pass" not in results and "FAIL" not in results  # quick runs judge nothing
    assert results[-1] == "skipped in --quick"  # the suite would start itself again
    assert "Every benchmark ran" in completed.stdout
    assert list(tmp_path.iterdir()) == []  # the harness cleaned up after itself


def test_the_harness_modules_leave_nothing_in_tmpdir(tmp_path):
    """Importing the harness (and the broker helpers it uses) creates no file.

    The quick run above checks the same after a whole run; this one is fast and
    runs on a machine without a broker too, where a directory left behind by an
    import once failed the quick run.
    """
    code = "import benchmarks.__main__, benchmarks.publishing, tests.support.broker"
    subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=clean_env(PYTHONPATH=None, TMPDIR=str(tmp_path)),
        check=True,
        timeout=60,
    )
    assert list(tmp_path.iterdir()) == []


def test_write_docs_needs_a_full_run():
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--write-docs"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 2
    assert "--write-docs needs a full run" in completed.stderr


def _rows() -> list[Row]:
    return [
        judged(
            "save_state, 1 KiB state",
            "310 µs",
            "300 µs hand-written",
            ratio="1.03x",
            bar="<= 1.15x",
            passed=True,
            quick=False,
            cost=1.03,
            cost_limit=1.15,
            chart_label="save <1 KiB> & co",
        ),
        judged(
            "growth",
            "240 ms",
            "200 ms",
            ratio="1.20x",
            bar="<= 1.10x",
            passed=False,
            quick=False,
            cost=1.2,
            cost_limit=1.1,
            chart_label="growth",
        ),
        Row("mkdocs build --strict", "5.01 s", "-", "", "", "context"),
    ]


MACHINE = {"date": "2026-11-27 20:00 UTC", "CPU": "Some CPU", "cores": "2", "kernel": "Linux 6"}


def test_the_chart_is_well_formed_svg_with_one_bar_per_judged_row():
    svg = render_svg(_rows(), MACHINE)
    root = ET.fromstring(svg)  # raises on malformed XML (the label's < and & are escaped)
    namespace = "{http://www.w3.org/2000/svg}"
    texts = ["".join(node.itertext()) for node in root.iter(f"{namespace}text")]
    assert "save <1 KiB> & co" in texts
    assert any(text.startswith("1.20 (limit 1.10): FAIL") for text in texts)
    assert any("Measured 2026-11-27 20:00 UTC on Some CPU, 2 cores" in text for text in texts)
    bars = [rect for rect in root.iter(f"{namespace}rect") if rect.get("fill") != "#ffffff"]
    assert [bar.get("fill") for bar in bars] == ["#2e7d32", "#c62828"]  # pass, FAIL
    assert not any("mkdocs" in text for text in texts)  # context rows stay off the chart


def test_table_and_page_include_show_every_row():
    rows = _rows()
    table = text_table(rows).splitlines()
    assert len(table) == 2 + len(rows)
    assert len(table[1]) == max(len(line) for line in table)  # the rule spans every column
    page = docs_include(rows, MACHINE)
    assert "Measured on 2026-11-27 20:00 UTC" in page
    assert "| growth | 240 ms | 200 ms | 1.20x | <= 1.10x | **FAIL** |" in page
    assert "| mkdocs build --strict | 5.01 s | - |   |   | context |" in page


def test_helpers():
    assert [format_seconds(s) for s in (0.0000123, 0.000456, 0.0123, 1.5)] == [
        "12.3 µs",
        "456 µs",
        "12.3 ms",
        "1.50 s",
    ]
    assert len(pickle.dumps(state_of_size(1024), protocol=5)) == 1024
    calls = []
    timings = interleave(
        {name: (lambda name=name: calls.append(name) or 1.0) for name in "abc"}, 3, warmup=1
    )
    assert calls == list("abcbcacababc")  # every round rotates the order
    assert timings == {name: [1.0] * 3 for name in "abc"}
    # each round compared on its own: the slow third round does not skew the result
    assert paired_ratio([2.0, 4.0, 90.0], [1.0, 2.0, 3.0]) == 2.0
    assert paired_difference([2.0, 4.0, 90.0], [1.0, 2.0, 3.0]) == 2.0


def test_a_failing_process_is_reported_in_one_line_of_the_table():
    noisy_failure = "import sys; print('x' * 500, file=sys.stderr); sys.exit(3)"
    with pytest.raises(BenchmarkError) as raised:
        run_process([sys.executable, "-c", noisy_failure])
    row = error_row("cold start", raised.value)
    assert row.result.startswith("error: python")
    assert "exited with status 3: xxx" in row.result
    assert len(row.result) <= 167 and row.failed


@pytest.mark.parametrize("publish_always", [False, True])
def test_the_baseline_collector_does_the_examples_work(tmp_path, publish_always):
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o700)
    state, outbox = state_dir / "baseline.pickle", tmp_path / "outbox.jsonl"
    feed = DemoFeed(3, start="2026-11-27T20:00:00Z")
    with feed.serve() as server:
        command = [
            sys.executable,
            str(ROOT / "benchmarks" / "baseline_collector.py"),
            f"{server.url}/items.json",
            str(state),
            str(outbox),
        ] + (["--publish-always"] if publish_always else [])
        for _ in range(2):  # the first run finds three items, the second none
            subprocess.run(command, check=True, timeout=60)
        feed.add(2)
        subprocess.run(command, check=True, timeout=60)

    with open(state, "rb") as file:
        assert pickle.load(file) == {"last_utc": feed.items()[-1]["time"]}
    bodies = [message.body for message in read_outbox(outbox)]
    ids = [[item["id"] for item in json.loads(body)] for body in bodies]
    assert ids == ([[1, 2, 3], [], [4, 5]] if publish_always else [[1, 2, 3], [4, 5]])
    assert [p.name for p in state_dir.iterdir()] == ["baseline.pickle"]  # no temp files left
