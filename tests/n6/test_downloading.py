"""`download()` as n6 4.40's collectors call it, against a real local HTTP server.

`method=`, `data=` (a dict is form-encoded, as `requests` sends it) and
`json=`; a failure raises the exception `requests` would (which is also the
library's `DownloadError`), or `DownloadError` where `requests` is missing;
`_http_last_modified` is n6's name of `http_last_modified`.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from stateful_collectors.errors import DownloadError
from stateful_collectors.n6 import BaseDownloadingCollector, BaseSimpleCollector


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, str, dict[str, str], bytes]]

    def log_message(self, *args):
        pass

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.seen.append((self.command, self.path, dict(self.headers), body))
        if self.path == "/slow":
            time.sleep(2)
        status = int(self.path[1:]) if self.path[1:].isdigit() else 200
        data = b"answer"
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=iso-8859-2")
        self.send_header("Last-Modified", "Fri, 27 Nov 2026 20:00:00 GMT")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = _handle


@pytest.fixture
def server() -> Iterator[tuple[str, list]]:
    seen: list = []
    handler = type("Handler", (_Handler,), {"seen": seen})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    httpd.shutdown()
    httpd.server_close()


class Downloader(BaseDownloadingCollector, BaseSimpleCollector):
    raw_type = "stream"

    def get_source(self, **processed_data):
        return "example.downloads"


def downloader(extra: str = "") -> Downloader:
    return Downloader(config_text=f"[Downloader]\ndownload_retries = 0\n{extra}")


def test_a_post_with_form_data_as_requests_sends_it(server):
    base, seen = server
    assert (
        downloader().download(method="POST", url=f"{base}/form", data={"urlid": "7", "x": "a b"})
        == b"answer"
    )
    method, path, headers, body = seen[-1]
    assert (method, path, body) == ("POST", "/form", b"urlid=7&x=a+b")
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"


def test_a_post_with_json_and_headers_merged_with_base_request_headers(server):
    base, seen = server
    collector = downloader("base_request_headers = {'User-Agent': 'n6-like', 'X-Key': 'base'}\n")
    collector.download(
        method="post", url=f"{base}/json", json={"page": 1}, custom_request_headers={"x-key": "own"}
    )
    method, _, sent, body = seen[-1]
    headers = {name.lower(): value for name, value in sent.items()}
    assert (method, json.loads(body)) == ("POST", {"page": 1})
    assert headers["content-type"] == "application/json"
    assert (headers["user-agent"], headers["x-key"]) == ("n6-like", "own")


def test_download_text_and_the_last_modified_header_in_the_messages_meta(server):
    base, _ = server
    collector = downloader()
    assert collector.download_text(url=f"{base}/text") == "answer"
    assert collector._http_last_modified.isoformat() == "2026-11-27T20:00:00+00:00"
    properties = collector.get_output_prop_kwargs(source="example.downloads", output_data_body=b"")
    assert properties["headers"] == {"meta": {"http_last_modified": "2026-11-27 20:00:00"}}
    collector._http_last_modified = None  # what n6's MISP collector does after a download
    properties = collector.get_output_prop_kwargs(source="example.downloads", output_data_body=b"")
    assert properties["headers"] == {}


@pytest.mark.parametrize("status", [404, 503])
def test_an_error_status_is_requests_http_error_with_its_response(server, status):
    base, _ = server
    with pytest.raises(requests.HTTPError) as caught:
        downloader().download(f"{base}/{status}")
    assert caught.value.response.status_code == status
    assert isinstance(caught.value, DownloadError) and caught.value.status == status
    assert f"{base}/{status}: the server answered {status}" in str(caught.value)


def test_a_refused_connection_is_requests_connection_error():
    import socket

    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(requests.ConnectionError) as caught:
        downloader().download(f"http://127.0.0.1:{port}/")
    assert isinstance(caught.value, DownloadError)
    assert not isinstance(caught.value, requests.HTTPError)


def test_a_download_too_slow_is_requests_timeout(server):
    base, _ = server
    with pytest.raises(requests.Timeout) as caught:
        downloader("download_timeout = 0.3\n").download(f"{base}/slow")
    assert "did not finish within 0.3 s" in str(caught.value)


def test_without_requests_a_failure_is_the_librarys_download_error(server, monkeypatch):
    base, _ = server
    monkeypatch.setitem(
        sys.modules, "requests", None
    )  # `import requests` fails as if not installed
    with pytest.raises(DownloadError) as caught:
        downloader().download(f"{base}/404")
    assert type(caught.value) is DownloadError


def test_a_run_fails_with_one_line_on_a_download_error_the_collector_does_not_catch(tmp_path):
    from tests.n6 import sources
    from tests.support import clean_env
    from tests.support.processes import run_cli

    with sources.serving() as (base, _):
        config = tmp_path / "c.conf"
        config.write_text(
            f"[EntriesApiCollector]\nurl = {base}/api/entries\ntoken = wrong\n"
            f"state_dir = {tmp_path / 'state'}\n\n[outbox]\npath = {tmp_path / 'o.jsonl'}\n"
        )
        result = run_cli(
            "run",
            "tests.n6.shaped:EntriesApiCollector",
            "--config",
            str(config),
            env=clean_env(HOME=str(tmp_path)),
        )
    assert result.returncode == 1
    assert result.stderr_lines[-1:] == [
        f"EntriesApiCollector: failed: {base}/api/entries: the server answered 401 Unauthorized; "
        "check the credentials the collector sends (not retried); nothing published; state not "
        "saved (the next run starts from the previous state)"
    ]
