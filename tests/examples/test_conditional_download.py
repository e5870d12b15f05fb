"""examples/conditional_download.py: a blocklist published whole, only when it changed.

Runs it as a real process against the demo feed's `/cookbook/blocklist.txt`:
the first run publishes the file, a second run gets `304` and publishes
nothing, leaving the state file as it was; a changed file is published whole;
with the source failing (`500`), the run fails with one line and the state
stays as it was; a server that sends the same bytes under a new `ETag`
publishes nothing.
"""

from __future__ import annotations

import json
import urllib.request

from tests.support.cookbook import Recipe, served_cookbook

BLOCKLIST = "/cookbook/blocklist.txt"


def blocklist_text(server) -> bytes:
    with urllib.request.urlopen(server.url + BLOCKLIST) as answer:
        return answer.read()


def post(server, path: str) -> bytes:
    request = urllib.request.Request(server.url + path, method="POST")
    with urllib.request.urlopen(request) as answer:
        return answer.read()


def test_published_whole_when_changed_and_not_at_all_when_not(tmp_path, summary):
    with served_cookbook() as server:
        recipe = Recipe("conditional_download", "BlocklistCollector", tmp_path, server)
        sources = server.cookbook
        first_file = blocklist_text(server)

        first = recipe.run()
        assert first.returncode == 0, first
        assert [m.body for m in first.messages] == [first_file]
        (message,) = first.messages
        assert message.routing_key == "conditional-download.blocklist"
        assert message.properties["type"] == "blacklist"
        assert message.properties["content_type"] == "text/plain"
        assert message.properties["headers"] == {
            "meta": {"http_last_modified": "2026-11-27 20:00:00"}
        }
        state = recipe.state()
        assert set(state) == {"etag", "last_modified", "sha256"}
        assert state["last_modified"] == "Fri, 27 Nov 2026 20:00:00 GMT"
        stamp = recipe.state_stamp()

        second = recipe.run()  # nothing changed: 304
        assert second.returncode == 0, second
        assert second.messages == []
        assert "ok: nothing new to publish; state unchanged in" in second.summary
        rewritten = int(recipe.state_stamp() != stamp)  # not even rewritten

        sources.faults.add(BLOCKLIST, status=500, count=4, retry_after=0)  # 1 + 3 retries
        failed = recipe.run()
        assert failed.returncode == 1
        assert len(failed.stderr.splitlines()) == 4  # three retry warnings, one summary
        assert "the server answered 500 Internal Server Error (4 attempts" in failed.summary
        assert "nothing published; state not saved" in failed.summary
        assert failed.messages == []
        rewritten += recipe.state_stamp() != stamp

        post(server, "/cookbook/blocklist/change?add=2&remove=1")
        changed_file = blocklist_text(server)
        third = recipe.run()
        assert third.returncode == 0, third
        assert [m.body for m in third.messages] == [changed_file]  # whole, not a diff
        assert recipe.state()["last_modified"] == "Fri, 27 Nov 2026 21:00:00 GMT"

        stamp = recipe.state_stamp()
        fourth = recipe.run()
        assert fourth.returncode == 0, fourth
        rewritten += recipe.state_stamp() != stamp
        runs = [first, second, failed, third, fourth]
        not_modified = sum(1 for run in runs if run.returncode == 0 and not run.messages)
        requests = sources.requests[BLOCKLIST] - 2  # the two made by this test
        published = len(recipe.all_messages())
    line = (
        f"conditional download: runs: {len(runs)}, requests: {requests}, published: "
        f"{published} (the whole file, each time it changed), 304s: {not_modified}, state "
        f"rewritten by a 304 or a 500: {rewritten}"
    )
    print(line)
    summary(line)
    assert (published, not_modified, rewritten, requests) == (2, 2, 0, 8), line


def test_the_same_bytes_under_a_new_etag_publish_nothing(tmp_path):
    with served_cookbook() as server:
        recipe = Recipe("conditional_download", "BlocklistCollector", tmp_path, server)
        assert recipe.run().returncode == 0
        state = recipe.state()
        # A server that forgot its validators (a new machine behind a load balancer):
        forgotten = {"etag": '"another"', "last_modified": None, "sha256": state["sha256"]}
        recipe.state_file.write_text(json.dumps(forgotten))
        again = recipe.run()
        assert again.returncode == 0, again
        assert again.messages == []
        assert recipe.state() == state  # the server's validators again, same digest
