"""Unit tests of `stateful_collectors.config`: spec language, converters, files, their order."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from stateful_collectors.collectors.base import AbstractBaseCollector
from stateful_collectors.config import (
    CONFIG_ENV_VAR,
    CONVERTERS,
    ConfigSection,
    ConfigSource,
    ConfigSpec,
    OptionSpec,
    default_search_path,
    find_config_files,
)
from stateful_collectors.errors import ConfigError


def one_option(converter: str, text: str):
    """Convert `text` the way an option declared `value :: converter` gets it from a file."""
    spec = ConfigSpec.parse(f"[s]\nvalue :: {converter}\n")
    return ConfigSource.from_text(f"[s]\nvalue = {text}\n").section(spec)["value"]


# ---------------------------------------------------------------- converters


def test_the_built_in_converters_are_the_documented_ones():
    assert set(CONVERTERS) == {
        "str",
        "int",
        "positive_int",
        "float",
        "seconds",
        "bool",
        "path",
        "list_of_str",
        "json",
        "datetime",
    }


def test_str_keeps_inner_spaces_and_drops_outer_ones():
    assert one_option("str", "  Demo   feed  ") == "Demo   feed"


@pytest.mark.parametrize(
    ("text", "value"), [("30", 30), ("-7", -7), ("1_000_000", 1_000_000), ("0", 0)]
)
def test_int(text, value):
    assert one_option("int", text) == value


@pytest.mark.parametrize(("text", "value"), [("2.5", 2.5), ("-1e3", -1000.0), ("7", 7.0)])
def test_float(text, value):
    assert one_option("float", text) == value


@pytest.mark.parametrize("text", ["1", "yes", "Yes", "TRUE", "on", "y", "t"])
def test_bool_true(text):
    assert one_option("bool", text) is True


@pytest.mark.parametrize("text", ["0", "no", "False", "OFF", "n", "f"])
def test_bool_false(text):
    assert one_option("bool", text) is False


def test_path_expands_the_home_directory(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert one_option("path", "~/state/collectors") == tmp_path / "state" / "collectors"
    assert one_option("path", "/var/lib/collectors") == Path("/var/lib/collectors")
    assert one_option("path", "relative/dir") == Path("relative/dir")


def test_list_of_str_splits_on_commas_and_lines_and_drops_empty_items():
    assert one_option("list_of_str", "a, b ,c,,") == ["a", "b", "c"]
    spec = ConfigSpec.parse("[s]\nvalue :: list_of_str\n")
    text = "[s]\nvalue = first,\n  second\n  third, fourth\n"  # INI continuation lines
    assert ConfigSource.from_text(text).section(spec)["value"] == [
        "first",
        "second",
        "third",
        "fourth",
    ]


def test_json_parses_any_json_value():
    assert one_option("json", '{"Accept": "application/json", "n": [1, 2]}') == {
        "Accept": "application/json",
        "n": [1, 2],
    }
    assert one_option("json", "[1, 2.5, null, true]") == [1, 2.5, None, True]
    assert one_option("json", '"text"') == "text"


def test_datetime_takes_a_naive_time_as_utc():
    value = one_option("datetime", "2026-11-27T20:00:00")
    assert value == dt.datetime(2026, 11, 27, 20, 0, tzinfo=dt.UTC)
    assert value.tzinfo is dt.UTC


def test_datetime_keeps_an_explicit_offset_and_reads_z_as_utc():
    assert one_option("datetime", "2026-11-27T20:00:00Z") == dt.datetime(
        2026, 11, 27, 20, tzinfo=dt.UTC
    )
    with_offset = one_option("datetime", "2026-11-27T22:00:00+02:00")
    assert with_offset.utcoffset() == dt.timedelta(hours=2)
    assert with_offset == dt.datetime(2026, 11, 27, 20, tzinfo=dt.UTC)


def test_datetime_accepts_a_plain_date_as_midnight_utc():
    assert one_option("datetime", "2026-11-27") == dt.datetime(2026, 11, 27, tzinfo=dt.UTC)


def test_a_collector_can_add_its_own_converters():
    class Collector(AbstractBaseCollector):
        config_spec = "[c]\nlevels :: upper_list\n"
        config_converters = {"upper_list": lambda text: [p.strip().upper() for p in text.split()]}

    collector = Collector(config_text="[c]\nlevels = low high\n")
    assert collector.config["levels"] == ["LOW", "HIGH"]


def test_a_custom_converters_value_error_names_the_option():
    def port(text):
        if not text.isdigit() or not 0 < int(text) < 65536:
            raise ValueError("is not a port number (1-65535)")
        return int(text)

    spec = ConfigSpec.parse("[c]\nport :: port\n", converters={"port": port})
    assert ConfigSource.from_text("[c]\nport = 8000\n").section(spec)["port"] == 8000
    with pytest.raises(ConfigError) as raised:
        ConfigSource.from_text("[c]\nport = 99999\n", name="my.conf").section(spec)
    assert str(raised.value) == (
        "my.conf: [c] option 'port' = '99999': the value is not a port number (1-65535)"
    )


# ---------------------------------------------------------------- the spec


def test_the_spec_language():
    spec = ConfigSpec.parse(
        """
        # the collector's own section comes first
        [feed]
        state_dir :: path        # required, converted
        url                      # no converter: a required str
        timeout = 30 :: int      # optional, with a default
        title = Demo feed        # optional str
        ; a comment line
        [extras]
        ...
        """
    )
    assert spec.main_section == "feed"
    assert list(spec.sections) == ["feed", "extras"]
    options = spec.sections["feed"].options
    assert options["state_dir"] == OptionSpec("state_dir", "path", None, True)
    assert options["url"] == OptionSpec("url", "str", None, True)
    assert options["timeout"] == OptionSpec("timeout", "int", "30", False)
    assert options["title"] == OptionSpec("title", "str", "Demo feed", False)
    assert spec.sections["feed"].required and not spec.sections["feed"].allow_extra
    assert spec.sections["extras"].allow_extra and not spec.sections["extras"].required


def test_a_hash_without_a_blank_before_it_is_part_of_the_default():
    spec = ConfigSpec.parse("[s]\nurl = http://127.0.0.1/feed#latest :: str  # a comment\n")
    assert spec.sections["s"].options["url"].default == "http://127.0.0.1/feed#latest"


def test_defaults_are_converted_like_values():
    spec = ConfigSpec.parse(
        """
        [s]
        timeout = 30 :: int
        verify = no :: bool
        since = 2026-11-27T20:00:00 :: datetime
        tags = :: list_of_str
        name = :: str
        """
    )
    section = ConfigSource.from_text("[s]\n").section(spec)
    assert dict(section) == {
        "timeout": 30,
        "verify": False,
        "since": dt.datetime(2026, 11, 27, 20, tzinfo=dt.UTC),
        "tags": [],
        "name": "",
    }


def test_a_value_in_the_file_wins_over_the_default():
    spec = ConfigSpec.parse("[s]\ntimeout = 30 :: int\n")
    assert ConfigSource.from_text("[s]\ntimeout = 5\n").section(spec)["timeout"] == 5


def test_a_section_without_required_options_may_be_missing():
    spec = ConfigSpec.parse("[s]\nurl :: str\n[tuning]\nbatch = 100 :: int\n")
    source = ConfigSource.from_text("[s]\nurl = x\n")
    assert dict(source.section(spec, "tuning")) == {"batch": 100}


def test_three_dots_accept_undeclared_options_as_strings():
    spec = ConfigSpec.parse("[s]\nurl :: str\n...\n")
    section = ConfigSource.from_text("[s]\nurl = x\nX-Api-Key = secret\ncolour = 7\n").section(spec)
    assert dict(section) == {"url": "x", "x-api-key": "secret", "colour": "7"}


def test_option_names_are_case_insensitive():
    spec = ConfigSpec.parse("[s]\nStateDir :: path\n")
    assert dict(ConfigSource.from_text("[s]\nSTATEDIR = /x\n").section(spec)) == {
        "statedir": Path("/x")
    }


def test_ini_comments_are_whole_lines_only():
    spec = ConfigSpec.parse("[s]\nurl :: str\ntitle :: str\n")
    text = "# a comment\n[s]\n; another comment\nurl = http://x/#frag\ntitle = a # b\n"
    section = ConfigSource.from_text(text).section(spec)
    assert dict(section) == {"url": "http://x/#frag", "title": "a # b"}


def test_values_are_not_interpolated():
    spec = ConfigSpec.parse("[s]\nformat :: str\n")
    assert ConfigSource.from_text("[s]\nformat = %(x)s 100%\n").section(spec)["format"] == (
        "%(x)s 100%"
    )


def test_a_config_section_is_a_read_only_mapping_with_a_helpful_key_error():
    spec = ConfigSpec.parse("[s]\nurl :: str\n")
    section = ConfigSource.from_text("[s]\nurl = x\n", name="inline").section(spec)
    assert isinstance(section, ConfigSection)
    assert (section.name, section.origin, len(section), list(section)) == (
        "s",
        "inline",
        1,
        ["url"],
    )
    with pytest.raises(KeyError) as raised:
        section["timeout"]
    assert raised.value.args[0] == "option 'timeout' is not in [s]; declare it in the config_spec"
    with pytest.raises(TypeError):
        section["url"] = "y"  # type: ignore[index]


def test_collectors_read_their_options_through_self_config():
    class Collector(AbstractBaseCollector):
        config_spec = "[mine]\nurl :: str\n[shared]\nretries = 3 :: int\n"

    collector = Collector(config_text="[mine]\nurl = http://x\n[shared]\nretries = 5\n")
    assert collector.config["url"] == "http://x"
    assert collector.config_full["shared"]["retries"] == 5


# ---------------------------------------------------------------- files and their order


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_default_search_path_uses_xdg_config_home():
    assert default_search_path({"XDG_CONFIG_HOME": "/srv/conf"}) == [
        Path("/etc/stateful-collectors"),
        Path("/srv/conf/stateful-collectors"),
    ]


def test_default_search_path_falls_back_to_dot_config(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_search_path({}) == [
        Path("/etc/stateful-collectors"),
        tmp_path / ".config" / "stateful-collectors",
    ]


def test_an_explicit_file_wins_over_the_variable_and_the_search_path(tmp_path):
    explicit = write(tmp_path / "explicit.conf", "")
    from_env = write(tmp_path / "env.conf", "")
    write(tmp_path / "xdg" / "stateful-collectors" / "a.conf", "")
    env = {CONFIG_ENV_VAR: str(from_env), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    assert find_config_files(explicit, env) == [explicit]


def test_the_variable_wins_over_the_search_path_and_may_name_several_files(tmp_path):
    first = write(tmp_path / "first.conf", "")
    second = write(tmp_path / "second.conf", "")
    write(tmp_path / "xdg" / "stateful-collectors" / "a.conf", "")
    env = {CONFIG_ENV_VAR: f"{first}{os.pathsep}{second}", "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    assert find_config_files(None, env) == [first, second]


def test_the_search_path_gives_every_conf_file_sorted_by_name(tmp_path):
    directory = tmp_path / "xdg" / "stateful-collectors"
    b = write(directory / "b.conf", "")
    a = write(directory / "a.conf", "")
    write(directory / "notes.txt", "")
    found = find_config_files(None, {"XDG_CONFIG_HOME": str(tmp_path / "xdg")})
    assert found[-2:] == [a, b]
    # anything before them comes from /etc/stateful-collectors, searched first
    assert all(path.parent == Path("/etc/stateful-collectors") for path in found[:-2])


def test_later_files_override_earlier_ones_option_by_option(tmp_path):
    spec = ConfigSpec.parse("[s]\nurl :: str\ntimeout = 30 :: int\nretries = 1 :: int\n")
    system = write(tmp_path / "10-system.conf", "[s]\nurl = http://system\ntimeout = 10\n")
    user = write(tmp_path / "20-user.conf", "[s]\ntimeout = 20\n")
    section = ConfigSource.from_files([system, user]).section(spec)
    assert dict(section) == {"url": "http://system", "timeout": 20, "retries": 1}
    assert section.origin == str(user)


def test_an_error_names_the_file_the_value_came_from(tmp_path):
    spec = ConfigSpec.parse("[s]\nurl :: str\ntimeout = 30 :: int\n")
    system = write(tmp_path / "10-system.conf", "[s]\nurl = http://system\ntimeout = soon\n")
    user = write(tmp_path / "20-user.conf", "[s]\nurl = http://user\n")
    with pytest.raises(ConfigError) as raised:
        ConfigSource.from_files([system, user]).section(spec)
    assert str(raised.value) == (
        f"{system}: [s] option 'timeout' = 'soon': the value is not a whole number; write e.g. 30 "
        "(the default)"
    )


def test_a_collector_reads_the_file_named_by_the_variable(monkeypatch, tmp_path):
    class Collector(AbstractBaseCollector):
        config_spec = "[c]\nurl :: str\n"

    from_env = write(tmp_path / "env.conf", "[c]\nurl = http://from-env\n")
    explicit = write(tmp_path / "explicit.conf", "[c]\nurl = http://explicit\n")
    monkeypatch.setenv(CONFIG_ENV_VAR, str(from_env))
    assert Collector().config["url"] == "http://from-env"
    assert Collector(config_file=str(explicit)).config["url"] == "http://explicit"
    assert Collector(config_text="[c]\nurl = http://inline\n").config["url"] == "http://inline"


def test_a_collector_reads_the_default_search_path(monkeypatch, tmp_path):
    class Collector(AbstractBaseCollector):
        config_spec = "[c]\nurl :: str\n"

    write(tmp_path / "xdg" / "stateful-collectors" / "c.conf", "[c]\nurl = http://xdg\n")
    monkeypatch.delenv(CONFIG_ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    if any(Path("/etc/stateful-collectors").glob("*.conf")):
        pytest.skip("this machine has /etc/stateful-collectors/*.conf, which would be read too")
    assert Collector().config["url"] == "http://xdg"


def test_with_no_file_at_all_the_error_says_where_it_looked(monkeypatch, tmp_path):
    class Collector(AbstractBaseCollector):
        config_spec = "[c]\nurl :: str\n"

    monkeypatch.delenv(CONFIG_ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "empty"))
    if any(Path("/etc/stateful-collectors").glob("*.conf")):
        pytest.skip("this machine has /etc/stateful-collectors/*.conf, so a file is found")
    with pytest.raises(ConfigError) as raised:
        Collector()
    assert str(raised.value) == (
        "no config file found (looked in /etc/stateful-collectors/*.conf and "
        f"{tmp_path}/empty/stateful-collectors/*.conf); pass --config FILE or set "
        "STATEFUL_COLLECTORS_CONFIG: section [c] is missing; add it with the options: url"
    )


def test_inline_text_and_a_file_cannot_both_be_given(tmp_path):
    with pytest.raises(TypeError, match="config_file or config_text, not both"):
        ConfigSource.load(config_file=tmp_path / "x.conf", config_text="[s]\n")


def test_a_tilde_in_an_explicit_file_name_is_expanded(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    conf = write(tmp_path / "my.conf", "[s]\n")
    assert find_config_files("~/my.conf", {}) == [conf]
    assert find_config_files(None, {CONFIG_ENV_VAR: "~/my.conf"}) == [conf]


def test_optional_option_with_empty_default_is_none_unless_str():
    spec = ConfigSpec.parse(
        """
        [feed]
        ca_file = :: path
        retries = :: int
        proxy = :: str
        """
    )
    section = ConfigSource.from_text("[feed]\n").section(spec)
    assert dict(section) == {"ca_file": None, "retries": None, "proxy": ""}
    given = ConfigSource.from_text("[feed]\nretries = 3\n").section(spec)
    assert given["retries"] == 3
