"""examples/time_ordered_blocklist.py: a CSV blocklist served whole, newest first.

The recipe runs as a real process against the demo feed's
`/cookbook/blocklist.csv`, which holds `#` comment lines and rows with no id
column, newest first. What the guide promises of it: the first run publishes
every row, later runs only the new ones, rows that share the newest time each
once and in the file's order, nothing when nothing is new; the body is the
rows, oldest first, joined by line breaks, with no comment line and no header;
and a time written with another offset is the same time.
"""

from __future__ import annotations

import urllib.request

import pytest

from tests.support.cookbook import Recipe, served_cookbook

SOURCE = "/cookbook/blocklist.csv"


def post(server, path: str) -> None:
    with urllib.request.urlopen(urllib.request.Request(server.url + path, method="POST")):
        pass


def rows_of(ran) -> list[list[str]]:
    return [message.body.decode().split("\n") for message in ran.messages]


def test_each_row_of_a_whole_newest_first_file_is_published_once(tmp_path):
    with served_cookbook(history=12) as server:
        with urllib.request.urlopen(server.url + SOURCE) as answer:
            served = answer.read().decode().splitlines()
        assert served[:3] == [
            "# Demo blocklist, newest first",
            "# first_seen,host,severity",
            "2026-11-27T20:11:00Z,host-12.example.net,low",
        ]
        recipe = Recipe("time_ordered_blocklist", "BlocklistCollector", tmp_path, server)

        first = recipe.run()
        assert first.returncode == 0, first
        (body,) = rows_of(first)
        assert body == sorted(served[2:]), "every row, oldest first, no comment line"
        assert first.messages[0].properties["content_type"] == "text/csv"
        assert first.messages[0].routing_key == "blocklist-collector.blocklist"

        post(server, "/add?count=3")
        assert rows_of(recipe.run()) == [
            [
                f"2026-11-27T20:{12 + n}:00Z,host-{13 + n}.example.net,{s}"
                for n, s in enumerate(["medium", "high", "low"])
            ]
        ]

        post(server, "/add?count=2&same_time=1")  # two rows at one new time
        third = recipe.run()
        assert rows_of(third) == [
            [
                "2026-11-27T20:15:00Z,host-17.example.net,high",  # the file's order:
                "2026-11-27T20:15:00Z,host-16.example.net,medium",  # newest first
            ]
        ]
        state = recipe.state()["state"]
        assert state["newest_row_time"] == "2026-11-27T20:15:00Z"
        assert len(state["newest_rows"]) == 2 and state["rows_count"] == 17
        stamp = recipe.state_stamp()

        nothing_new = recipe.run()
        assert nothing_new.returncode == 0, nothing_new
        assert nothing_new.messages == []
        assert "ok: nothing new to publish; state unchanged" in nothing_new.summary
        assert recipe.state_stamp() == stamp


def test_a_time_with_another_offset_is_the_same_time():
    from time_ordered_blocklist import BlocklistCollector

    clean = BlocklistCollector.clean_row_time
    assert clean(None, "2026-11-27T21:00:00+01:00") == "2026-11-27T20:00:00Z"
    assert clean(None, "2026-11-27T20:00:00Z") == "2026-11-27T20:00:00Z"
    with pytest.raises(ValueError, match="has no time zone"):
        clean(None, "2026-11-27T20:00:00")
