"""Config mistakes the parser used to let through: sections, [DEFAULT], headers, strange values.

* A section this collector does not read is an error in a file named
  explicitly (and in inline text), and anywhere when it looks like a
  misspelling of one it reads (`[outbx]`); a file of the search path may hold
  other collectors' sections. The library's own sections a collector reads
  are those of what it uses: its sinks', its stores' and the runner's.
* `[DEFAULT]` and an indented section header are refused, each with its reason.
* Whatever a converter raises, for whatever value, is one `ConfigError`
  naming the file, section and option (exit status 3), with long values
  shortened; never a raw `ValueError`, `RecursionError` or `OverflowError`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from stateful_collectors import BaseCollector, StatefulCollectorMixin, sinks
from stateful_collectors.collectors.base import AbstractBaseCollector
from stateful_collectors.config import ConfigSource, ConfigSpec
from stateful_collectors.errors import ConfigError, ExitStatus
from stateful_collectors.runtime import runner
from stateful_collectors.state import stores
from tests.support.processes import run_cli


class Feed(StatefulCollectorMixin, BaseCollector):
    """A collector that uses every part of the library that reads a section of its own."""

    raw_type = "stream"
    config_spec = """
        [feed]
        url = http://127.0.0.1:8808/items.json :: str
        retries = 3 :: int
        state_dir = :: path
    """


class Stateless(BaseCollector):
    raw_type = "stream"
    config_spec = "[feed]\n"


def error_of(text: str, **kwargs) -> str:
    with pytest.raises(ConfigError) as raised:
        Feed(config_text=text, **kwargs)
    assert raised.value.exit_status == ExitStatus.CONFIG_ERROR
    return str(raised.value)


# ---------------------------------------------------------------- sections


@pytest.mark.parametrize(
    ("section", "meant"),
    [("outbx", "outbox"), ("Outbox", "outbox"), ("rabitmq", "rabbitmq"), ("fed", "feed")],
)
def test_a_misspelt_section_is_an_error_with_a_hint(section, meant):
    assert error_of(f"[feed]\n[{section}]\npath = x\n") == (
        f"<config text>: unknown section [{section}] (did you mean [{meant}]?); rename it, "
        "or it is not read at all"
    )


def test_an_unknown_section_in_an_explicit_file_is_an_error(tmp_path):
    config = tmp_path / "feed.conf"
    config.write_text("[feed]\n[amqp]\nurl = amqp://broker\n")
    with pytest.raises(ConfigError) as raised:
        Feed(config_file=str(config))
    assert str(raised.value) == (
        f"{config}: unknown section [amqp]; this collector reads [feed] and the library's "
        "[rabbitmq], [outbox], [run], [postgresql]: remove it (a file of the config search "
        "path may hold other collectors' sections)"
    )


def test_the_library_sections_are_those_its_sinks_stores_and_runner_declare():
    assert sinks.SECTIONS == ("rabbitmq", "outbox")
    assert stores.SECTIONS == ("postgresql",)
    assert runner.SECTIONS == ("run",)
    assert Feed.library_sections() == (*sinks.SECTIONS, *runner.SECTIONS, *stores.SECTIONS)
    assert Stateless.library_sections() == (*sinks.SECTIONS, *runner.SECTIONS)
    assert AbstractBaseCollector.library_sections() == runner.SECTIONS


def test_a_collector_that_keeps_no_state_reads_no_store_section(tmp_path):
    config = tmp_path / "feed.conf"
    config.write_text("[feed]\n[postgresql]\ndsn = postgresql://db/x\nallow_pickle = true\n")
    with pytest.raises(ConfigError) as raised:
        Stateless(config_file=str(config))
    assert str(raised.value) == (
        f"{config}: unknown section [postgresql]; this collector reads [feed] and the library's "
        "[rabbitmq], [outbox], [run]: remove it (a file of the config search path may hold "
        "other collectors' sections)"
    )
    Feed(config_file=str(config))  # a stateful one reads it: its state is a row there


def test_the_search_path_may_hold_other_collectors_sections_but_not_misspellings(tmp_path):
    directory = tmp_path / "stateful-collectors"
    directory.mkdir()
    (directory / "feeds.conf").write_text("[feed]\n[other_feed]\n[feed_2]\n[outbox]\npath = x\n")
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    source = ConfigSource.load(env=env)
    assert not source.explicit
    spec, library = Feed.get_config_spec(), Feed.library_sections()
    source.check_sections(spec, library)  # [other_feed], [feed_2]: someone else's
    (directory / "other.conf").write_text("[fed]\n[cert_pl]\n")  # someone else's, close to [feed]
    ConfigSource.load(env=env).check_sections(spec, library)
    (directory / "typo.conf").write_text("[outbx]\npath = y\n")
    with pytest.raises(ConfigError, match=r"unknown section \[outbx\] \(did you mean \[outbox\]"):
        ConfigSource.load(env=env).check_sections(spec, library)
    (directory / "typo.conf").write_text("[Feed]\n")
    with pytest.raises(ConfigError, match=r"unknown section \[Feed\] \(did you mean \[feed\]"):
        ConfigSource.load(env=env).check_sections(spec, library)


def test_numbered_sections_are_siblings_not_misspellings(tmp_path):
    directory = tmp_path / "stateful-collectors"
    directory.mkdir()
    (directory / "feeds.conf").write_text("[feed_1]\n[feed_2]\n[feed-3]\n[feed]\n")
    source = ConfigSource.load(env={"XDG_CONFIG_HOME": str(tmp_path)})
    source.check_sections(ConfigSpec.parse("[feed_1]\n"))


def test_a_missing_section_points_at_its_misspelling():
    class NeedsUrl(AbstractBaseCollector):
        config_spec = "[my_feed]\nurl :: str\n"

    with pytest.raises(ConfigError) as raised:
        NeedsUrl(config_text="[my_fed]\nurl = http://x\n")
    assert str(raised.value) == (
        "<config text>: section [my_feed] is missing (is [my_fed] meant to be it?); "
        "add it with the options: url"
    )


def test_the_default_section_is_refused_with_its_reason():
    assert error_of("[DEFAULT]\nretries = 5\n[feed]\n") == (
        "<config text>: line 1: [DEFAULT] is not supported: its options would apply to every "
        "section, the library's too; put each option in the section that reads it"
    )


def test_an_indented_section_header_is_named_as_such():
    text = "[feed]\nurl = http://127.0.0.1:8808/items.json\n  [outbox]\n  path = /tmp/o.jsonl\n"
    assert error_of(text) == (
        "<config text>: line 3: the section header '[outbox]' is indented, so it would be read "
        "as part of the value above it; start it at the beginning of the line"
    )


def test_through_the_command_line_a_section_mistake_is_exit_3(tmp_path):
    config = tmp_path / "counter.conf"
    config.write_text(f"[counter]\nstate_dir = {tmp_path}/state\n[outbx]\npath = {tmp_path}/o\n")
    result = run_cli("run", "tests.support.collectors.cli:Counter", "--config", str(config))
    assert result.returncode == ExitStatus.CONFIG_ERROR
    assert result.stderr == (
        f"Counter: {config}: unknown section [outbx] (did you mean [outbox]?); rename it, or it "
        "is not read at all\n"
    )
    assert not (tmp_path / "state").exists()


# ---------------------------------------------------------------- values


def raise_(exc: BaseException):
    def converter(text: str):
        raise exc

    return converter


def deep(text: str):
    def down(n):
        return down(n + 1)

    return down(0)


CUSTOM = {
    "type_error": raise_(TypeError("unhashable type: 'list'")),
    "runtime": raise_(RuntimeError("boom")),
    "key_error": raise_(KeyError("x")),
    "recursion": deep,
    "overflow": lambda text: dt.datetime(9999, 12, 31) + dt.timedelta(days=int(text)),
    "zero": lambda text: 1 / int(text),
    "attribute": lambda text: text.no_such_method(),
    "long_value_error": raise_(ValueError("is wrong: " + "x" * 500)),
}


class Values(AbstractBaseCollector):
    config_converters = CUSTOM
    config_spec = """
        [values]
        number = 0 :: int
        ratio = 0 :: float
        data = 0 :: json
        when = 2026-11-27 :: datetime
        type_error = :: type_error
        runtime = :: runtime
        key_error = :: key_error
        recursion = :: recursion
        overflow = :: overflow
        zero = :: zero
        attribute = :: attribute
        long_value_error = :: long_value_error
    """


@pytest.mark.parametrize(
    ("option", "value", "problem"),
    [
        ("number", "9" * 5000, "has more than 100 digits; write a smaller number"),
        ("number", "1e3", "is not a whole number; write e.g. 0 (the default)"),
        ("number", "\u0661\u0662x", "is not a whole number; write e.g. 0 (the default)"),
        ("ratio", "nan", "is not a finite number; write e.g. 0 (the default)"),
        ("ratio", "-inf", "is not a finite number; write e.g. 0 (the default)"),
        ("ratio", "1e999", "is not a finite number; write e.g. 0 (the default)"),
        ("data", "[" * 100_000, "is JSON nested too deeply to be read"),
        ("data", "1" * 5000, "is JSON that cannot be read (Exceeds the limit (4300 digits) for"),
        ("when", "9999-12-31T23:59:59-23:59", ""),
        ("when", "\u202e2026-11-27", "is not an ISO 8601 date-time"),
        ("type_error", "x", "cannot be converted by 'type_error' (TypeError: unhashable type"),
        ("runtime", "x", "cannot be converted by 'runtime' (RuntimeError: boom)"),
        ("key_error", "x", "cannot be converted by 'key_error' (KeyError: 'x')"),
        ("recursion", "x", "cannot be converted by 'recursion' (RecursionError: maximum recursion"),
        ("overflow", "5", "cannot be converted by 'overflow' (OverflowError: date value out of"),
        ("zero", "0", "cannot be converted by 'zero' (ZeroDivisionError: division by zero)"),
        ("attribute", "x", "cannot be converted by 'attribute' (AttributeError: 'str' object"),
        ("long_value_error", "x", "is wrong: xxxxxxxxxx"),
    ],
)
def test_whatever_a_converter_raises_is_one_config_error(tmp_path, option, value, problem):
    config = tmp_path / "values.conf"
    config.write_text(f"[values]\n{option} = {value}\n", encoding="utf-8")
    try:
        Values(config_file=str(config))
    except ConfigError as error:
        message = str(error)
    else:
        assert problem == "", "the value was accepted"
        return
    assert message.startswith(f"{config}: [values] option '{option}' = ")
    assert f": the value {problem}" in message
    assert "\n" not in message and len(message) < 400, message


def test_a_long_value_is_shortened_in_the_message(tmp_path):
    config = tmp_path / "values.conf"
    config.write_text("[values]\nnumber = " + "abc" * 1000 + "\n")
    with pytest.raises(ConfigError) as raised:
        Values(config_file=str(config))
    assert str(raised.value) == (
        f"{config}: [values] option 'number' = 'abcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcab'"
        "... (3000 characters): the value is not a whole number; write e.g. 0 (the default)"
    )


def test_an_unknown_option_with_a_long_odd_name_is_shortened(tmp_path):
    name = "x\u202e" * 200
    with pytest.raises(ConfigError) as raised:
        Feed(config_text=f"[feed]\n{name} = 1\n")
    assert len(str(raised.value)) < 300
    assert "(400 characters)" in str(raised.value)


def test_the_command_line_shows_a_converter_crash_as_one_line_exit_3(tmp_path):
    config = tmp_path / "example.conf"
    config.write_text(
        f"[my_statefull_collector]\nstate_dir = {tmp_path}/state\nurl = http://127.0.0.1:9/\n"
        "download_timeout = nan\n"
    )
    result = run_cli(
        "run", "examples/my_statefull_collector.py:MyStatefullCollector", "--config", str(config)
    )
    assert result.returncode == ExitStatus.CONFIG_ERROR
    assert result.stderr == (
        f"MyStatefullCollector: {config}: [my_statefull_collector] option 'download_timeout' = "
        "'nan': the value is not a number of seconds greater than 0; write e.g. 30 (the default)\n"
    )


def test_a_value_spread_over_lines_may_hold_brackets_that_are_no_header():
    spec = ConfigSpec.parse("[feed]\nurls :: list_of_str\n")
    text = "[feed]\nurls = http://a.example/x\n  http://b.example/[1]\n"
    section = ConfigSource.from_text(text).section(spec)
    assert section["urls"] == ["http://a.example/x", "http://b.example/[1]"]


def test_the_config_search_path_files_are_not_explicit(tmp_path):
    assert ConfigSource.load(env={"XDG_CONFIG_HOME": str(tmp_path)}).explicit is False
    conf = Path(tmp_path / "x.conf")
    conf.write_text("[feed]\n")
    assert ConfigSource.load(config_file=conf).explicit is True
    assert ConfigSource.load(env={"STATEFUL_COLLECTORS_CONFIG": str(conf)}).explicit is True


def test_the_example_is_the_options_default_only_when_the_default_converts():
    def message(spec_text: str, value: str) -> str:
        spec = ConfigSpec.parse(f"[s]\n{spec_text}\n")
        with pytest.raises(ConfigError) as raised:
            ConfigSource.from_text(f"[s]\nx = {value}\n").section(spec)
        return str(raised.value).split(": the value ")[1]

    assert message("x = 7 :: positive_int", "-1") == (
        "is not a whole number greater than 0; write e.g. 7 (the default)"
    )
    assert message("x = 0 :: positive_int", "-1") == (
        "is not a whole number greater than 0; write e.g. 30"  # 0 would be refused too
    )
    assert (
        message("x :: positive_int", "-1") == "is not a whole number greater than 0; write e.g. 30"
    )
