"""examples/seen_window.py: a source with no order, a seen-window that stays flat.

The recipe runs as a real process against the demo feed's
`/cookbook/unordered.json` (a list in no order, on the source's own clock):
a first run, a run after the list changed within the window (only the new
entries; one that left and came back is not published again), a run whose
source fails (state untouched), and a run after the clock passed the window
(every entry still listed is published once more, as the page says).

The state's size is computed with the recipe's own `select_unseen()` over a
source that lists each entry for three days and adds a hundred a day: after
1,000 and after 100,000 entries it holds the same number of keys.
"""

from __future__ import annotations

import datetime
import json
import urllib.request

from seen_window import select_unseen

from tests.support.cookbook import Recipe, served_cookbook

SNAPSHOT = "/cookbook/unordered.json"
PER_DAY = 100
LISTED_DAYS = 3
WINDOW = datetime.timedelta(days=7)


def post(server, path: str) -> None:
    with urllib.request.urlopen(urllib.request.Request(server.url + path, method="POST")):
        pass


def urls_in(ran) -> list[list[str]]:
    return [[entry["url"].split("//")[1].split(".")[0] for entry in body] for body in ran.bodies()]


def test_runs_within_and_past_the_window(tmp_path):
    with served_cookbook() as server:
        recipe = Recipe("seen_window", "SeenWindowCollector", tmp_path, server)
        first = recipe.run()
        assert first.returncode == 0, first
        assert urls_in(first) == [[f"login-{n}" for n in range(1, 6)]]  # sorted, one message
        assert {m.routing_key for m in first.messages} == {"seen-window.urls"}
        seen = recipe.state()["seen"]
        assert set(seen.values()) == {"2026-11-27T20:00:00Z"} and len(seen) == 5

        post(server, "/cookbook/unordered/change?add=2&remove=1&hours=24")
        post(server, "/cookbook/unordered/change?add=0&back=1&hours=24")  # login-1 is back
        second = recipe.run()
        assert second.returncode == 0, second
        assert urls_in(second) == [["login-6", "login-7"]]
        stamp = recipe.state_stamp()

        server.cookbook.faults.add(SNAPSHOT, status=500, count=4, retry_after=0)
        failed = recipe.run()
        assert failed.returncode == 1 and failed.messages == []
        assert recipe.state_stamp() == stamp

        post(server, "/cookbook/unordered/change?add=0&hours=150")  # 8 days after the first
        third = recipe.run()
        assert third.returncode == 0, third
        # First seen 8 days ago, forgotten, still listed: published once more. Those
        # first seen 6 days ago are still remembered.
        assert urls_in(third) == [[f"login-{n}" for n in range(1, 6)]]
        seen = recipe.state()["seen"]
        assert seen["https://login-6.phish.example/"] == "2026-11-29T20:00:00Z"
        assert seen["https://login-1.phish.example/"] == "2026-12-06T02:00:00Z"
        assert len(seen) == 7


def state_after(items: int) -> tuple[int, int]:
    """Keys and JSON bytes of the state after `items` entries went through the source."""
    start = datetime.datetime(2026, 11, 27, 20, tzinfo=datetime.UTC)
    seen: dict[str, str] = {}
    listed: list[dict[str, str]] = []
    for day in range(items // PER_DAY):
        now = (start + datetime.timedelta(days=day)).strftime("%Y-%m-%dT%H:%M:%SZ")
        new = [{"url": f"https://login-{day * PER_DAY + n}.phish.example/"} for n in range(PER_DAY)]
        listed = (listed + new)[-LISTED_DAYS * PER_DAY :]
        _, seen = select_unseen(listed, seen, now, WINDOW)
    return len(seen), len(json.dumps({"seen": seen}))


def test_the_state_stays_flat_as_history_grows(summary):
    small_keys, small = state_after(1_000)
    large_keys, large = state_after(100_000)
    line = (
        f"seen window: state after 1,000 items: {small_keys} keys, {small:,} bytes; after "
        f"100,000 items: {large_keys} keys, {large:,} bytes (window 7 days, {PER_DAY} new "
        f"items a day, each listed {LISTED_DAYS} days)"
    )
    print(line)
    summary(line)
    assert small_keys == large_keys == 7 * PER_DAY, line
    assert large < small * 1.1, line  # longer URLs, the same number of them
