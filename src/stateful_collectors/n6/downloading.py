"""n6 4.x's `BaseDownloadingCollector` over this library's: its `download()` and its errors.

`download(url, method=..., data=..., json=..., retries=..., timeout=...,
custom_request_headers=...)` sends what n6's sends through `requests`, here
through `stateful_collectors.http.fetch` with this library's retries and
bounds. A failure raises the exception `requests` would have raised when
`requests` is installed (`requests.HTTPError` with `exc.response.status_code`,
`requests.Timeout`, `requests.ConnectionError`), which is also this library's
`DownloadError`: an n6 collector that catches them keeps working, and one
that does not fails its run with one line. Without `requests` it raises
`DownloadError`.

The options are n6's: `download_retries`, `download_timeout` (a number, or
n6's `(connect, read)` pair, which bounds the whole download by their sum)
and `base_request_headers` (a Python dict literal).
"""

from __future__ import annotations

import json as json_module
import urllib.parse
from collections.abc import Mapping
from typing import Any, ClassVar

from stateful_collectors.collectors import downloading as core
from stateful_collectors.config import combined_config_spec
from stateful_collectors.errors import DownloadError
from stateful_collectors.n6.collectors import BaseCollector

__all__ = ["BaseDownloadingCollector", "as_requests_error"]

_N6_MAX_BYTES = 1 << 30  # n6 sets no limit; 1 GiB unless download_max_bytes is set


class BaseDownloadingCollector(BaseCollector, core.BaseDownloadingCollector):
    """n6 4.x's `BaseDownloadingCollector`: see the module's docstring."""

    config_spec_pattern: ClassVar[str | None] = combined_config_spec(
        "[{collector_class_name}]\n"
        "download_retries = 3 :: int\n"
        "download_timeout = (12.1, 25) :: download_timeout\n"
        "base_request_headers = {{}} :: py_namespaces_dict\n"
    )

    @property
    def _http_last_modified(self) -> Any:
        """n6's private name of `http_last_modified` (collectors set it to `None`)."""
        return self.http_last_modified

    @_http_last_modified.setter
    def _http_last_modified(self, value: Any) -> None:
        self.http_last_modified = value

    def download(
        self,
        url: str,
        *,
        method: str = "GET",
        data: Any = None,
        json: Any = None,
        retries: int | None = None,
        timeout: Any = None,
        custom_request_headers: Mapping[str, str] | None = None,
        stream: bool = False,
        max_bytes: int | None = None,
    ) -> bytes:
        """The body of `url`, as n6's `download()` (and `requests`) would send the request."""
        headers = dict(custom_request_headers or {})
        body: bytes | None = None
        if json is not None and data is None:
            body = json_module.dumps(json, allow_nan=False).encode("utf-8")
            _default_header(headers, "Content-Type", "application/json")
        elif isinstance(data, (dict, list, tuple)):
            body = urllib.parse.urlencode(data, doseq=True).encode("utf-8")
            _default_header(headers, "Content-Type", "application/x-www-form-urlencoded")
        elif isinstance(data, str):
            body = data.encode("utf-8")
        elif data is not None:
            body = bytes(data)
        if isinstance(timeout, (tuple, list)):
            timeout = float(sum(timeout))
        if max_bytes is None and "download_max_bytes" not in self.config:
            max_bytes = _N6_MAX_BYTES
        try:
            return self.download_response(
                url,
                method=method.upper(),
                data=body,
                retries=retries,
                timeout=timeout,
                custom_request_headers=headers,
                max_bytes=max_bytes,
            ).body
        except DownloadError as error:
            raise as_requests_error(error) from None

    def download_text(self, url: str, **kwargs: Any) -> str:
        """The body of `url` as text (the charset it declares, else UTF-8)."""
        body = self.download(url, **kwargs)
        response = self.http_response
        charset = (response.headers.get_content_charset() if response else None) or "utf-8"
        return body.decode(charset, "replace")


def _default_header(headers: dict[str, str], name: str, value: str) -> None:
    if not any(key.lower() == name.lower() for key in headers):
        headers[name] = value


_REQUESTS_ERRORS: dict[str, Any] = {}  # requests' class -> one that is a DownloadError too


def as_requests_error(error: DownloadError) -> DownloadError:
    """`error` as the exception `requests` would raise, if it is installed; else `error`."""
    try:
        import requests
    except ImportError:
        return error
    if not _REQUESTS_ERRORS:
        for name, base in (
            ("HTTPError", requests.HTTPError),
            ("Timeout", requests.Timeout),
            ("ConnectionError", requests.ConnectionError),
        ):
            _REQUESTS_ERRORS[name] = type(name, (base, DownloadError), {"__module__": __name__})
    response = None
    if error.status is not None:
        kind = "HTTPError"
        response = requests.Response()
        response.status_code = error.status
        response.url = error.url
        response._content = b""
        for header, value in (error.headers or {}).items():
            response.headers[header] = value
    elif error.timed_out:
        kind = "Timeout"
    else:
        kind = "ConnectionError"
    translated: DownloadError = _REQUESTS_ERRORS[kind](str(error), response=response)
    translated.url, translated.status = error.url, error.status
    translated.headers, translated.retryable = error.headers, error.retryable
    translated.timed_out = error.timed_out
    return translated
