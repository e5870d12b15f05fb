"""The Introduction's quick start, followed from the built site alone, exactly as printed.

The test takes nothing from the repository but the built site (Material's
build; Zensical's shows the same blocks and offers the same downloads, which
the first test and `test_zensical.py` check): the quick start's commands
come from the Introduction's HTML (its "Terminal 1" and "Terminal 2"
blocks), and the two downloads from the site's `downloads/`. In a
fresh directory outside the repository it does what a reader does:

* terminal 1 is one `bash` process that runs the first block's commands, the
  last of which (the demo feed) keeps running;
* terminal 2 is another `bash` process, fed the second block's commands one by
  one; a comment line between two commands is a pause, which lasts until
  terminal 1 prints what the comment waits for ("new item ...").

The environment is a reader's: `python3` on `PATH` is a plain interpreter
(no project, no virtual environment), `HOME` is empty, pip may not use an
index (the wheel installs offline). One liberty is taken, as in the console
transcripts of the other pages: the feed runs on a free port rather than
8808, so `8808` in the commands and in the unpacked config files is replaced
by that port.

Checked: at most six commands in two terminals, the second activating the
virtual environment; the feed serves; run 1 publishes the feed's items, run 2
only those added since; the library runs from the wheel; and the output the
page shows matches what ran (message ids and the exact item lists aside).
"""

from __future__ import annotations

import html
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support import ROOT
from tests.support.processes import free_port

pytestmark = pytest.mark.slow

PAGE_PORT = "8808"
MAX_COMMANDS = 6


class Block:
    """A code block of the quick start: its title and its lines."""

    def __init__(self, title: str, language: str, text: str) -> None:
        self.title = title
        self.language = language
        self.text = text

    def commands(self) -> list[str | None]:
        """The commands, backslash continuations joined; `None` for a pause (a comment line)."""
        steps: list[str | None] = []
        pending = ""
        for line in self.text.splitlines():
            if not line.strip():
                continue
            if line.lstrip().startswith("#") and not pending:
                steps.append(None)
                continue
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1].rstrip() + " "
                continue
            steps.append(pending + line.strip())
            pending = ""
        assert not pending, f"{self.title}: a command ends with a backslash"
        return steps


def quick_start_blocks(site: Path) -> list[Block]:
    """The code blocks of the Introduction's quick start, in order (the clone's variant aside)."""
    page = (site / "index.html").read_text(encoding="utf-8")
    start = page.index('id="quick-start"')
    end = page.index("<h2", start)
    section = re.sub(r"<details.*?</details>", "", page[start:end], flags=re.S)
    blocks = []
    pattern = re.compile(
        r'<div class="(?:language-(\w+) )?highlight">(?:<span class="filename">([^<]*)</span>)?'
        r"<pre>.*?<code>(.*?)</code></pre>",
        re.S,
    )
    for match in pattern.finditer(section):
        code = match.group(3)
        text = html.unescape(re.sub(r"<[^>]+>", "", code))
        # A fence with settings loses its language class; a prompt marks a transcript.
        language = "console" if '<span class="gp">' in code else match.group(1) or ""
        blocks.append(Block((match.group(2) or "").strip(), language, text))
    return blocks


class Terminal:
    """A `bash` process, its output read line by line as it comes."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            ["bash", "--norc", "--noprofile"],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: Ctrl+C reaches the whole terminal
        )
        self.lines: list[str] = []
        self._pending = b""

    def send(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(command.encode() + b"\n")
        self.process.stdin.flush()

    def read_until(self, predicate, timeout: float) -> list[str]:
        """Read lines until one satisfies `predicate`; return the lines read."""
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        got: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self._pending:
                raw, self._pending = self._pending.split(b"\n", 1)
                line = raw.decode("utf-8", "replace")
                self.lines.append(line)
                got.append(line)
                if predicate(line):
                    return got
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out; the terminal printed:\n{chr(10).join(got)}")
            if select.select([fd], [], [], remaining)[0]:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise AssertionError("the terminal closed:\n" + "\n".join(got))
                self._pending += chunk

    def run(self, command: str, timeout: float = 180) -> tuple[str, int]:
        """Run one command as typed at the prompt; its output and exit status."""
        marker = f"__quick_start_done_{time.monotonic_ns()}__"
        self.send(command)
        self.send(f"printf '\\n{marker} %s\\n' $?")
        got = self.read_until(lambda line: line.startswith(marker), timeout)
        status = int(got[-1].split()[-1])
        return "\n".join(got[:-1]).strip("\n"), status

    def close(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)  # Ctrl+C
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()


def _reader_env(home: Path, bin_dir: Path) -> dict[str, str]:
    keep = ("LANG", "LC_ALL", "TZ", "TMPDIR")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    env.update(
        HOME=str(home),
        PATH=f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin",
        PIP_NO_INDEX="1",  # the wheel installs offline, or not at all
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PYTHONUNBUFFERED="1",
        TERM="dumb",
    )
    return env


def _plain_python(bin_dir: Path) -> None:
    """`python3` and `python`: the interpreter behind this test's virtual environment."""
    base = Path(getattr(sys, "_base_executable", sys.executable)).resolve()
    bin_dir.mkdir()
    for name in ("python3", "python"):
        (bin_dir / name).symlink_to(base)


def _normalise(output: str) -> str:
    return re.sub(r"message id [0-9a-f]{8}\.\.\.", "message id ...", output)


def _items(line: str) -> list[int]:
    match = re.search(r": items ([\d, ]+) \(message id", line)
    assert match, line
    return [int(number) for number in match.group(1).split(", ")]


def test_zensical_shows_the_same_quick_start(built_site: Path, zensical_site: Path) -> None:
    """Zensical's Introduction gives the reader the same blocks, commands and output.

    With its downloads the same bytes as Material's (`test_zensical.py`), the
    quick start followed below on Material's site holds for Zensical's too.
    """

    def shown(site: Path) -> list[tuple[str, str, str]]:
        return [(block.title, block.language, block.text) for block in quick_start_blocks(site)]

    assert shown(built_site), "no quick start found on Material's Introduction"
    assert shown(zensical_site) == shown(built_site)


def test_the_quick_start_works_from_the_built_site_alone(built_site: Path, tmp_path: Path) -> None:
    assert not tmp_path.resolve().is_relative_to(ROOT), "the test must run outside the repository"
    blocks = quick_start_blocks(built_site)
    terminals = [block for block in blocks if block.title.startswith("Terminal")]
    assert [block.title for block in terminals] == ["Terminal 1", "Terminal 2"], blocks
    first, second = (block.commands() for block in terminals)
    commands = [step for step in first + second if step is not None]
    assert len(commands) <= MAX_COMMANDS, commands
    assert second[0] and "venv/bin/activate" in second[0], "terminal 2 must activate the venv"
    shown = [block for block in blocks if block.language == "console"]
    assert len(shown) == 1, "the quick start shows the output of its last command once"
    shown_command, *shown_output = shown[0].text.strip().splitlines()
    assert shown_command.removeprefix("$ ") == commands[-1]

    # The reader saves the two downloads in one directory and opens two terminals there.
    where = tmp_path / "downloads"
    where.mkdir()
    for download in (built_site / "downloads").iterdir():
        shutil.copy(download, where / download.name)
    _plain_python(tmp_path / "bin")
    env = _reader_env(tmp_path / "home", tmp_path / "bin")
    (tmp_path / "home").mkdir()
    port = str(free_port())

    def as_run(command: str) -> str:
        return re.sub(rf"\b{PAGE_PORT}\b", port, command)

    terminal_1 = Terminal(where, env)
    terminal_2 = Terminal(where, env)
    started = time.monotonic()
    try:
        *setup_1, feed_command = [step for step in first if step is not None]
        for command in setup_1:
            output, status = terminal_1.run(as_run(command), timeout=300)
            assert status == 0, f"terminal 1: `{command}` exited {status}:\n{output}"
        installed = time.monotonic() - started
        assert "demo-feed" in feed_command
        terminal_1.send(f"{as_run(feed_command)} --port {port}")
        ready = terminal_1.read_until(lambda line: line.startswith("demo feed with"), 60)[-1]
        assert ready.startswith(f"demo feed with 20 items at http://127.0.0.1:{port}/items.json")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/items.json", timeout=10) as answer:
            assert len(json.load(answer)) >= 20  # the feed serves

        outputs: list[tuple[str, str]] = []
        feed_items_at_run: list[int] = []
        for index, step in enumerate(second):
            if step is None:  # wait, as the comment says, for the feed's next item
                seen = len(terminal_1.lines)

                def new_item_after(line: str, seen: int = seen) -> bool:
                    return line.startswith("new item ") and len(terminal_1.lines) > seen

                terminal_1.read_until(new_item_after, timeout=60)
                continue
            output, status = terminal_2.run(as_run(step))
            assert status == 0, f"terminal 2: `{step}` exited {status}:\n{output}"
            if index == 0:  # the tutorial directory is unpacked now: the feed's real port
                tutorial = where / "tutorial"
                for config in tutorial.glob("*.conf"):
                    config.write_text(as_run(config.read_text()))
            if "stateful-collectors run" in step:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/items.json") as answer:
                    feed_items_at_run.append(len(json.load(answer)))
            outputs.append((step, output))

        library, status = terminal_2.run(
            "python -c 'import stateful_collectors; print(stateful_collectors.__file__)'"
        )
        assert status == 0 and library.startswith(str(where / "venv")), library
    finally:
        terminal_2.close()
        terminal_1.close()

    runs = [output for step, output in outputs if "stateful-collectors run" in step]
    assert len(runs) == 2, outputs
    saved = "state saved to state/my_statefull_collector.MyStatefullCollector.pickle"
    for output in runs:
        assert output.splitlines()[-1] == (
            f"MyStatefullCollector: ok: published 1 message(s) to outbox outbox.jsonl; {saved}"
        ), output
    assert "not found; starting from the default state" in runs[0]
    assert "not found" not in runs[1]

    printed = outputs[-1][1].splitlines()
    assert len(printed) == 2, printed
    run_1, run_2 = _items(printed[0]), _items(printed[1])
    assert run_1 == list(range(1, len(run_1) + 1)) and len(run_1) >= 20
    assert run_2 == list(range(len(run_1) + 1, len(run_2) + len(run_1) + 1)) and run_2
    assert len(run_1) <= feed_items_at_run[0] and len(run_1) + len(run_2) <= feed_items_at_run[1]

    # What the page shows is what ran (the ids differ from run to run, as it says).
    expected = [_normalise(line) for line in shown_output]
    actual = [_normalise(line) for line in printed]
    if (run_1, run_2) == (list(range(1, 21)), [21]):
        assert actual == expected
    else:  # the reader waited longer, or the feed ticked before run 1
        strip = lambda line: re.sub(r"items [\d, ]+", "items ...", line)  # noqa: E731
        assert [strip(line) for line in actual] == [strip(line) for line in expected]

    print(
        f"\nquick start: {len(commands)} commands in 2 terminals, from the site's downloads; "
        f"venv and wheel installed offline in {installed:.1f} s; run 1 published items "
        f"{run_1[0]}-{run_1[-1]}, run 2 items {run_2[0]}-{run_2[-1]} (only the new ones); "
        f"the printed output matches the page"
    )
