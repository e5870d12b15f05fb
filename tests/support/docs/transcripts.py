"""Console transcripts: read them from the pages, replay them in a sandbox, rewrite them.

A transcript is a ```console block of `$ command` lines, each followed by what
the command printed (stdout and stderr together). The rules a page follows are
on the guide's page docs/about/writing-pages.md; this module does the work.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import pickle
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.support import EXAMPLES, ROOT, clean_env
from tests.support.docs.fences import Fence, iter_fences
from tests.support.processes import free_port

DOC_FEED_PORT = 8808
"""The demo feed's port as the pages show it (the command's default)."""
DOC_BROKER_PORT = 5672
"""RabbitMQ's port as the pages show it (AMQP's default)."""
DOC_POSTGRESQL_PORT = 5432
"""PostgreSQL's port as the pages show it (its default)."""
DOC_POSTGRESQL_DATABASE = "collectors"
"""The database a page that needs PostgreSQL finds empty, owned by the role `collector`."""
DOC_HOME = "/home/you"
"""What the sandbox's home directory is shown as; the commands run in `~/tutorial`."""
DOC_TIMESTAMP = int(dt.datetime(2026, 11, 27, 20, 30, tzinfo=dt.UTC).timestamp())
"""What a message's `"timestamp": ...` property is shown as."""
DOC_BACKUP_STAMP = "20261127T203000000000Z"
"""What the time stamp in a state backup's name is shown as."""
DOC_BACKUP_TIME = "2026-11-27T20:30:00Z"
"""What the times `state backups` prints for a PostgreSQL backup are shown as."""
DOC_PID = 4242
"""What a process id in a message (`pid 12345`) is shown as."""

LEFTOVER_STATES = (
    "my_statefull_collector.MyStatefullCollector.pickle",
    "quiet_collector.QuietCollector.pickle",
    "checkpoint_collector.CheckpointCollector.pickle",
    "migration_collector.CountingCollector.pickle",
)
"""State files an earlier page leaves in the tutorial directory (see `Sandbox`)."""
LEFTOVER_OUTBOX_LINE = json.dumps(
    {
        "exchange": "raw",
        "routing_key": "my-statefull-collector.example-channel",
        "properties": {"message_id": "0" * 32, "type": "stream", "headers": {}},
        "body": "[]",
        "body_encoding": "utf-8",
    }
)
"""A message an earlier page's run left in the outbox."""

LONG_RUNNING_RE = re.compile(r"^\s*stateful-collectors\s+demo-feed\b(?!.*\s(-h|--help)\b)")
"""Commands that serve until stopped: started in the background, their first lines checked."""


class TranscriptError(Exception):
    """A transcript is malformed, a command failed, or its output differs."""


@dataclasses.dataclass
class Command:
    """One `$ command` of a transcript and the output shown under it."""

    text: str
    """The command as written (continuation lines joined with newlines)."""
    expected: str
    """The output as written, without trailing blank lines."""
    line: int
    """1-based line of the `$` in the page."""


@dataclasses.dataclass
class Transcript:
    """One ```console block."""

    fence: Fence
    commands: list[Command]

    @property
    def needs_rabbitmq(self) -> bool:
        return self.fence.info.settings.get("needs") == "rabbitmq"

    @property
    def needs_postgresql(self) -> bool:
        return self.fence.info.settings.get("needs") == "postgresql"

    @property
    def skip_reason(self) -> str | None:
        test = self.fence.info.settings.get("test")
        if test is None:
            return None
        reason = test.removeprefix("skip:").strip() if test.startswith("skip:") else ""
        if not reason:
            raise TranscriptError(
                f'{self.fence.where}: test="{test}" is not allowed; write '
                'test="skip: <why this transcript cannot run in the tests>"'
            )
        return reason

    def render(self, outputs: list[str]) -> str:
        """The block's body with `outputs` under the commands (for update mode)."""
        lines = []
        for command, output in zip(self.commands, outputs, strict=True):
            lines.append(f"$ {command.text}")
            if output:
                lines.append(output)
        body = "\n".join(lines) + "\n"
        indent = self.fence.indent
        return "".join(indent + line if line.strip() else line for line in body.splitlines(True))


def parse_transcript(fence: Fence) -> Transcript:
    """Split a console block into commands (`$ ...`, `\\`-continued) and their output."""
    commands: list[Command] = []
    current: list[str] | None = None
    output: list[str] = []
    continued = False

    def finish() -> None:
        if current is not None:
            expected = "\n".join(output).rstrip()
            commands.append(Command("\n".join(current), expected, current_line))

    current_line = fence.line
    for number, line in enumerate(fence.body.splitlines(), start=fence.line + 1):
        if continued and current is not None:
            current.append(line)
            continued = line.rstrip().endswith("\\")
            continue
        if line == "$" or line.startswith("$ "):
            finish()
            current, output, current_line = [line[2:]], [], number
            continued = line.rstrip().endswith("\\")
        elif current is None:
            if line.strip():
                raise TranscriptError(
                    f"{fence.where}: a console block starts with '$ command' lines; "
                    f"{line!r} comes before any (use ```text for output that no command printed)"
                )
        else:
            output.append(line.rstrip())
    finish()
    if not commands:
        raise TranscriptError(
            f"{fence.where}: a console block with no '$ command' line; use ```text or ```bash"
        )
    return Transcript(fence, commands)


TRANSCRIPT_LANGUAGES = ("console", "shell-session")


def transcripts_of(path: Path) -> list[Transcript]:
    """Every console transcript of a page, in order (raises `TranscriptError` if malformed)."""
    return [
        parse_transcript(fence)
        for fence in iter_fences(path)
        if fence.info.language in TRANSCRIPT_LANGUAGES
    ]


def pages_with_transcripts() -> list[Path]:
    """The pages (and README) that hold at least one console block."""
    candidates = [*sorted((ROOT / "docs").rglob("*.md")), ROOT / "README.md"]
    return [
        path
        for path in candidates
        if any(fence.info.language in TRANSCRIPT_LANGUAGES for fence in iter_fences(path))
    ]


class Sandbox:
    """A private `~/tutorial` holding copies of `examples/`, where transcripts run.

    Normalisation, applied to what a command prints before it is compared:
    the sandbox's home directory -> `/home/you`; the feed's real port -> 8808;
    the broker's real port -> 5672; PostgreSQL's -> 5432; `"timestamp": <seconds>`
    -> a fixed time; backup time stamps (`.20261127T...Z.bak`), the times of a
    PostgreSQL backup (`kept ...`, `saved ...`) and `pid N` -> fixed values;
    trailing blanks at line ends and at the end are ignored. The reverse port
    mapping is applied to commands and to the copied config files.
    """

    def __init__(self, base: Path) -> None:
        self.home = base / "home"
        self.cwd = self.home / "tutorial"
        self.cwd.mkdir(parents=True)
        self.feed_port = free_port()
        self.broker_port: int | None = None
        self.postgresql_port: int | None = None
        self._background: list[subprocess.Popen[bytes]] = []
        for source in sorted(EXAMPLES.iterdir()):
            if source.is_file() and source.suffix in (".py", ".conf", ".ini", ".json", ".csv"):
                target = self.cwd / source.name
                if source.suffix == ".py":
                    shutil.copyfile(source, target)
                else:
                    target.write_text(self.to_sandbox(source.read_text()))
        self._leave_earlier_runs()

    def _leave_earlier_runs(self) -> None:
        """What a reader's tutorial directory holds after the quick start and earlier pages.

        A page replayed in a pristine directory would pass even if it forgot to
        say how to clear it; so the sandbox starts with a state and an outbox from
        an earlier run (and a config file in ~/.config). A page whose output
        depends on them links to the reset snippet before its first transcript
        (docs/about/writing-pages.md, "Starting afresh").
        """
        state = self.cwd / "state"
        state.mkdir(mode=0o700)
        os.chmod(state, 0o700)
        for name in LEFTOVER_STATES:
            path = state / name
            path.write_bytes(pickle.dumps({"last_utc": "2026-11-28T23:59:00Z"}))
            os.chmod(path, 0o600)
        (self.cwd / "outbox.jsonl").write_text(LEFTOVER_OUTBOX_LINE + "\n")
        user_config = self.home / ".config" / "stateful-collectors"
        user_config.mkdir(parents=True)
        (user_config / "my_statefull_collector.conf").write_text(
            self.to_sandbox((EXAMPLES / "my_statefull_collector.conf").read_text())
        )

    # -- translating between the page and the sandbox

    def to_sandbox(self, text: str) -> str:
        text = re.sub(rf"\b{DOC_FEED_PORT}\b", str(self.feed_port), text)
        if self.broker_port is not None:
            text = re.sub(rf"\b{DOC_BROKER_PORT}\b", str(self.broker_port), text)
        if self.postgresql_port is not None:
            text = re.sub(rf"\b{DOC_POSTGRESQL_PORT}\b", str(self.postgresql_port), text)
        return text

    def normalise(self, output: str) -> str:
        output = output.replace(str(self.home), DOC_HOME)
        output = re.sub(rf"\b{self.feed_port}\b", str(DOC_FEED_PORT), output)
        if self.broker_port is not None:
            output = re.sub(rf"\b{self.broker_port}\b", str(DOC_BROKER_PORT), output)
        if self.postgresql_port is not None:
            output = re.sub(rf"\b{self.postgresql_port}\b", str(DOC_POSTGRESQL_PORT), output)
            output = re.sub(
                r"\b(kept|saved) \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", rf"\1 {DOC_BACKUP_TIME}", output
            )
        output = re.sub(r'("timestamp": )\d{9,}', rf"\g<1>{DOC_TIMESTAMP}", output)
        output = re.sub(r"\.\d{8}T\d{6,12}Z\.bak\b", f".{DOC_BACKUP_STAMP}.bak", output)
        output = re.sub(r"\bpid \d+\b", f"pid {DOC_PID}", output)
        return "\n".join(line.rstrip() for line in output.splitlines()).strip("\n")

    def use_broker(self, port: int) -> None:
        """From now on, 5672 in commands and config files means the test broker's port."""
        self.broker_port = port
        for path in self.cwd.glob("*.conf"):
            path.write_text(re.sub(rf"\b{DOC_BROKER_PORT}\b", str(port), path.read_text()))

    def use_postgresql(self, port: int) -> None:
        """From now on, 5432 in commands and config files means the test server's port."""
        self.postgresql_port = port
        for path in self.cwd.glob("*.conf"):
            text = path.read_text()
            path.write_text(re.sub(rf"\b{DOC_POSTGRESQL_PORT}\b", str(port), text))

    def env(self) -> dict[str, str]:
        env = {
            key: value
            for key, value in clean_env(VIRTUAL_ENV=None).items()
            if not key.startswith(("XDG_", "PYTEST_", "COV_"))
        }
        venv_bin = str(Path(sys.executable).parent)
        env.update(
            HOME=str(self.home),
            PATH=f"{venv_bin}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}",
            PYTHONUNBUFFERED="1",
            PYTHONDONTWRITEBYTECODE="1",
            COLUMNS="80",
            LC_ALL="C.UTF-8",
            NO_COLOR="1",
        )
        return env

    # -- running

    def run(self, command: Command, *, update: bool) -> str:
        """Run one command; return its normalised output."""
        text = self.to_sandbox(command.text)
        if LONG_RUNNING_RE.match(text):
            return self._start_background(text, command, update=update)
        try:
            result = subprocess.run(
                ["bash", "-c", text],
                cwd=self.cwd,
                env=self.env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=120,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise TranscriptError(f"line {command.line}: `{command.text}` ran for 120 s") from None
        output = self.normalise(result.stdout.decode("utf-8", "replace"))
        if result.returncode != 0 and "$?" not in command.text:
            raise TranscriptError(
                f"line {command.line}: `{command.text}` exited with status {result.returncode} "
                f"(to show a failing command, append '; echo \"exit status: $?\"'):\n{output}"
            )
        return output

    def _start_background(self, text: str, command: Command, *, update: bool) -> str:
        if self._background:
            raise TranscriptError(f"line {command.line}: one demo feed per page")
        if "--port" not in text:
            text = f"{text} --port {self.feed_port}"
        process = subprocess.Popen(
            ["bash", "-c", f"exec {text}"],
            cwd=self.cwd,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self._background.append(process)
        wanted = max(1, len(command.expected.splitlines())) if not update else 1
        reader = _LineReader(process)
        lines = reader.read(wanted, timeout=20)
        if update:
            lines += reader.read(1000, timeout=0.5)
        if len(lines) < wanted:
            raise TranscriptError(
                f"line {command.line}: `{command.text}` printed {len(lines)} line(s) in 20 s, "
                f"not {wanted} (exit status {process.poll()}):\n" + "".join(lines)
            )
        return self.normalise("".join(lines))

    def close(self) -> None:
        for process in self._background:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            if process.stdout is not None:
                process.stdout.close()
        self._background.clear()


class _LineReader:
    """Lines from a background process's output, read as they arrive."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        self._fd = process.stdout.fileno()
        self._pending = b""

    def read(self, count: int, timeout: float) -> list[str]:
        """Up to `count` lines, waiting at most `timeout` seconds for them."""
        deadline = time.monotonic() + timeout
        lines: list[str] = []
        while len(lines) < count:
            if b"\n" in self._pending:
                line, self._pending = self._pending.split(b"\n", 1)
                lines.append(line.decode("utf-8", "replace") + "\n")
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self._fd], [], [], remaining)[0]:
                break
            chunk = os.read(self._fd, 65536)
            if not chunk:
                break
            self._pending += chunk
        return lines


def compare(expected: str, actual: str) -> bool:
    """Equal after the normalisation (trailing blanks ignored)."""
    strip = lambda text: "\n".join(line.rstrip() for line in text.splitlines()).strip("\n")  # noqa: E731
    return strip(expected) == strip(actual)


@dataclasses.dataclass
class PendingUpdate:
    """New outputs for one transcript, written back when the session ends."""

    path: Path
    index: int
    """Which console block of the page (0-based)."""
    commands: list[str]
    outputs: list[str]


PENDING_UPDATES: list[PendingUpdate] = []
"""Transcripts to rewrite when the session ends (update mode); see plugin.py."""


def apply_updates(updates: list[PendingUpdate]) -> list[str]:
    """Rewrite the pages' transcripts in place; return one line per changed page."""
    done = []
    by_path: dict[Path, list[PendingUpdate]] = {}
    for update in updates:
        by_path.setdefault(update.path, []).append(update)
    for path, page_updates in by_path.items():
        text = path.read_text(encoding="utf-8")
        transcripts = transcripts_of(path)
        changed = 0
        for update in sorted(page_updates, key=lambda u: u.index, reverse=True):
            transcript = transcripts[update.index]
            if [command.text for command in transcript.commands] != update.commands:
                raise TranscriptError(
                    f"{transcript.fence.where}: the page changed during the run; run again"
                )
            body = transcript.render(update.outputs)
            fence = transcript.fence
            if text[fence.body_start : fence.body_end] != body:
                text = text[: fence.body_start] + body + text[fence.body_end :]
                changed += 1
        if changed:
            path.write_text(text, encoding="utf-8")
            done.append(f"{path.relative_to(ROOT)}: {changed} transcript(s) rewritten")
    return done


@dataclasses.dataclass
class ReplayResult:
    """What replaying a page's transcripts found."""

    differences: list[str]
    """One description per command whose output differs from the page (empty: all match)."""
    outputs: list[list[str]]
    """The actual outputs, per transcript checked, per command."""
    commands_run: int
    stopped: str | None = None
    """Why the replay stopped before the last transcript (no broker), if it did."""


def replay(
    transcripts: list[Transcript],
    sandbox: Sandbox,
    *,
    update: bool,
    broker_port: Callable[[], int | str],
    postgresql_port: Callable[[], int | str] | None = None,
) -> ReplayResult:
    """Run every transcript of a page in order, in one sandbox.

    `broker_port()` is called once, before the first transcript that needs
    RabbitMQ; it returns the test broker's port, or why there is none (the
    replay then stops there). `postgresql_port()` likewise, before the first
    transcript that needs PostgreSQL: it also makes the empty database
    `collectors`, owned by the role `collector`.
    """
    result = ReplayResult([], [], 0)
    for transcript in transcripts:
        if transcript.skip_reason is not None:
            result.outputs.append([command.expected for command in transcript.commands])
            continue
        if transcript.needs_rabbitmq and sandbox.broker_port is None:
            port = broker_port()
            if isinstance(port, str):
                result.stopped = f"{transcript.fence.where} and later need RabbitMQ: {port}"
                return result
            sandbox.use_broker(port)
        if transcript.needs_postgresql and sandbox.postgresql_port is None:
            port = postgresql_port() if postgresql_port else "no PostgreSQL server for the tests"
            if isinstance(port, str):
                result.stopped = f"{transcript.fence.where} and later need PostgreSQL: {port}"
                return result
            sandbox.use_postgresql(port)
        actual_outputs = []
        for command in transcript.commands:
            actual = sandbox.run(command, update=update)
            result.commands_run += 1
            actual_outputs.append(actual)
            if not compare(command.expected, actual):
                result.differences.append(_describe_difference(transcript, command, actual))
        result.outputs.append(actual_outputs)
    return result


def _describe_difference(transcript: Transcript, command: Command, actual: str) -> str:
    import difflib

    diff = difflib.unified_diff(
        command.expected.splitlines(),
        actual.splitlines(),
        "shown in the page",
        "printed by the command",
        lineterm="",
    )
    where = f"{transcript.fence.where.rsplit(':', 1)[0]}:{command.line}"
    return f"{where}: `$ {command.text}` printed something else:\n" + "\n".join(diff)


@contextlib.contextmanager
def sandbox_at(base: Path):
    sandbox = Sandbox(base)
    try:
        yield sandbox
    finally:
        sandbox.close()
