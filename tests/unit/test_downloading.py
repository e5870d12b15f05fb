"""`BaseDownloadingCollector`: retries for what may pass, never for what will not, over real HTTP.

The source is the demo feed's cookbook (`/cookbook/limited.json` serves the
feed's items; `faults` makes its next answers an error status, with a
`Retry-After` when asked), or a port nobody listens on. The recipes that use
the class run as processes in tests/examples (the rate-limited one with the
run's deadline as a real `--deadline`).
"""

from __future__ import annotations

import json
import time

import pytest

from stateful_collectors import BaseDownloadingCollector, BaseSimpleCollector
from stateful_collectors.collectors.downloading import retry_after_seconds
from stateful_collectors.errors import ConfigError, DownloadError
from stateful_collectors.http import fetch
from stateful_collectors.runtime import interrupts
from stateful_collectors.testing import collect
from tests.support.cookbook import served_cookbook
from tests.support.processes import free_port

LIMITED = "/cookbook/limited.json"
API = "/cookbook/api/items"


class Downloader(BaseDownloadingCollector, BaseSimpleCollector):
    """Publishes what `download()` got from `url` (n6 4.x's dialect)."""

    raw_type = "stream"
    config_spec_pattern = "[{collector_class_name}]\nurl :: str\n"
    custom_headers: dict[str, str] = {}

    def get_source(self, **processed_data):
        return "demo.downloads"

    def obtain_data_body(self):
        return self.download(self.config["url"], custom_request_headers=self.custom_headers)


def config(url: str, **options: object) -> str:
    lines = [f"{name} = {value}" for name, value in options.items()]
    return "\n".join(["[Downloader]", f"url = {url}", *lines]) + "\n"


def test_the_options_join_the_collectors_section_in_n6s_dialect():
    spec = Downloader.get_config_spec()
    options = spec.sections["Downloader"].options
    assert {name: (o.converter, o.default) for name, o in options.items()} == {
        "download_retries": ("int", "3"),
        "download_timeout": ("float", "30"),
        "download_max_bytes": ("int", "67108864"),
        "base_request_headers": ("str", "{}"),
        "url": ("str", None),
    }
    settings = Downloader(config_text=config("http://x")).download_settings
    assert (settings.retries, settings.timeout, settings.max_bytes, settings.headers) == (
        3,
        30.0,
        64 << 20,
        {},
    )


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        (
            "download_retries",
            "-1",
            "[Downloader] option 'download_retries' = '-1': the value must be a whole number "
            "from 0 to 100",
        ),
        ("download_retries", "101", "option 'download_retries' = '101'"),
        ("download_timeout", "0", "option 'download_timeout' = '0.0': the value must be a "),
        ("download_max_bytes", "0", "option 'download_max_bytes' = '0': the value must be"),
        (
            "base_request_headers",
            '{"Authorization": "Bearer s3cr3t"',  # a brace short
            "[Downloader] option 'base_request_headers': the value must be a JSON object of "
            'text values, e.g. {"User-Agent": "my-collector/1.0"}',
        ),
        ("base_request_headers", '{"X-Count": 3}', "option 'base_request_headers': the value"),
    ],
)
def test_bad_options_are_one_config_error_before_anything_is_fetched(option, value, message):
    with pytest.raises(ConfigError) as caught:
        Downloader(config_text=config("http://x", **{option: value}))
    assert message in str(caught.value)
    assert "s3cr3t" not in str(caught.value)  # a header value is never shown


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_what_may_pass_is_asked_again_and_succeeds(status):
    with served_cookbook() as server:
        server.cookbook.faults.add(LIMITED, status=status, count=3, retry_after=0)
        run = collect(Downloader, config(server.url + LIMITED))
        assert [item["id"] for item in run.json_bodies()[0]] == [1, 2, 3, 4, 5]
        assert server.cookbook.requests[LIMITED] == 4


@pytest.mark.parametrize(
    ("status", "hint"),
    [
        (401, "check the credentials the collector sends (not retried)"),
        (403, "check the credentials the collector sends, and what they allow (not retried)"),
        (404, "check the URL (not retried)"),
        (400, None),
        (501, None),
    ],
)
def test_what_will_not_pass_is_asked_once(status, hint):
    with served_cookbook() as server:
        server.cookbook.faults.add(LIMITED, status=status, count=5, retry_after=0)
        with pytest.raises(DownloadError) as caught:
            collect(Downloader, config(server.url + LIMITED))
        assert server.cookbook.requests[LIMITED] == 1
    assert caught.value.status == status and not caught.value.retryable
    text = str(caught.value)
    assert text.startswith(f"{server.url}{LIMITED}: the server answered {status} ")
    if hint:
        assert text.endswith(f"; {hint}")
    else:
        assert "(not retried)" not in text


def test_the_attempts_end_and_the_last_error_says_how_many():
    with served_cookbook() as server:
        server.cookbook.faults.add(LIMITED, status=503, count=10, retry_after=0)
        with pytest.raises(DownloadError) as caught:
            collect(Downloader, config(server.url + LIMITED, download_retries=2))
        assert server.cookbook.requests[LIMITED] == 3
    assert str(caught.value).endswith(
        "the server answered 503 Service Unavailable (3 attempts, download_retries = 2)"
    )
    assert caught.value.status == 503 and caught.value.retryable


def test_no_retries_asks_once_and_keeps_the_error_as_it_is():
    with served_cookbook() as server:
        server.cookbook.faults.add(LIMITED, status=503, count=10, retry_after=0)
        with pytest.raises(DownloadError) as caught:
            collect(Downloader, config(server.url + LIMITED, download_retries=0))
        assert server.cookbook.requests[LIMITED] == 1
    assert (
        str(caught.value) == f"{server.url}{LIMITED}: the server answered 503 Service Unavailable"
    )


def test_a_connection_refused_is_retried_after_the_default_wait():
    url = f"http://127.0.0.1:{free_port()}/nothing"
    started = time.monotonic()
    with pytest.raises(DownloadError) as caught:
        collect(Downloader, config(url, download_retries=1))
    waited = time.monotonic() - started
    assert 1.0 <= waited < 5  # 1 s before the second attempt, none after the last
    assert caught.value.retryable and "cannot download" in str(caught.value)
    assert "(2 attempts, download_retries = 1)" in str(caught.value)


def test_retry_after_is_honoured():
    with served_cookbook() as server:
        server.cookbook.faults.add(LIMITED, status=429, count=1, retry_after=1)
        started = time.monotonic()
        collect(Downloader, config(server.url + LIMITED))
        assert time.monotonic() - started >= 1.0
        assert server.cookbook.requests[LIMITED] == 2


def test_a_wait_past_the_runs_deadline_is_not_started():
    with served_cookbook() as server:
        server.cookbook.faults.add(LIMITED, status=429, count=1, retry_after=120)
        interrupts.start_deadline(30)  # what `--deadline 30` arms (no timer outside a run)
        try:
            started = time.monotonic()
            with pytest.raises(DownloadError) as caught:
                collect(Downloader, config(server.url + LIMITED))
            assert time.monotonic() - started < 5
        finally:
            interrupts.cancel_deadline()
        assert server.cookbook.requests[LIMITED] == 1
    assert str(caught.value).endswith(
        "429 Too Many Requests; no more attempts: waiting 120 s would pass the run's "
        "deadline (30 s)"
    )


def test_headers_from_the_config_and_from_the_call_merge_without_case():
    with served_cookbook(token="right") as server:
        url = server.url + API
        base = json.dumps({"authorization": "Bearer wrong", "User-Agent": "test/1"})
        with pytest.raises(DownloadError) as caught:
            collect(Downloader, config(url, base_request_headers=base))
        assert caught.value.status == 403

        class WithToken(Downloader):
            custom_headers = {"AUTHORIZATION": "Bearer right"}

        text = config(url, base_request_headers=base).replace("[Downloader]", "[WithToken]")
        run = collect(WithToken, text)
        assert len(run.json_bodies()[0]) == 5


def test_last_modified_is_kept_and_goes_into_the_messages_meta_header():
    with served_cookbook() as server:
        url = server.url + "/cookbook/blocklist.txt"
        run = collect(Downloader, config(url))
        (message,) = run.messages
        assert message.properties["headers"] == {
            "meta": {"http_last_modified": "2026-11-27 20:00:00"}
        }
        collector = Downloader(config_text=config(url))
        assert collector.download_text(url).startswith("# Demo blocklist")
        assert collector.http_response.status == 200
        assert collector.http_last_modified.isoformat() == "2026-11-27T20:00:00+00:00"


def test_a_304_is_an_answer():
    with served_cookbook() as server:
        url = server.url + "/cookbook/blocklist.txt"
        collector = Downloader(config_text=config(url))
        etag = collector.download_response(url).headers["ETag"]
        again = collector.download_response(url, custom_request_headers={"If-None-Match": etag})
        assert (again.status, again.body) == (304, b"")


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(408, True), (429, True), (500, True), (503, True), (400, False), (404, False), (501, False)],
)
def test_fetch_says_which_failures_may_pass(status, retryable):
    with served_cookbook() as server:
        server.cookbook.faults.add(LIMITED, status=status, retry_after=7)
        with pytest.raises(DownloadError) as caught:
            fetch(server.url + LIMITED)
    assert (caught.value.status, caught.value.retryable) == (status, retryable)
    assert caught.value.headers["Retry-After"] == "7"


def test_fetch_too_big_is_not_worth_retrying():
    with served_cookbook() as server, pytest.raises(DownloadError) as caught:
        fetch(server.url + LIMITED, max_bytes=10)
    assert not caught.value.retryable


def test_retry_after_seconds_reads_numbers_and_dates():
    assert retry_after_seconds("0") == 0.0
    assert retry_after_seconds(" 17 ") == 17.0
    assert retry_after_seconds("Fri, 27 Nov 2026 20:00:00 GMT", now=1795809630.0) == 0.0
    assert retry_after_seconds("-3") is None
    assert retry_after_seconds("1e9") is None
    assert retry_after_seconds("9" * 40) is None


def test_the_module_docs_name_exactly_the_statuses_that_are_retried():
    import re

    from stateful_collectors import http

    named = re.search(r"`RETRYABLE_STATUSES`: ([\d, ]+);", " ".join((http.__doc__ or "").split()))
    assert named, "the module's docstring lists the retried statuses"
    assert {int(code) for code in named.group(1).split(",")} == http.RETRYABLE_STATUSES
