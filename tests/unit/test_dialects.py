"""Two dialects, chosen per class: the page's `config_spec` and n6 4.x's `config_spec_pattern`.

Real config text and real state files in a temp dir; what a mix of the two
dialects does when the class is created; the main section's name in each;
where the state goes when n6's dialect leaves `state_dir` out.
"""

from __future__ import annotations

import pytest

from stateful_collectors import (
    AbstractBaseCollector,
    BaseCollector,
    BaseSimpleCollector,
    ConfigError,
    StatefulCollectorMixin,
    combined_config_spec,
)
from stateful_collectors.errors import ConfigSpecError
from stateful_collectors.state.mixin import default_state_dir
from stateful_collectors.testing import collect, make_config


class N6Style(StatefulCollectorMixin, BaseSimpleCollector):
    """n6 4.x's dialect: a pattern, the whole source from get_source()."""

    raw_type = "stream"
    config_spec_pattern = combined_config_spec("""
        [{collector_class_name}]
        url :: str
        retries = 3 :: int
    """)

    def get_source(self, **processed_data):
        return "n6-style.things"

    def obtain_data_body(self):
        return f"{self.config['url']} {self.config['retries']}".encode()


# ---------------------------------------------------------------- the main section


def test_in_n6s_dialect_the_collectors_section_is_its_class_name_case_kept():
    spec = N6Style.get_config_spec()
    assert spec.main_section == "N6Style"
    assert list(spec.sections) == ["N6Style"]
    collector = N6Style(config_text="[N6Style]\nurl = http://x/\n")
    assert collector.config.name == "N6Style"
    assert (collector.config["url"], collector.config["retries"]) == ("http://x/", 3)
    assert set(collector.config_full) == {"N6Style"}


def test_a_lower_case_section_is_not_the_class_named_one():
    with pytest.raises(ConfigError, match=r"section \[N6Style\] is missing"):
        N6Style(config_text="[n6style]\nurl = http://x/\n")


def test_in_the_pages_dialect_the_collectors_section_is_the_first_of_config_spec():
    class PageStyle(BaseCollector):
        raw_type = "stream"
        config_spec = """
            [page_style]
            url :: str
            [other]
            x = 1 :: int
        """

    assert PageStyle.get_config_spec().main_section == "page_style"
    collector = PageStyle(config_text="[page_style]\nurl = u\n")
    assert collector.config.name == "page_style"
    assert collector.config_full["other"]["x"] == 1


def test_an_option_missing_from_the_class_named_section_is_one_clear_line():
    with pytest.raises(ConfigError) as caught:
        N6Style(config_text="[N6Style]\nretries = 1\n")
    assert str(caught.value) == (
        "<config text>: [N6Style] option 'url' is required (str); add a line 'url = ...'"
    )


# ---------------------------------------------------------------- combining patterns


class Downloading(BaseCollector):
    """A base class of the user's, with options of its own."""

    config_spec_pattern = combined_config_spec("""
        [{collector_class_name}]
        timeout = 30 :: int
        retries = 3 :: int
    """)


def options_of(cls) -> dict[str, tuple[str, str | None]]:
    spec = cls.get_config_spec()
    section = spec.sections[spec.main_section]
    return {name: (option.converter, option.default) for name, option in section.options.items()}


def test_patterns_combine_along_the_mro_and_later_defaults_win():
    class Feed(StatefulCollectorMixin, Downloading):
        config_spec_pattern = combined_config_spec("""
            [{collector_class_name}]
            retries = 5 :: int
            url :: str
            [shared_{collector_class_name}]
            token = :: str
        """)

    assert options_of(Feed) == {
        "state_dir": ("path", ""),  # added by StatefulCollectorMixin
        "timeout": ("int", "30"),
        "retries": ("int", "5"),
        "url": ("str", None),
    }
    assert list(Feed.get_config_spec().sections) == ["Feed", "shared_Feed"]


def test_a_plain_pattern_replaces_the_base_classes_but_keeps_the_librarys_options():
    class Replacing(StatefulCollectorMixin, Downloading):
        config_spec_pattern = """
            [{collector_class_name}]
            url :: str
        """

    assert options_of(Replacing) == {"state_dir": ("path", ""), "url": ("str", None)}


def test_a_pattern_cannot_change_an_options_converter():
    class Converting(Downloading):
        config_spec_pattern = combined_config_spec("[{collector_class_name}]\ntimeout :: float\n")

    with pytest.raises(ConfigSpecError) as caught:
        Converting.get_config_spec()
    assert str(caught.value) == (
        "test_a_pattern_cannot_change_an_options_converter.<locals>.Converting."
        "config_spec_pattern: [Converting] option 'timeout' is declared 'float' but a base "
        "class declares it 'int'; keep the converter (a subclass may change only the default)"
    )


def test_nor_can_it_change_state_dirs():
    class StrStateDir(StatefulCollectorMixin, BaseCollector):
        config_spec_pattern = "[{collector_class_name}]\nstate_dir :: str\n"

    with pytest.raises(ConfigSpecError, match="'state_dir' is declared 'str' but"):
        StrStateDir.get_config_spec()


def test_format_kwargs_can_be_extended_and_a_wrong_placeholder_is_named():
    class Regional(BaseCollector):
        config_spec_pattern = "[{collector_class_name}]\nregion = {default_region} :: str\n"

        @classmethod
        def get_config_spec_format_kwargs(cls):
            return {**super().get_config_spec_format_kwargs(), "default_region": "eu"}

    assert options_of(Regional) == {"region": ("str", "eu")}

    class Typo(BaseCollector):
        config_spec_pattern = "[{collector_clas_name}]\n"

    with pytest.raises(ConfigSpecError, match=r"unknown placeholder \{collector_clas_name\}"):
        Typo.get_config_spec()


def test_a_pattern_without_the_class_named_section_is_refused():
    class Elsewhere(BaseCollector):
        config_spec_pattern = "[somewhere_else]\nx = 1 :: int\n"

    with pytest.raises(ConfigSpecError, match=r"declares no section \[Elsewhere\]"):
        Elsewhere.get_config_spec()


# ---------------------------------------------------------------- mixing is refused at once


def test_config_spec_and_config_spec_pattern_together_fail_when_the_class_is_created():
    with pytest.raises(TypeError) as caught:

        class Both(BaseCollector):
            config_spec = "[both]\n"
            config_spec_pattern = "[{collector_class_name}]\n"

    assert "Both sets both config_spec (in " in str(caught.value)
    assert "keep one: config_spec, whose first section is the collector's" in str(caught.value)


def test_an_inherited_pattern_and_a_config_spec_fail_too():
    with pytest.raises(TypeError, match=r"config_spec_pattern \(in Downloading\)"):

        class Subclass(Downloading):
            config_spec = "[subclass]\n"


def test_get_source_channel_in_n6s_dialect_fails_when_the_class_is_created():
    with pytest.raises(TypeError) as caught:

        class Channelled(Downloading):
            def get_source_channel(self, **processed_data):
                return "x"

    assert "sets config_spec_pattern (n6 4.x's dialect), which has no get_source_channel()" in (
        str(caught.value)
    )


def test_get_source_and_get_source_channel_together_fail_when_the_class_is_created():
    class PageBase(BaseCollector):
        def get_source_channel(self, **processed_data):
            return "x"

    with pytest.raises(TypeError, match=r"defines both get_source\(\) and get_source_channel"):

        class Both(PageBase):
            def get_source(self, **processed_data):
                return "a.b"


def test_n6s_dialect_without_get_source_says_what_to_define(tmp_path):
    class NoSource(BaseSimpleCollector):
        raw_type = "stream"
        config_spec_pattern = "[{collector_class_name}]\n"

        def obtain_data_body(self):
            return b"x"

    with pytest.raises(NotImplementedError, match=r"must define get_source\(\) and return the"):
        collect(NoSource, "[NoSource]\n")


# ---------------------------------------------------------------- the source is validated


@pytest.mark.parametrize(
    "source", ["nodot", "a.b.c", "a.", ".b", "a b.c", "a.b\n", "x" * 33 + ".b"]
)
def test_an_overridden_get_source_is_validated_before_publishing(tmp_path, source):
    class Bad(N6Style):
        def get_source(self, **processed_data):
            return source

    outbox = tmp_path / "out.jsonl"
    with pytest.raises(ValueError, match=r"source .* of .*Bad is invalid; a source is 'provider"):
        collect(Bad, make_config("Bad", state_dir=tmp_path, url="u"), outbox=outbox)
    assert not outbox.exists() or outbox.read_text() == ""


def test_a_source_that_is_not_text_is_a_type_error(tmp_path):
    class NotText(N6Style):
        def get_source(self, **processed_data):
            return b"a.b"

    with pytest.raises(TypeError, match=r"get_source\(\) returned b'a.b', not a str"):
        collect(NotText, make_config("NotText", state_dir=tmp_path, url="u"))


def test_raw_format_version_tag_is_appended_to_the_routing_key(tmp_path):
    class Tagged(N6Style):
        raw_format_version_tag = "202611"

    run = collect(Tagged, make_config("Tagged", state_dir=tmp_path, url="u"))
    assert run.messages[0].routing_key == "n6-style.things.202611"


# ---------------------------------------------------------------- state_dir


def test_state_dir_left_out_in_n6s_dialect_is_under_xdg_state_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    run = collect(N6Style, "[N6Style]\nurl = http://x/\n")
    assert run.bodies == [b"http://x/ 3"]
    expected = tmp_path / "xdg" / "stateful-collectors" / f"{__name__}.N6Style.pickle"
    assert run.state_file == expected


def test_without_xdg_state_home_it_is_under_the_home_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    for value in (None, "", "relative/path"):
        if value is None:
            monkeypatch.delenv("XDG_STATE_HOME", raising=False)
        else:
            monkeypatch.setenv("XDG_STATE_HOME", value)
        assert default_state_dir() == tmp_path / ".local" / "state" / "stateful-collectors"
    collector = N6Style(config_text="[N6Style]\nurl = u\n")
    assert collector.state_file_path.parent == tmp_path / ".local/state/stateful-collectors"


def test_a_state_dir_in_the_config_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    collector = N6Style(config_text=make_config("N6Style", url="u", state_dir=tmp_path / "here"))
    assert collector.state_file_path == tmp_path / "here" / f"{__name__}.N6Style.pickle"


def test_the_pages_dialect_still_requires_state_dir():
    class PageStateful(StatefulCollectorMixin, AbstractBaseCollector):
        config_spec = "[page_stateful]\nurl = x :: str\n"

    with pytest.raises(TypeError, match="add 'state_dir :: path' to its config_spec"):
        PageStateful(config_text="[page_stateful]\n")

    class Declared(StatefulCollectorMixin, AbstractBaseCollector):
        config_spec = "[declared]\nstate_dir :: path\n"

    with pytest.raises(ConfigError, match=r"\[declared\] option 'state_dir' is required"):
        Declared(config_text="[declared]\n")
