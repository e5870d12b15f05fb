r"""`BaseDownloadingCollector`: downloads with retries and limits from the config (n6 4.x's name).

A collector that fetches over HTTP needs the same few things every time: a
bound on each download (`stateful_collectors.http.fetch`), headers it always
sends, and a second try when the source failed in a way that may pass. This
base class reads them from the collector's section:

| option | default | meaning |
| --- | --- | --- |
| `download_retries` | `3` | more attempts after a failure that may pass |
| `download_timeout` | `30` | seconds for one whole download |
| `download_max_bytes` | `67108864` | the largest body accepted (64 MiB) |
| `base_request_headers` | `{}` | a JSON object of headers sent with every request |

In n6 4.x's dialect (`config_spec_pattern`) the options are added to the
collector's section; with a `config_spec`, declare those you want to set
(left out, they keep their defaults).

What is retried is what another attempt may get past (`DownloadError.retryable`):
a network failure, a timeout, an answer cut short, `429 Too Many Requests`,
`500`, `502`, `503`, `504`. The wait before the next attempt is what the
server's `Retry-After` header asks for, else 1, 2, 4... seconds. A wait that
would pass the run's deadline is not started: the run gives up at once. A
`401`, `403` or `404` is never retried: asking again gets the same answer, so
the run fails at once, with one line that says what to check.

Example:
    ```python
    from stateful_collectors.collectors.downloading import BaseDownloadingCollector
    from stateful_collectors.demo import DemoFeed
    from stateful_collectors.testing import collect


    class LimitedCollector(BaseDownloadingCollector):
        raw_type = "stream"
        config_spec_pattern = "[{collector_class_name}]\nurl :: str\n"

        def get_source(self, **processed_data):
            return "demo.limited"

        def get_output_data_body(self, source, **processed_data):
            return self.download(self.config["url"])

        def start_publishing(self):
            self.publish_output(*self.get_output_components())
            self.inner_stop()


    feed = DemoFeed(history=2, start="2026-11-27T20:00:00Z")
    with feed.serve() as server:
        path = "/cookbook/limited.json"
        server.cookbook.faults.add(path, status=429, count=2, retry_after=0)
        config = f"[LimitedCollector]\nurl = {server.url}{path}\n"
        run = collect(LimitedCollector, config)  # two 429s, then an answer
        print(run.json_bodies()[0][0]["id"], server.cookbook.requests[path])
        #> 1 3
    ```
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
import time
from collections.abc import Mapping
from typing import Any

from stateful_collectors.collectors.base import BaseCollector
from stateful_collectors.errors import ConfigError, DownloadError
from stateful_collectors.http import Response, fetch
from stateful_collectors.runtime import interrupts

__all__ = ["BaseDownloadingCollector"]

log = logging.getLogger(__name__)

_OPTIONS = (
    "download_retries = 3 :: int\n"
    "download_timeout = 30 :: float\n"
    "download_max_bytes = 67108864 :: int\n"
    "base_request_headers = {} :: str\n"  # JSON, read here: a bad value is never shown
)
_MAX_RETRIES = 100
_BACKOFF_CAP = 60.0  # seconds: the longest wait between attempts without a Retry-After


class DownloadSettings:
    """The download options of a collector's section, checked.

    Attributes:
        retries: more attempts after a retryable failure (0 to 100).
        timeout: seconds for one whole download (greater than 0).
        max_bytes: the largest body accepted (greater than 0).
        headers: headers sent with every request.
    """

    __slots__ = ("retries", "timeout", "max_bytes", "headers")

    def __init__(
        self, retries: int, timeout: float, max_bytes: int, headers: Mapping[str, str]
    ) -> None:
        self.retries = retries
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.headers = dict(headers)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], section: str, origin: str) -> DownloadSettings:
        """Read and check the options; `ConfigError` names the option and what to write."""

        def refuse(option: str, value: object, problem: str) -> ConfigError:
            return ConfigError(
                f"{origin}: [{section}] option {option!r} = {str(value)!r}: the value {problem}"
            )

        retries = config.get("download_retries", 3)
        if type(retries) is not int or not 0 <= retries <= _MAX_RETRIES:
            raise refuse(
                "download_retries", retries, f"must be a whole number from 0 to {_MAX_RETRIES}"
            )
        timeout = config.get("download_timeout", 30.0)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
            raise refuse(
                "download_timeout",
                timeout,
                "must be a number of seconds greater than 0 (for the whole download), e.g. 30",
            )
        max_bytes = config.get("download_max_bytes", 64 << 20)
        if type(max_bytes) is not int or max_bytes <= 0:
            raise refuse(
                "download_max_bytes", max_bytes, "must be a whole number of bytes, e.g. 10000000"
            )
        headers = config.get("base_request_headers", {})
        if isinstance(headers, str):  # declared `:: str` (as it is in n6's dialect here)
            try:
                headers = json.loads(headers) if headers.strip() else {}
            except ValueError:
                headers = None
        if not isinstance(headers, Mapping) or not all(
            isinstance(name, str) and isinstance(value, str) for name, value in headers.items()
        ):
            # The value is not shown: headers may hold a credential.
            raise ConfigError(
                f"{origin}: [{section}] option 'base_request_headers': the value must be a "
                'JSON object of text values, e.g. {"User-Agent": "my-collector/1.0"}'
            )
        return cls(retries, float(timeout), max_bytes, headers)


class BaseDownloadingCollector(BaseCollector):
    """A collector that downloads: `download()` with retries, timeouts and headers from the config.

    Use it as a base next to the others:
    `class C(StatefulCollectorMixin, BaseDownloadingCollector, BaseSimpleCollector)`.
    The options are checked when the collector is built, before anything is
    fetched (a bad value is a `ConfigError`, exit status 3).

    Attributes:
        download_settings: the checked options (`DownloadSettings`).
        http_response: the answer of the last successful download (`Response`).
        http_last_modified: its `Last-Modified` header as an aware `datetime`, or `None`.
            When set, each message carries it in `headers["meta"]["http_last_modified"]`
            (`2026-11-27 20:00:00`, UTC, as n6 writes it).
    """

    http_response: Response | None = None
    http_last_modified: dt.datetime | None = None

    @classmethod
    def config_spec_pattern_defaults(cls) -> str:
        """Adds the download options to the collector's section in n6 4.x's dialect."""
        return super().config_spec_pattern_defaults() + _OPTIONS

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.download_settings = DownloadSettings.from_config(
            self.config, self.config.name, self.config.origin
        )

    def download(
        self,
        url: str,
        *,
        retries: int | None = None,
        timeout: float | None = None,
        custom_request_headers: Mapping[str, str] | None = None,
        max_bytes: int | None = None,
        method: str = "GET",
        data: bytes | None = None,
    ) -> bytes:
        """The body of `url` (a `2xx` answer), with the retries of `download_response()`."""
        return self.download_response(
            url,
            retries=retries,
            timeout=timeout,
            custom_request_headers=custom_request_headers,
            max_bytes=max_bytes,
            method=method,
            data=data,
        ).body

    def download_text(self, url: str, **kwargs: Any) -> str:
        """The body of `url` as text, decoded with the charset it declares (UTF-8 if none)."""
        response = self.download_response(url, **kwargs)
        charset = response.headers.get_content_charset() or "utf-8"
        return response.body.decode(charset, "replace")

    def download_response(
        self,
        url: str,
        *,
        retries: int | None = None,
        timeout: float | None = None,
        custom_request_headers: Mapping[str, str] | None = None,
        max_bytes: int | None = None,
        method: str = "GET",
        data: bytes | None = None,
    ) -> Response:
        """Fetch `url`: the `Response` (`2xx`, or `304` for a conditional request).

        Args:
            url: an `http:` or `https:` URL.
            retries: instead of `download_retries`.
            timeout: instead of `download_timeout` (per attempt, for the whole download).
            custom_request_headers: headers added to `base_request_headers`,
                replacing those of the same name (whatever their case).
            max_bytes: instead of `download_max_bytes`.
            method: the HTTP method (`GET` unless you say otherwise).
            data: the request body, sent with each attempt.

        Raises:
            DownloadError: a failure not worth retrying, or the last one when the
                attempts ran out or the next wait would pass the run's deadline.
            DeadlineExceeded: the run's deadline passed during a download.
        """
        settings = self.download_settings
        retries = settings.retries if retries is None else retries
        headers = _merged_headers(settings.headers, custom_request_headers or {})
        attempts = retries + 1
        attempt = 1
        while True:
            try:
                response = fetch(
                    url,
                    timeout=settings.timeout if timeout is None else timeout,
                    max_bytes=settings.max_bytes if max_bytes is None else max_bytes,
                    headers=headers,
                    method=method,
                    data=data,
                )
            except DownloadError as error:
                wait = _wait_before_retry(error, attempt, attempts, retries)
                log.warning(
                    "%s; attempt %d of %d in %s", error, attempt + 1, attempts, _seconds(wait)
                )
                time.sleep(wait)
                attempt += 1
                continue
            self.http_response = response
            self.http_last_modified = _parse_http_date(response.headers.get("Last-Modified"))
            return response

    def get_output_prop_kwargs(
        self, source: str, output_data_body: Any, **processed_data: Any
    ) -> dict[str, Any]:
        """The base class's properties, with `headers["meta"]["http_last_modified"]` when known."""
        properties = super().get_output_prop_kwargs(
            source=source, output_data_body=output_data_body, **processed_data
        )
        if self.http_last_modified is not None:
            naive_utc = self.http_last_modified.astimezone(dt.UTC).replace(tzinfo=None)
            properties["headers"].setdefault("meta", {})["http_last_modified"] = str(naive_utc)
        return properties


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """The wait a `Retry-After` header asks for, in seconds: a number, or an HTTP date.

    ```python
    from stateful_collectors.collectors.downloading import retry_after_seconds

    print(retry_after_seconds("2"), retry_after_seconds("soon"))
    #> 2.0 None
    date = "Fri, 27 Nov 2026 20:00:30 GMT"
    print(retry_after_seconds(date, now=1795809600.0))  # 20:00:00 then
    #> 30.0
    ```
    """
    if value is None:
        return None
    text = value.strip()
    if text.isdigit() and len(text) <= 12:
        return float(text)
    when = _parse_http_date(text)
    if when is None:
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


def _wait_before_retry(error: DownloadError, attempt: int, attempts: int, retries: int) -> float:
    """The seconds to wait before the next attempt; raises the error to give up instead."""
    if not error.retryable:
        hint = _NOT_RETRIED.get(error.status or 0)
        if hint is None:
            raise error
        raise _rewritten(error, f"{error}; {hint} (not retried)")
    if attempt >= attempts:
        if attempts == 1:
            raise error
        raise _rewritten(error, f"{error} ({attempts} attempts, download_retries = {retries})")
    asked = retry_after_seconds(error.headers.get("Retry-After") if error.headers else None)
    wait = asked if asked is not None else min(2.0 ** (attempt - 1), _BACKOFF_CAP)
    left = interrupts.remaining()
    if left is not None and wait >= left:
        deadline = interrupts.deadline_seconds() or left
        raise _rewritten(
            error,
            f"{error}; no more attempts: waiting {_seconds(wait)} would pass the run's "
            f"deadline ({_seconds(deadline)})",
        )
    return wait


_NOT_RETRIED = {
    401: "check the credentials the collector sends",
    403: "check the credentials the collector sends, and what they allow",
    404: "check the URL",
    410: "check the URL",
}


def _rewritten(error: DownloadError, message: str) -> DownloadError:
    return DownloadError(
        message,
        url=error.url,
        status=error.status,
        headers=error.headers,
        retryable=error.retryable,
        timed_out=error.timed_out,
    )


def _merged_headers(base: Mapping[str, str], custom: Mapping[str, str]) -> dict[str, str]:
    """`base` updated by `custom`, header names compared without case."""
    lowered = {name.lower() for name in custom}
    merged = {name: value for name, value in base.items() if name.lower() not in lowered}
    merged.update(custom)
    return merged


def _parse_http_date(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _seconds(value: float) -> str:
    return f"{round(value) if value >= 10 else round(value, 1):g} s"
