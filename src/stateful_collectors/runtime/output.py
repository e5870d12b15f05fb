r"""Every line the library prints, built and written in one place.

A run's summary line, the error line of a command, each log line and the
messages of the `state` commands all go through here, so each of them is:

* **masked**: no secret reaches a log (`mask()`). The password of a URL's
  user information becomes `***` (`amqp://user:***@host/`; the user name
  stays); so does the value of every `NAME=VALUE` pair whose name contains
  `token`, `key`, `pass`, `pwd`, `secret`, `auth`, `signature`,
  `credential` or `session` (in any case), or is `sig`, as in a URL's
  query string (`?api_key=***`) or a libpq connection string
  (`password=***`), and what follows `Authorization:` or `Bearer`;
* **one line**: control characters (a newline, a NUL, an escape...), the
  Unicode line separators and the bidirectional overrides are written as
  Python escapes (`\n`, `\x00`, `\x1b`, `\u2028`), so one event is one line
  that a terminal shows as it is (`escape()`);
* **bounded**: a line longer than `MAX_LINE_CHARS` keeps its start and its
  end and says how much was left out in the middle (`shorten()`);
* **written without turning a run into a failure**: a standard error or
  output that is closed, full (`2>/dev/full`) or a closed pipe loses the line
  and nothing else (`say()` and `show()` return `False`); the commands whose
  output is what was asked for (`state show`, `state path`...) then exit
  with `ExitStatus.OUTPUT_ERROR`, the others with the status of what they did.

A command's data, such as the JSON text of `state show`, is written as it
is (`show_data()`): it is the state, not a message about it.

Example:
    ```python
    from stateful_collectors.runtime.output import line

    print(line("failed: http://me:s3cret@example.org/x?api_key=K&page=2: 404"))
    #> failed: http://me:***@example.org/x?api_key=***&page=2: 404
    print(line("state dir /srv/a\nb is not a directory"))
    #> state dir /srv/a\nb is not a directory
    print(line("x" * 100, limit=60))
    #> xxxxxxxxxx [... 70 characters left out] xxxxxxxxxxxxxxxxxxxx
    ```
"""

from __future__ import annotations

import logging
import os
import re
import sys
from types import TracebackType

__all__ = [
    "MAX_LINE_CHARS",
    "ask",
    "configure_logging",
    "escape",
    "failed_stream",
    "finish",
    "line",
    "mask",
    "say",
    "say_traceback",
    "shell_word",
    "show",
    "show_data",
    "shorten",
]

MAX_LINE_CHARS = 2000
"""The longest line written; a longer one keeps its start and end (see `shorten`)."""

_MASK = "***"

_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s/?#@:'\"]*):([^\s/?#]*)@")
"""`scheme://user:password@`: the password runs to the last `@` before the path."""

_SECRET_NAME = (
    r"(?:[\w.-]*(?:token|key|pass|pwd|secret|auth|signature|credential|session)[\w.-]*|sig)"
)
_SECRET_PAIR = re.compile(rf"(?i)(?<![\w.-])({_SECRET_NAME}=)((?:[^\s&#;'\":,)]|[:,)](?!\s|$))+)")
"""`NAME=VALUE` with a secret-looking name: a query parameter, a libpq option."""

_AUTHORIZATION = re.compile(
    r"(?i)\b((?:proxy-)?authorization\s*[:=]\s*(?:[a-z]+\s+)?|bearer\s+)([^\s'\",;]+)"
)

_CONTROL = re.compile(
    "[\x00-\x1f\x7f-\x9f"  # C0 and C1 controls, DEL
    "\u200e\u200f\u202a-\u202e\u2066-\u2069"  # bidirectional marks and overrides
    "\u2028\u2029"  # line and paragraph separators
    "\ud800-\udfff]"  # lone surrogates: bytes of a file name that were not UTF-8
)
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def mask(text: str) -> str:
    """`text` with the secrets it may hold replaced by `***` (see the module's docs).

    ```python
    from stateful_collectors.runtime.output import mask

    print(mask("amqp://collector:p@ss@broker:5672/%2F"))
    #> amqp://collector:***@broker:5672/%2F
    print(mask("host=db user=me password=hunter2 dbname=state"))
    #> host=db user=me password=*** dbname=state
    print(mask("GET /items?since=2026&access_token=abc123 failed"))
    #> GET /items?since=2026&access_token=*** failed
    ```
    """
    if "://" in text:
        text = _USERINFO.sub(_mask_password, text)
    if "=" in text:
        text = _SECRET_PAIR.sub(rf"\1{_MASK}", text)
    return _AUTHORIZATION.sub(rf"\1{_MASK}", text)


def _mask_password(match: re.Match[str]) -> str:
    return f"{match.group(1)}:{_MASK}@" if match.group(2) else match.group(0)


def escape(text: str) -> str:
    r"""`text` on one line: control characters and line separators as Python escapes.

    A byte that was not UTF-8 in a file name (a lone surrogate) is shown as `\xNN`.

    ```python
    from stateful_collectors.runtime.output import escape

    print(escape("a\nb\x00c\x1b[31md"))
    #> a\nb\x00c\x1b[31md
    ```
    """
    return _CONTROL.sub(_escape_char, text)


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED_ESCAPES.get(char)
    if named is not None:
        return named
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (os.fsdecode's surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def shorten(text: str, limit: int = MAX_LINE_CHARS, *, keep_end: bool = True) -> str:
    """`text` if it has at most `limit` characters; else its start and end, and what is left out.

    ```python
    from stateful_collectors.runtime.output import shorten

    print(shorten("0123456789" * 8, 50))
    #> 012345 [... 60 characters left out] 67890123456789
    print(shorten("0123456789" * 8, 50, keep_end=False))
    #> 01234567890123456789... [60 more characters left out]
    ```
    """
    if len(text) <= limit:
        return text
    room = max(limit - 30, 2)  # what the marker leaves for the text
    if not keep_end:
        kept = max(room, 1)
        return f"{text[:kept]}... [{len(text) - kept} more characters left out]"
    head = room // 3
    tail = room - head
    return f"{text[:head]} [... {len(text) - head - tail} characters left out] {text[-tail:]}"


def line(text: str, limit: int = MAX_LINE_CHARS) -> str:
    """`text` as the library writes it: masked, on one line, at most about `limit` characters."""
    return shorten(escape(mask(text)), limit)


_PLAIN_WORD = re.compile(r"[\w@%+=:,./-]+")


def shell_word(text: str) -> str:
    r"""`text` as one word of a shell command a message suggests: as it is, or in quotes.

    ```python
    from stateful_collectors.runtime.output import shell_word

    print(shell_word("state/x.pickle"), shell_word("my conf.conf"), shell_word("a$b"))
    #> state/x.pickle "my conf.conf" "a\$b"
    ```
    """
    if _PLAIN_WORD.fullmatch(text):
        return text
    return '"' + re.sub(r'(["\\$`])', r"\\\1", text) + '"'


# ---------------------------------------------------------------- writing

_failures: dict[str, str] = {}
"""The streams a write failed on (`stdout`, `stderr`), and why."""


def say(text: str) -> bool:
    """Write `text` as one line (`line()`) on standard error; `False` if it could not be."""
    return _write("stderr", line(text) + "\n")


def show(text: str) -> bool:
    """Write `text` as one line (`line()`) on standard output; `False` if it could not be."""
    return _write("stdout", line(text) + "\n")


def ask(question: str) -> bool:
    """Write `question` (`line()`) on standard output, without ending the line: a prompt."""
    return _write("stdout", line(question))


def show_data(text: str) -> bool:
    """Write a command's data (`state show`'s JSON) on standard output, as it is."""
    return _write("stdout", text if text.endswith("\n") else text + "\n")


def say_traceback(
    error: BaseException | tuple[type[BaseException], BaseException, TracebackType | None],
) -> bool:
    """Write the traceback of `error` (`--verbose`): several lines, each as `line()` makes it."""
    import traceback  # only --verbose needs it

    if isinstance(error, BaseException):
        text = "".join(traceback.format_exception(error))
    else:
        text = "".join(traceback.format_exception(*error))
    lines = [line(part) for part in text.rstrip("\n").split("\n")]
    return _write("stderr", "".join(f"{part}\n" for part in lines))


def failed_stream(name: str) -> str | None:
    """Why writing to `name` (`"stdout"` or `"stderr"`) failed in this process, or `None`."""
    return _failures.get(name)


def _write(name: str, text: str) -> bool:
    stream = getattr(sys, name)
    if stream is None:  # the descriptor was closed when the process started
        _failures[name] = f"{name} is closed"
        return False
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # a stream of Python's own (pytest's capture)
        fd = None
    try:
        stream.flush()  # what others wrote first comes first
        if fd is None:
            stream.write(text)
            stream.flush()
        else:  # straight to the descriptor: a failed write leaves nothing in a buffer
            encoding = getattr(stream, "encoding", None) or "utf-8"
            view = memoryview(text.encode(encoding, "backslashreplace"))
            while view:
                view = view[os.write(fd, view) :]
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        _failures[name] = f"{name} cannot be written ({reason})"
        _set_aside(name)
        return False
    return True


def _set_aside(name: str) -> None:
    """Replace a stream that failed, so that nothing else writes to it.

    Python flushes `sys.stdout` and `sys.stderr` as it exits, and exits with
    status 120 when that fails: a line lost on the way must not change the
    status the command decided.
    """
    try:
        setattr(sys, name, open(os.devnull, "w"))  # noqa: SIM115 - for the rest of the process
    except OSError:
        pass


def finish() -> None:
    """Before the process exits: flush both streams, setting aside one that cannot take it."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is None:
            continue
        try:
            stream.flush()
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            _failures.setdefault(name, f"{name} cannot be written ({reason})")
            _set_aside(name)


# ---------------------------------------------------------------- logging


class _LineHandler(logging.Handler):
    """Log records as lines through `say()`: `LEVEL logger: message`; tracebacks when verbose."""

    def __init__(self, tracebacks: bool) -> None:
        super().__init__()
        self.tracebacks = tracebacks

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # arguments that do not fit the message: say so, do not fail
            message = f"{record.msg!r} (with arguments that do not fit it)"
        say(f"{record.levelname} {record.name}: {message}")
        if self.tracebacks and record.exc_info and record.exc_info[1] is not None:
            say_traceback(record.exc_info)


def configure_logging(verbose: bool) -> None:
    """Log lines on stderr, through `say()`: warnings and errors, or everything with `verbose`."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    root.addHandler(_LineHandler(tracebacks=verbose))
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    if not verbose:
        logging.getLogger("pika").setLevel(logging.CRITICAL)
