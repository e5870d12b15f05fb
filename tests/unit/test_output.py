"""Every line the library prints is built in one place: masked, one line, bounded.

`stateful_collectors.runtime.output` is that place. These tests check its
rules on texts, and that the rest of the package writes nothing around it:
the source of every module under src/ is parsed, and a call that writes to
standard output or standard error, or sets up logging, anywhere but in that
module fails the test, naming the file and the line. (The commands as
processes, with real closed and full streams, are tests/unit/test_edges.py.)
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from stateful_collectors.runtime.output import (
    MAX_LINE_CHARS,
    escape,
    line,
    mask,
    shell_word,
    shorten,
)
from tests.support import ROOT

PACKAGE = ROOT / "src" / "stateful_collectors"
THE_PLACE = PACKAGE / "runtime" / "output.py"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("http://me:s3cret@example.org/x", "http://me:***@example.org/x"),
        ("amqps://c:p@ss:w@rd@broker:5671/%2F", "amqps://c:***@broker:5671/%2F"),
        ("postgresql://app:pw@db/state and more", "postgresql://app:***@db/state and more"),
        ("http://me@example.org/x", "http://me@example.org/x"),  # a user name alone stays
        ("http://me:@example.org/", "http://me:@example.org/"),  # an empty password: nothing
        ("/x?page=2&access_token=abc&since=1", "/x?page=2&access_token=***&since=1"),
        ("/x?api_key=K: cannot download", "/x?api_key=***: cannot download"),
        ("/x?apiKey=K&X-Amz-Signature=S&sig=T", "/x?apiKey=***&X-Amz-Signature=***&sig=***"),
        ("host=db password=hunter2 dbname=x", "host=db password=*** dbname=x"),
        ("client_secret=a,b", "client_secret=***"),
        ("Authorization: Bearer abc.def", "Authorization: Bearer ***"),
        ("sent bearer abc.def twice", "sent bearer *** twice"),
        ("page=2&since=2026-11-27", "page=2&since=2026-11-27"),  # nothing secret: unchanged
        ("design=x signal=y", "design=x signal=y"),
    ],
)
def test_secrets_are_masked(text, masked):
    assert mask(text) == masked


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("a\nb", "a\\nb"),
        ("a\r\nb\tc", "a\\r\\nb\\tc"),
        ("nul\x00 esc\x1b[2J del\x7f c1\x85", "nul\\x00 esc\\x1b[2J del\\x7f c1\\x85"),
        ("line\u2028sep \u202eevil", "line\\u2028sep \\u202eevil"),
        ("byte \udcff of a name", "byte \\xff of a name"),
        ("plain ünïcode stays", "plain ünïcode stays"),
    ],
)
def test_control_characters_are_escaped(text, escaped):
    assert escape(text) == escaped


def test_a_long_line_keeps_its_start_and_its_end_and_says_how_much_is_left_out():
    text = "start " + "x" * 5000 + " end"
    shortened = line(text)
    assert len(text) > MAX_LINE_CHARS >= len(shortened) - 40
    assert shortened.startswith("start xxx") and shortened.endswith("xxx end")
    left_out = int(shortened.split("[... ")[1].split(" ")[0])
    assert len(shortened) - len(f" [... {left_out} characters left out] ") + left_out == len(text)
    assert shorten("short") == "short"


def test_a_line_is_masked_before_it_is_escaped_and_shortened():
    assert line("http://u:pw@h/\n" + "y" * 3000).startswith("http://u:***@h/\\nyyy")


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("state/x.pickle", "state/x.pickle"),
        ("my conf.conf", '"my conf.conf"'),
        ('say "$HOME" `now`\\', '"say \\"\\$HOME\\" \\`now\\`\\\\"'),
    ],
)
def test_a_path_in_a_suggested_command_is_one_shell_word(text, word):
    assert shell_word(text) == word


# ---------------------------------------------------------------- no line around it

WRITERS = {
    ("print",),
    ("input",),
    ("sys", "stdout", "write"),
    ("sys", "stderr", "write"),
    ("sys", "__stdout__", "write"),
    ("sys", "__stderr__", "write"),
    ("traceback", "print_exc"),
    ("traceback", "print_exception"),
    ("traceback", "print_stack"),
    ("logging", "basicConfig"),
    ("logging", "StreamHandler"),
    ("warnings", "showwarning"),
}
"""Calls that write to a standard stream, or make logging write there, on their own."""

ALLOWED: set[tuple[str, int]] = set()
"""`(module, line)` of a write that may bypass the place: none. (A docstring's example is
no call: the parser sees only code.)"""


def _dotted(node: ast.expr) -> tuple[str, ...]:
    if isinstance(node, ast.Name):
        return (node.id,)
    if isinstance(node, ast.Attribute):
        return (*_dotted(node.value), node.attr)
    return ()


def _writes(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call) and _dotted(node.func) in WRITERS:
            found.append((node.lineno, ".".join(_dotted(node.func))))
        if isinstance(node, ast.Call) and _dotted(node.func) == ("os", "write"):
            fd = node.args[0] if node.args else None
            if isinstance(fd, ast.Constant) and fd.value in (1, 2):
                found.append((node.lineno, "os.write(1 or 2)"))
    return found


def test_nothing_in_the_package_writes_a_line_but_the_one_place():
    modules = sorted(PACKAGE.rglob("*.py"))
    assert THE_PLACE in modules and len(modules) > 30
    stray = [
        f"{path.relative_to(ROOT)}:{number}: {call}(...)"
        for path in modules
        if path != THE_PLACE
        for number, call in _writes(path)
        if (str(path.relative_to(PACKAGE)), number) not in ALLOWED
    ]
    assert stray == [], (
        "write lines through stateful_collectors.runtime.output (say, show, show_data, "
        "say_traceback, configure_logging) instead of:\n" + "\n".join(stray)
    )


def test_the_check_finds_a_bare_print(tmp_path):
    """The check is not blind: each kind of write it looks for, in a module of its own."""
    module = tmp_path / "stray.py"
    module.write_text(
        '"""print("in a docstring: not a call")"""\n'
        "import sys, traceback, logging\n"
        "print('x')\n"
        "sys.stderr.write('x')\n"
        "traceback.print_exc()\n"
        "logging.basicConfig()\n"
        "import os\nos.write(2, b'x')\n"
    )
    assert [call for _, call in _writes(module)] == [
        "print",
        "sys.stderr.write",
        "traceback.print_exc",
        "logging.basicConfig",
        "os.write(1 or 2)",
    ]
