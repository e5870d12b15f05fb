"""n6 4.40's configuration here: `set_configuration()`, the instance's spec, n6's converters.

What n6's collectors do with it: write into `self.config` (cert_pl.py), name
their section after a command-line argument (misp.py), add converters of
their own through a `custom_converters` property, and replace their base
classes' options with a plain pattern.
"""

from __future__ import annotations

import argparse

import pytest

from stateful_collectors.errors import ConfigError, ConfigSpecError, UsageError
from stateful_collectors.n6 import (
    BaseCollector,
    BaseDownloadingCollector,
    BaseSimpleCollector,
    Config,
    ConfigSection,
    StatefulCollectorMixin,
    combined_config_spec,
)
from stateful_collectors.n6.config import N6_CONVERTERS


class Plain(BaseSimpleCollector):
    raw_type = "stream"
    config_spec_pattern = combined_config_spec("[{collector_class_name}]\nurl :: str\n")

    def get_source(self, **processed_data):
        return "example.plain"


def test_config_is_n6s_mutable_section_and_config_full_n6s_config():
    collector = Plain(config_text="[Plain]\nurl = http://a/\n")
    assert isinstance(collector.config, ConfigSection) and isinstance(collector.config_full, Config)
    assert collector.config_full["Plain"] is collector.config
    collector.config["url"] = "http://b/"
    collector.config["extra"] = 1
    assert dict(collector.config) == {"url": "http://b/", "extra": 1}
    del collector.config["extra"]
    assert collector.config.sect_name == "Plain"


def test_other_sections_may_share_the_file_but_a_misspelt_library_section_is_refused():
    Plain(config_text="[Plain]\nurl = http://a/\n[misp_circl]\nurl = x\n")  # another's
    with pytest.raises(ConfigError) as raised:
        Plain(config_text="[Plain]\nurl = http://a/\n[outbx]\npath = o.jsonl\n")
    assert "unknown section [outbx] (did you mean [outbox]?)" in str(raised.value)


class HardWired(BaseDownloadingCollector, BaseSimpleCollector):
    raw_type = "stream"
    config_spec_pattern = """
        [{collector_class_name}]
        download_timeout = (12.1, 25) :: download_timeout
        base_request_headers = {{}} :: py_namespaces_dict
        state_dir = ~/.n6state :: path
    """

    def set_configuration(self):
        super().set_configuration()
        self.config["url"] = "http://hard-wired.example/"

    def get_source(self, **processed_data):
        return "example.hard-wired"


def test_set_configuration_can_add_options_and_a_plain_pattern_replaces_the_base_classes():
    collector = HardWired(config_text="[HardWired]\nbase_request_headers = {'User-Agent': 'n6'}\n")
    assert collector.config["url"] == "http://hard-wired.example/"
    assert set(collector.config) == {"download_timeout", "base_request_headers", "state_dir", "url"}
    assert collector.config["download_timeout"] == 37.1
    assert collector.download_settings.timeout == 37.1
    assert collector.download_settings.headers == {"User-Agent": "n6"}
    with pytest.raises(ConfigError, match=r"\[HardWired\] unknown option 'url'"):
        HardWired(config_text="[HardWired]\nurl = http://elsewhere/\n")  # as in n6: not settable


def test_n6s_options_are_combined_along_the_classes():
    class Feed(StatefulCollectorMixin, BaseDownloadingCollector, BaseSimpleCollector):
        raw_type = "stream"
        config_spec_pattern = combined_config_spec("[{collector_class_name}]\nurl :: str\n")

        def get_source(self, **processed_data):
            return "example.feed"

    spec = Feed.get_config_spec()
    options = spec.sections["Feed"].options
    assert {name: (o.converter, o.default) for name, o in options.items()} == {
        "state_dir": ("path", "~/.n6state"),
        "download_retries": ("int", "3"),
        "download_timeout": ("download_timeout", "(12.1, 25)"),
        "base_request_headers": ("py_namespaces_dict", "{}"),
        "url": ("str", None),
    }


class FromArgument(BaseCollector):
    raw_type = "stream"
    config_spec_pattern = """
        [{section}]
        colour = :: colour
    """

    def __init__(self, **kwargs):
        self._section = self.cmdline_args.section
        super().__init__(**kwargs)

    @classmethod
    def get_arg_parser(cls):
        parser = super().get_arg_parser()
        parser.add_argument("section")
        return parser

    @property
    def custom_converters(self):
        return super().custom_converters | {"colour": self._colour}

    def _colour(self, text):
        if text not in ("", "red", "green"):
            raise ValueError("is not red or green")
        return text or None

    def get_config_spec_format_kwargs(self):
        return super().get_config_spec_format_kwargs() | {"section": self._section}

    def get_config_from_config_full(self, *, config_full, collector_class_name):
        return config_full[self._section]

    def get_source(self, **processed_data):
        return "example.argument"


def test_an_argument_names_the_section_through_the_instances_spec_and_converters():
    kwargs = FromArgument.init_kwargs_from_command_line(["second"])
    assert kwargs == {"cmdline_args": argparse.Namespace(section="second")}
    collector = FromArgument(
        config_text="[first]\ncolour = red\n[second]\ncolour = green\n", **kwargs
    )
    assert (collector.config.name, collector.config["colour"]) == ("second", "green")
    with pytest.raises(
        ConfigError, match=r"\[second\] option 'colour' = 'blue': the value is not red or green"
    ):
        FromArgument(config_text="[second]\ncolour = blue\n", **kwargs)
    assert FromArgument.get_config_spec() is None  # the section is known only to an instance
    with pytest.raises(
        ConfigError, match=r"unknown section \[Second\] \(did you mean \[second\]\?\)"
    ):
        FromArgument(config_text="[second]\n[Second]\n", **kwargs)


def test_a_missing_or_unknown_argument_is_a_usage_error():
    with pytest.raises(
        UsageError, match=r"^FromArgument: the following arguments are required: section$"
    ):
        FromArgument.init_kwargs_from_command_line([])
    with pytest.raises(UsageError, match=r"unrecognized arguments: --n6recovery"):
        FromArgument.init_kwargs_from_command_line(["a", "--n6recovery"])
    with pytest.raises(UsageError, match=r"^Plain: unrecognized arguments: extra$"):
        Plain.init_kwargs_from_command_line(["extra"])


@pytest.mark.parametrize(
    ("converter", "text", "value"),
    [
        ("py", "(1, 'a')", (1, "a")),
        ("py_namespaces_dict", "{'a': {'b': 1}}", {"a": {"b": 1}}),
        ("download_timeout", "30", 30.0),
        ("download_timeout", "(12.1, 25)", 37.1),
        ("download_timeout", "[1, 2]", 3.0),
    ],
)
def test_n6s_converters(converter, text, value):
    assert N6_CONVERTERS[converter](text) == value


@pytest.mark.parametrize(
    ("converter", "text", "problem"),
    [
        ("py", "open('x')", "is not a Python literal"),
        ("py_namespaces_dict", "[1]", "is not a Python dict literal"),
        ("py_namespaces_dict", "{'a': {1: 2}}", "has the key 1, which is not a string"),
        (
            "download_timeout",
            "0",
            "is not a number of seconds greater than 0 or a (connect, read) pair",
        ),
        ("download_timeout", "(1, 2, 3)", "is not a number of seconds"),
        ("download_timeout", "'x'", "is not a number of seconds"),
    ],
)
def test_n6s_converters_refuse_with_what_to_write(converter, text, problem):
    with pytest.raises(ValueError) as caught:
        N6_CONVERTERS[converter](text)
    assert str(caught.value).startswith(problem)


@pytest.mark.parametrize("name", ["type", "run_handling", "source_config_section"])
def test_the_attributes_n6_no_longer_supports_are_refused(name):
    with pytest.raises(
        TypeError, match=rf"set to non-None values: '{name}' \(n6 4.x refuses them too\)"
    ):
        type("Old", (Plain,), {name: "x"})


def test_a_spec_with_a_placeholder_nobody_fills_is_a_spec_error():
    class Broken(BaseCollector):
        raw_type = "stream"
        config_spec_pattern = "[{collector_class_name}]\nx = {nothing}\n"

        def get_source(self, **processed_data):
            return "example.broken"

    with pytest.raises(ConfigSpecError, match=r"unknown placeholder \{nothing\}"):
        Broken(config_text="[Broken]\n")
